"""The operator's drill-down into an alert's failures: counts by reason, the subscribers behind one
reason (masked endpoints, paginated by subscriber id), and "retry these".

The reasons come from the failover history (``dispatcher.history``): every subscriber that gave up
on a channel has "<channel>:<reason>" appended there, whichever path moved it (a failed send, a
failed or missing receipt). A retry puts the subscribers behind a reason that nothing reached
(state ``failed``) back on their chain as ``queued`` and reopens their shards: the shard job sends
them through the same stages as any retry, on the reason's channel if their chain still has it,
else on the channel they ended on (a pruned endpoint is out of the chain, so the next one serves).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subscribers import columns as C

from . import keys
from .delivery import State, states

#: Most subscribers one page of the drill-down lists.
MAX_PAGE = 500


@dataclass(frozen=True)
class Failure:
    channel: str
    reason: str
    count: int


def failures(counters: dict[str, int]) -> list[Failure]:
    """Failures by (channel, reason) from an alert's counters ("reason:<channel>:<reason>"), most first."""
    out = []
    for k, v in counters.items():
        if k.startswith("reason:") and v > 0:
            channel, _, reason = k[7:].partition(":")
            out.append(Failure(channel, reason, int(v)))
    return sorted(out, key=lambda f: (-f.count, f.channel, f.reason))


def mask(channel: str, endpoint: str) -> str:
    """An endpoint an operator may see: never a whole phone number, token or subscription."""
    if not endpoint:
        return ""
    if channel in ("sms", "smpp"):
        digits = endpoint.lstrip("+")
        return ("+" if endpoint.startswith("+") else "") + digits[:5] + "*" * max(0, len(digits) - 7) + digits[-2:]
    if channel == "webpush":
        return "subscription …" + str(len(endpoint)) + " bytes"
    return endpoint[:4] + "…" + endpoint[-2:] if len(endpoint) > 8 else "…"


def _behind(raw: dict, wanted: str) -> np.ndarray:
    """Offsets whose reasons hold ``wanted`` ("<channel>:<reason>"), sorted."""
    offs = [int(k) for k, v in raw.items() if wanted in v.decode().split(",")]
    return np.array(sorted(offs), dtype=np.int64)


async def subscribers_behind(redis, alert_id: int, channel: str, reason: str, *, size: int, nshards: int,
                             cursor: int = 0, limit: int = 100) -> tuple[list[dict], int | None]:
    """One page of the subscribers that failed over from ``channel`` for ``reason``, from subscriber id
    ``cursor`` on; returns (rows, next cursor or None)."""
    wanted, out = f"{channel}:{reason}", []
    shard = cursor // size
    while shard < nshards and len(out) < limit:
        offs = _behind(await redis.hgetall(keys.failure_reasons(shard, alert_id)), wanted)
        offs = offs[offs + shard * size >= cursor][: limit - len(out)]
        if len(offs):
            out.extend(await _rows(redis, alert_id, shard, size, channel, offs))
        shard += 1
    nxt = out[-1]["subscriber_id"] + 1 if len(out) == limit else None
    return out, nxt


async def _rows(redis, alert_id: int, shard: int, size: int, channel: str, offs: np.ndarray) -> list[dict]:
    pipe = redis.pipeline(transaction=False)
    pipe.get(keys.delivery_state(shard, alert_id))
    pipe.get(keys.delivery_channel(shard, alert_id))
    pipe.hmget(keys.failure_reasons(shard, alert_id), offs.tolist())
    pipe.hmget(keys.endpoints(shard, channel), offs.tolist())
    raw_state, raw_used, why, eps = await pipe.execute()
    st, used = states(raw_state, size), states(raw_used, size)
    rows = []
    for o, w, ep in zip(offs.tolist(), why, eps):
        rows.append({"subscriber_id": shard * size + o, "state": State(int(st[o])).label,
                     "channel": C.CHANNEL_NAMES.get(int(used[o])), "reasons": (w or b"").decode().split(","),
                     "endpoint": mask(channel, (ep or b"").decode()) or None})
    return rows


async def retry(engine, alert_id: int, channel: str, reason: str, only: set[int] | None = None) -> dict:
    """Queue again the subscribers behind (channel, reason) (or those of them in ``only``); reopen
    their shards. Returns {"retried": n, "skipped": {state: n}}."""
    size, wanted = engine.size, f"{channel}:{reason}"
    retried, skipped = 0, {}
    for shard in range(await engine.subscribers.shard_count()):
        offs = _behind(await engine.redis.hgetall(keys.failure_reasons(shard, alert_id)), wanted)
        if only is not None:
            offs = offs[np.isin(offs + shard * size, list(only))]
        if not len(offs):
            continue
        moved = await _requeue(engine, alert_id, shard, channel, offs)
        st = states(await engine.redis.get(keys.delivery_state(shard, alert_id)), size)
        for o in np.setdiff1d(offs, moved).tolist():
            label = State(int(st[o])).label
            skipped[label] = skipped.get(label, 0) + 1
        if len(moved):
            retried += len(moved)
            await engine.redis.hincrby(keys.counters(alert_id), "all:retried", len(moved))
            await engine.reopen(alert_id, shard)
    return {"retried": retried, "skipped": skipped}


#: States a retry takes subscribers from: nothing reached them, or a later channel did (in-app,
#: which may not wake a phone) and nobody has read it yet.
RETRYABLE = (State.FAILED, State.SENT, State.DELIVERED)


async def _requeue(engine, alert_id: int, shard: int, channel: str, offs: np.ndarray) -> np.ndarray:
    """→ queued: on ``channel`` where the chain still has it (unless that channel reached them after
    all), else — for those nothing reached — on the channel each one ended on."""
    cid = C.CHANNEL_IDS.get(channel, 0)
    pipe = engine.redis.pipeline(transaction=False)
    pipe.get(keys.column(shard, C.CHAIN.name))
    pipe.get(keys.delivery_channel(shard, alert_id))
    raw_chain, raw_used = await pipe.execute()
    chain = C.decode(C.CHAIN, raw_chain, engine.size)[offs]
    used = states(raw_used, engine.size)[offs]
    has = np.zeros(len(offs), dtype=bool)
    for i in range(C.MAX_CHAIN):
        has |= ((chain >> (4 * i)) & 0xF) == cid
    again = has & (used != cid)
    moved = []
    for group, channel_id, allowed in ((offs[again], cid, RETRYABLE), (offs[~has], 0, (State.FAILED,))):
        if len(group):
            moved.append(await engine.transitions.apply(engine.redis, shard, alert_id, State.QUEUED, group,
                                                        channel_id=channel_id, allowed=allowed))
    return np.concatenate(moved) if moved else np.zeros(0, dtype=np.int64)

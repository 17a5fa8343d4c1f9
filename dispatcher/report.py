"""Tables for people: delivery stats per channel with latency percentiles."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.table import Table

from subscribers.store import SubscriberStore

from . import keys
from .delivery import REACHED, State, states

#: Final states of someone who was in the audience (not suppressed by their preferences).
TARGETED_ONCE = tuple(s for s in State if s not in (State.NONE, State.SUPPRESSED))

COLS = ("targeted", "sent", "delivered", "read", "confirmed", "failover", "failed", "suppressed")


def _ms(v) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def stats_table(stats: dict, title: str = "deliveries") -> Table:
    t = Table(title=title)
    t.add_column("channel")
    for c in COLS:
        t.add_column(c, justify="right")
    for p in ("p50", "p95", "p99"):
        t.add_column(f"{p} sent ms", justify="right")
    lat = stats["latency_ms"]
    for ch, row in stats["channels"].items():
        if ch == "webhook":
            continue
        l = lat.get(f"{ch}:sent", {})
        t.add_row(ch, *(f"{row.get(c, 0):,}" for c in COLS), *(_ms(l.get(p)) for p in ("p50", "p95", "p99")))
    tot = stats["totals"]
    t.add_row("all", *(f"{tot.get(c, 0):,}" for c in COLS), *(_ms(lat["sent"].get(p)) for p in ("p50", "p95", "p99")),
              style="bold")
    return t


@dataclass
class Reach:
    """Where an alert's audience ended: reached (delivered, or accepted, on the last channel tried)
    and the subscribers every channel of whose chain failed, with the channels tried."""

    targeted: int
    reached: int
    failed: dict[int, list[str]]
    pending: int


async def reach(redis, alert_id: int, shard_size: int) -> Reach:
    """Read the final delivery state of every subscriber of the alert, shard by shard."""
    nshards = await SubscriberStore(redis, shard_size).shard_count()
    targeted = reached = pending = 0
    failed: dict[int, list[str]] = {}
    for shard in range(nshards):
        pipe = redis.pipeline(transaction=False)
        pipe.get(keys.delivery_state(shard, alert_id))
        pipe.hgetall(keys.failed_channels(shard, alert_id))
        raw, history = await pipe.execute()
        st = states(raw, shard_size)
        targeted += int(np.isin(st, TARGETED_ONCE).sum())
        reached += int(np.isin(st, REACHED).sum())
        pending += int(np.isin(st, (State.TARGETED, State.QUEUED, State.FAILOVER, State.SENDING)).sum())
        for off in np.flatnonzero(st == State.FAILED).tolist():
            tried = history.get(str(off).encode(), b"").decode()
            failed[shard * shard_size + off] = [t for t in tried.split(",") if t]
    return Reach(targeted, reached, failed, pending)


def reach_lines(r: Reach, show: int = 20) -> list[str]:
    """What a person reads: reached of targeted, and who failed every channel."""
    out = [f"reached {r.reached:,} of {r.targeted:,} (delivered or accepted on the last channel tried)"]
    if r.pending:
        out.append(f"{r.pending:,} still pending")
    if r.failed:
        names = ", ".join(f"{sid} (tried {'/'.join(t) or 'none'})" for sid, t in list(r.failed.items())[:show])
        more = f" and {len(r.failed) - show:,} more" if len(r.failed) > show else ""
        out.append(f"failed on every channel: {len(r.failed):,}: {names}{more}")
    return out

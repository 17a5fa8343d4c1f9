"""Delivery of Private alerts: exactly the addressed subscribers, never an area's audience.

CAP's ``addresses`` is a space-separated list; each decimal token is a subscriber id. An Update
also reaches everyone the alerts it amends reached (a household's members hear that the alarm
was escalated or cleared). An alarm (Extreme or Severe) goes out on every channel each addressee
has at once — in-app, push and SMS together, not one after the other; other Private alerts go on
the first channel of the addressee's chain that is enabled here.

The audience is a handful of people, so state lives in one small hash per alert
(``keys.addressed``: subscriber id → delivery state, "<id>:ch" → channels it went out on) rather
than in per-shard strings. Acknowledgements (POST /api/v1/receipts) move it forward, never back.

Alerts queue up and are delivered in batches: one read of every addressee of the batch, one
write of their states, the sends of all of them concurrently.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Callable

import orjson

from channels.base import Outcome

from . import keys
from .alerts import STOPPED, AlertRecord, Lifecycle
from .circuit import Permit
from .alerts_many import finish_many
from .delivery import REACHED, State, count
from .lua import Lua
from .metrics import timed_send

log = logging.getLogger(__name__)
ALARM = ("Extreme", "Severe")

#: Forward-only state changes: KEYS[1] = hash; ARGV = field, state, field, state, …; a state moves
#: only to a later one (CONFIRMED > READ > DELIVERED > SENT > TARGETED), FAILED only from TARGETED.
#: Returns the fields that changed.
ADVANCE = """
local changed = {}
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  local new = tonumber(ARGV[i + 1])
  local fwd = (new >= 4 and new <= 7 and (cur < new or cur == 8) and cur ~= 0) or (new == 1 and cur == 0)
              or (new == 8 and cur == 1)
  if fwd then
    redis.call('HSET', KEYS[1], ARGV[i], new)
    changed[#changed + 1] = ARGV[i]
  end
end
return changed
"""


def addressee_ids(addresses: list[str]) -> list[int]:
    """The subscriber ids among a CAP alert's addresses (decimal tokens), in order, once each."""
    seen: dict[int, None] = {}
    for a in addresses:
        if a.isascii() and a.isdigit() and len(a) <= 12:
            seen.setdefault(int(a), None)
    return list(seen)


#: An escalation contact reached by a plain number: texted directly, named in ``addresses`` by its
#: place in its household (never by the number). Honoured only in alerts of the sensor organisation.
CONTACT_TOKEN = re.compile(r"household-([0-9]{1,12})-contact-([0-9]{1,2})")


def contact_tokens(addresses: list[str]) -> list[tuple[str, int, int]]:
    return [(a, int(m.group(1)), int(m.group(2))) for a in addresses if (m := CONTACT_TOKEN.fullmatch(a))]


def is_alarm(rec: AlertRecord) -> bool:
    return rec.alert.severity() in ALARM


async def states_of(redis, alert_id: int, sids: list[int]) -> dict[int, int]:
    """The delivery state of each of these addressees (0 for none)."""
    raw = await redis.hmget(keys.addressed(alert_id), sids) if sids else []
    return {s: int(r) if r is not None else 0 for s, r in zip(sids, raw)}


async def reached_by(redis, alert_ids: list[int]) -> list[int]:
    """Subscribers the given Private alerts reached."""
    pipe = redis.pipeline(transaction=False)
    for a in alert_ids:
        pipe.hgetall(keys.addressed(a))
    out: set[int] = set()
    for found in await pipe.execute() if alert_ids else []:
        out.update(int(k) for k, v in found.items() if k.isdigit() and int(v) in REACHED)
    return sorted(out)


async def deliveries(redis, alert_id: int, wanted: str | None = None) -> list[dict]:
    """Each addressee's state and the channels it went out on (the deliveries listing of a Private alert)."""
    found = {k.decode(): v.decode() for k, v in (await redis.hgetall(keys.addressed(alert_id))).items()}
    out = []
    for k in sorted((k for k in found if k.isdigit()), key=int):
        label = State(int(found[k])).label
        if wanted is None or wanted.lower() == label:
            chans = found.get(f"{k}:ch", "")
            out.append({"subscriber_id": int(k), "state": label, "channel": chans.split(",")[0] or None,
                        "tried": chans.split(",") if chans else []})
    return out


class PrivateDelivery:
    """Queues Private alerts and delivers them in batches (one per serve process)."""

    def __init__(self, engine, batch_max: int = 250, batches_in_flight: int = 8,
                 clock: Callable[[], float] = time.time):
        self.engine, self.redis, self.batch_max, self.clock = engine, engine.redis, batch_max, clock
        self.batches_in_flight = batches_in_flight
        self._advance = Lua(self.redis, ADVANCE)
        self._queue: list[AlertRecord] = []
        #: Alerts this process has queued or is delivering (the restart sweep leaves them alone).
        self.pending: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        #: Called with (alert id, subscriber ids, channel) after each accepted send (benchmarks, demo).
        self.on_sent: Callable[[int, list[int], str], None] | None = None

    async def advance(self, alert_id: int, changes: dict[str, int]) -> list[str]:
        if not changes:
            return []
        args = [x for k, v in changes.items() for x in (k, int(v))]
        return [c.decode() if isinstance(c, bytes) else c
                for c in await self._advance(keys=[keys.addressed(alert_id)], args=args)]

    def start(self, rec: AlertRecord) -> None:
        """Queue an accepted Private alert."""
        self._queue.append(rec)
        self.pending.add(rec.id)
        self.idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def drain(self) -> None:
        """Until everything queued so far was delivered (tests, the demo)."""
        while not self.idle.is_set():
            await self.idle.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        """Batches side by side (up to ``batches_in_flight``): a slow provider in one batch never holds
        back the first sends of the next."""
        running: set[asyncio.Task] = set()
        while self._queue or running:
            while self._queue and len(running) < self.batches_in_flight:
                batch, self._queue = self._queue[:self.batch_max], self._queue[self.batch_max:]
                running.add(asyncio.ensure_future(self._one_batch(batch)))
            self._wake.clear()
            waker = asyncio.ensure_future(self._wake.wait())      # a new alert starts at once if there is room
            done, _ = await asyncio.wait(running | {waker}, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            running -= done
        self.idle.set()

    async def _one_batch(self, batch: list[AlertRecord]) -> None:
        try:
            # taken now: other processes' restart sweeps leave them alone for their grace period
            await self.redis.zadd(keys.PRIVATE_PENDING, {r.id: self.clock() for r in batch}, xx=True)
            await self.deliver_many(batch)
        except Exception:
            log.exception("delivering %d Private alerts failed; they stay pending and are retried", len(batch))
        finally:
            self.pending.difference_update(r.id for r in batch)

    async def numbers(self, rec: AlertRecord) -> dict[str, str]:
        """Address token → phone number of the plain-number escalation contacts an alert names."""
        tokens = contact_tokens(rec.alert.addresses) if rec.org == self.engine.settings.sensor_org else []
        if not tokens:
            return {}
        found = await self.redis.hmget(keys.HOUSEHOLDS, sorted({h for _, h, _ in tokens}))
        contacts = {h["id"]: h["contacts"] for h in (orjson.loads(r) for r in found if r is not None)}
        return {t: contacts[h][i]["sms"] for t, h, i in tokens
                if i < len(contacts.get(h, [])) and contacts[h][i].get("sms")}

    async def _live(self, recs: list[AlertRecord]) -> list[AlertRecord]:
        """Those still to send: one cancelled, superseded or expired while queued is dropped."""
        pipe = self.redis.pipeline(transaction=False)
        for rec in recs:
            pipe.hget(keys.alert(rec.id), "lifecycle")
        now, live = await pipe.execute(), []
        for rec, raw in zip(recs, now):
            if raw is None or Lifecycle(raw.decode()) in STOPPED:
                await self.redis.zrem(keys.PRIVATE_PENDING, rec.id)
            else:
                live.append(rec)
        return live

    async def deliver_many(self, recs: list[AlertRecord]) -> None:
        """One batch: every addressee read at once, states written at once, all sends concurrently."""
        batch = [(rec, await self.numbers(rec)) for rec in await self._live(recs)]
        audiences = [addressee_ids(rec.alert.addresses) + await reached_by(self.redis, rec.amends) for rec, _ in batch]
        everyone = sorted({s for a in audiences for s in a})
        subs = await self.engine.subscribers.get_many(everyone)
        pipe = self.redis.pipeline(transaction=False)
        for (rec, _), sids in zip(batch, audiences):
            found = [s for s in dict.fromkeys(sids) if s in subs]
            self._advance.queue(pipe, [keys.addressed(rec.id)], [x for s in found for x in (str(s), int(State.TARGETED))])
            count(pipe, rec.id, "all", State.TARGETED, len(found))
            pipe.hset(keys.alert(rec.id), mapping={"targeted": len(found), "planned": 1})
        await pipe.execute()
        sent = await asyncio.gather(*(self._deliver(rec, [subs[s] for s in dict.fromkeys(sids) if s in subs], numbers)
                                      for (rec, numbers), sids in zip(batch, audiences)))
        await self._record([rec for rec, _ in batch], sent)

    async def _deliver(self, rec: AlertRecord, subs: list, numbers: dict[str, str]) -> dict[int, list[str]]:
        """Every addressee's channels at once (the first only, unless an alarm); the channels each went out on."""
        groups: dict[tuple[str, str], list] = {}
        for sub in subs:
            chain = [c for c in sub.channels if c in self.engine.channels and (c == "inapp" or c in sub.endpoints)]
            for ch in chain if is_alarm(rec) else chain[:1]:
                groups.setdefault((ch, sub.language), []).append(sub)
        sent: dict[int, list[str]] = {s.id: [] for s in subs}
        results = await asyncio.gather(*(self._send(rec, ch, lang, members) for (ch, lang), members in groups.items()))
        for (ch, _), ok in zip(groups, results):
            for sid in ok:
                sent[sid].append(ch)
        if numbers and "sms" in self.engine.channels:
            await self._text_numbers(rec, numbers)
        return sent

    async def _send(self, rec: AlertRecord, channel: str, lang: str, members: list) -> list[int]:
        """One channel's send to some addressees, retried while the provider asks to; the ids it accepted."""
        via = self.engine.via(channel)
        notice = self.engine.renderer.notice(rec, channel, lang)
        ids = [m.id for m in members]
        eps = [m.endpoints.get(channel, "") for m in members]
        if via.guarded and await self.engine.guard.admit(via.adapter, len(ids)) is Permit.DENIED:
            return []
        accepted: list[int] = []
        for attempt in range(self.engine.settings.attempts_for(channel)):
            answers = await timed_send(via.adapter, notice, ids, eps)
            accepted += [i for i, a in zip(ids, answers) if a.outcome is Outcome.ACCEPTED]
            retry = [k for k, a in enumerate(answers) if a.outcome is Outcome.RETRY]
            if not retry:
                break
            ids, eps = [ids[k] for k in retry], [eps[k] for k in retry]
            await asyncio.sleep(min(2.0, 0.1 * 2 ** attempt))
        if accepted and self.on_sent is not None:
            self.on_sent(rec.id, accepted, channel)
        return accepted

    async def _text_numbers(self, rec: AlertRecord, numbers: dict[str, str]) -> None:
        """Plain numbers (a building manager's, a community office's): one SMS each, in Chinese;
        their state is kept under the address token, never the number."""
        via = self.engine.via("sms")
        notice = self.engine.renderer.notice(rec, "sms", "zh-CN")
        tokens = list(numbers)
        answers = await timed_send(via.adapter, notice, [0] * len(tokens), [numbers[t] for t in tokens])
        ok = [t for t, a in zip(tokens, answers) if a.outcome is Outcome.ACCEPTED]
        await self.advance(rec.id, {t: State.TARGETED for t in tokens})
        await self.advance(rec.id, {t: State.SENT for t in ok})
        pipe = self.redis.pipeline(transaction=False)
        count(pipe, rec.id, "sms", State.SENT, len(ok), (self.clock() - rec.accepted_at) * 1000)
        await pipe.execute()

    async def _record(self, recs: list[AlertRecord], sents: list[dict[int, list[str]]]) -> None:
        """The batch's states, channels and counters in one MULTI; then each alert is done."""
        pipe = self.redis.pipeline(transaction=True)
        for rec, sent in zip(recs, sents):
            self._queue_record(pipe, rec, sent)
        await pipe.execute()
        await finish_many(self.engine.alerts, [r.id for r in recs])

    def _queue_record(self, pipe, rec: AlertRecord, sent: dict[int, list[str]]) -> None:
        changes = {str(s): (State.SENT if chans else State.FAILED) for s, chans in sent.items()}
        latency_ms = (self.clock() - rec.accepted_at) * 1000
        if changes:
            self._advance.queue(pipe, [keys.addressed(rec.id)], [x for k, v in changes.items() for x in (k, int(v))])
        by_channel: dict[str, int] = {}
        for s, chans in sent.items():
            if chans:
                pipe.hset(keys.addressed(rec.id), f"{s}:ch", ",".join(chans))
            for c in chans:
                by_channel[c] = by_channel.get(c, 0) + 1
        for c, n in by_channel.items():
            count(pipe, rec.id, c, State.SENT, n, latency_ms)
        count(pipe, rec.id, "all", State.FAILED, sum(1 for c in sent.values() if not c))
        pipe.zrem(keys.PRIVATE_PENDING, rec.id)

    async def acknowledge(self, rec: AlertRecord, sid: int, state: State) -> tuple[int, bool]:
        """A device's receipt for a Private alert: (the state now, whether it moved)."""
        moved = await self.advance(rec.id, {str(sid): state})
        if moved:
            pipe = self.redis.pipeline(transaction=False)
            chans = await self.redis.hget(keys.addressed(rec.id), f"{sid}:ch")
            count(pipe, rec.id, (chans or b"inapp").decode().split(",")[0], state, 1,
                  (self.clock() - rec.accepted_at) * 1000)
            await pipe.execute()
        return (await states_of(self.redis, rec.id, [sid]))[sid], bool(moved)

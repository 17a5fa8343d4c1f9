"""Seeing what the chaos scenarios did, from the outside: ledgers, the in-app tap, delivery states.

* ``counting_faults`` gives a simulator ``Faults`` that also remember which accepted
  messages had their answer stalled (``accept_then_stall_rate``): the only sends a
  client may rightly repeat.
* ``InappTap`` records in-app sends: by wrapping the in-process adapter (exact time of
  each publish) or, for worker processes, from the Redis pub/sub channel.
* ``Observer.measure`` turns the simulators' ledgers and the tap into per-subscriber
  counts for an alert: targeted (from the delivery states), delivered, duplicates,
  failed with warncast's own ``reason:<channel>:<reason>`` counters.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from channels.inapp import unpack
from dispatcher import keys
from dispatcher.delivery import State, states
from loadtest.simulators.base import Faults


class StallRate(float):
    """A float the stall knob holds, told apart by identity from the other rates."""


def counting_faults(faults: Faults | None) -> Faults:
    f = faults or Faults()
    f.__class__ = CountingFaults
    f.setup()
    return f


class CountingFaults(Faults):
    """Faults that record the messages accepted in a request whose answer was then stalled.

    Both simulators decide the stall right after recording the request's messages, with no
    await in between: the HMS simulator in ``stall()`` (its messages are the ledger's tail
    sharing one request id), the SMS gateway after its results loop (its messages are those
    recorded since its ``drop_rate`` draw)."""

    def setup(self) -> None:
        self.accept_then_stall_rate = StallRate(self.accept_then_stall_rate)
        self.ledger = None
        self.stalled: list[tuple[str, str, str]] = []     # (alert, recipient, message id)
        self.stalled_requests = 0
        self.injected: Counter = Counter()                  # transient faults handed out, by kind
        self._mark = 0

    def pick_error(self) -> str | None:
        code = super().pick_error()
        if code is not None:
            self.injected[code] += 1
        return code

    def chance(self, rate: float) -> bool:
        hit = super().chance(rate)
        if type(rate) is StallRate:
            if hit and self.ledger is not None:
                self._count_stall()
        elif rate is self.drop_rate:
            if hit:
                self.injected["drop"] += 1
            if self.ledger is not None:
                self._mark = len(self.ledger.entries)
        return hit

    def _count_stall(self) -> None:
        entries = self.ledger.entries
        self.stalled_requests += 1
        if not entries:
            return
        if ":" in entries[-1].message_id:                      # HMS: "<request id>:<i>"
            rid = entries[-1].message_id.rsplit(":", 1)[0] + ":"
            tail = []
            for e in reversed(entries):
                if not e.message_id.startswith(rid):
                    break
                tail.append(e)
        else:                                                  # SMS gateway
            tail = entries[self._mark:]
        self.stalled.extend((e.alert_id, e.recipient, e.message_id) for e in tail)


def attach(sim) -> None:
    if isinstance(sim.faults, CountingFaults):
        sim.faults.ledger = sim.ledger


@dataclass
class InappSend:
    alert_id: int
    ids: np.ndarray
    t: float


class InappTap:
    """Every in-app send, with its time."""

    def __init__(self, store):
        self.store = store
        self.sends: list[InappSend] = []
        self._task: asyncio.Task | None = None

    def record(self, alert_id: int, ids: np.ndarray, t: float | None = None) -> None:
        self.sends.append(InappSend(int(alert_id), np.asarray(ids, dtype=np.int64).copy(), t or time.time()))

    def hook(self, channel) -> None:
        """Wrap an in-process in-app adapter: each send is recorded once its publish returned."""
        original = channel.send_columns

        async def send_columns(notice, subscriber_ids, endpoints):
            results = await original(notice, subscriber_ids, endpoints)
            self.record(notice.alert_id, np.asarray(subscriber_ids, dtype=np.int64))
            return results
        channel.send_columns = send_columns

    async def start(self) -> None:
        """No-op; ``listen`` taps the pub/sub channel (for sends made by other processes)."""

    async def listen(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.ensure_future(self._listen(ready))
        await asyncio.wait_for(ready.wait(), 10)

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            client = self.store.aio(max_connections=2)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.INAPP_CHANNEL)
                ready.set()
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None:
                        alert_id, ids = unpack(msg["data"])
                        self.record(alert_id, ids)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def count(self, alert_id: int) -> int:
        return sum(len(s.ids) for s in self.sends if s.alert_id == alert_id)

    def ids(self, alert_id: int, after: float | None = None) -> np.ndarray:
        parts = [s.ids for s in self.sends if s.alert_id == alert_id and (after is None or s.t > after)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def first_t(self, alert_id: int) -> float | None:
        ts = [s.t for s in self.sends if s.alert_id == alert_id]
        return min(ts) if ts else None


@dataclass
class Measure:
    alert_id: int
    targeted: np.ndarray                        #: subscriber ids in the audience
    per_channel: dict[str, np.ndarray]          #: accepted sends per channel, as subscriber ids (repeats kept)
    final: dict[str, int]                       #: final delivery states of the targeted, by label
    reasons: dict[str, int]
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def all_sends(self) -> np.ndarray:
        return np.concatenate(list(self.per_channel.values()))

    def reach_counts(self, n: int) -> np.ndarray:
        return np.bincount(self.all_sends, minlength=n) if len(self.all_sends) else np.zeros(n, dtype=np.int64)

    def reached(self) -> set[int]:
        return set(np.unique(self.all_sends).tolist())

    def delivered(self, n: int) -> int:
        return int((self.reach_counts(n)[self.targeted] > 0).sum())

    def duplicates(self, n: int) -> int:
        """Sends beyond the first per subscriber, over every channel (a failover after an accepted
        send counts too)."""
        c = self.reach_counts(n)
        return int(np.maximum(c - 1, 0).sum())

    def ledger_duplicates(self) -> dict[str, int]:
        """Per channel: sends beyond the first per (alert, subscriber) within that channel."""
        out = {}
        for ch, ids in self.per_channel.items():
            out[ch] = int(len(ids) - len(np.unique(ids)))
        return out

    def by_channel(self) -> dict[str, int]:
        return {ch: int(len(np.unique(ids))) for ch, ids in self.per_channel.items()}

    def failed(self) -> int:
        return self.final.get("failed", 0)


class Observer:
    def __init__(self, stage):
        self.stage = stage
        self._hms: dict[str, int] | None = None
        self._sms: dict[str, int] | None = None

    def endpoint_maps(self) -> tuple[dict[str, int], dict[str, int]]:
        if self._hms is None:
            self._hms, self._sms = {}, {}
            for s in self.stage.subs:
                if "hms" in s.endpoints:
                    self._hms[s.endpoints["hms"]] = s.id
                if "sms" in s.endpoints:
                    self._sms[s.endpoints["sms"]] = s.id
        return self._hms, self._sms

    def ids_of(self, channel: str, recipients) -> np.ndarray:
        hms, sms = self.endpoint_maps()
        m = hms if channel == "hms" else sms
        return np.fromiter((m.get(r, -1) for r in recipients), dtype=np.int64)

    def ledger_ids(self, channel: str, alert_id: int, after: float | None = None,
                   before: float | None = None) -> np.ndarray:
        sim = self.stage.hms if channel == "hms" else self.stage.sms
        a = str(alert_id)
        recips = [e.recipient for e in sim.ledger.entries
                  if e.alert_id == a and (after is None or e.t > after) and (before is None or e.t <= before)]
        return self.ids_of(channel, recips)

    async def delivery_states(self, alert_id: int) -> np.ndarray:
        """Every subscriber's state for the alert, indexed by subscriber id."""
        size = self.stage.settings.shard_size
        nshards = (self.stage.n + size - 1) // size
        pipe = self.stage.redis.pipeline(transaction=False)
        for shard in range(nshards):
            pipe.get(keys.delivery_state(shard, alert_id))
        raws = await pipe.execute()
        return np.concatenate([states(r, size) for r in raws])[:self.stage.n]

    async def measure(self, alert_id: int) -> Measure:
        st = await self.delivery_states(alert_id)
        targeted = np.flatnonzero((st != State.NONE) & (st != State.SUPPRESSED))
        per_channel = {"hms": self.ledger_ids("hms", alert_id), "sms": self.ledger_ids("sms", alert_id),
                       "inapp": self.stage.tap.ids(alert_id)}
        final = {State(int(v)).label: int(c) for v, c in zip(*np.unique(st[targeted], return_counts=True))}
        raw = await self.stage.redis.hgetall(keys.counters(alert_id))
        counters = {k.decode(): int(v) for k, v in raw.items()}
        reasons = {k: v for k, v in counters.items() if k.startswith("reason:")}
        return Measure(alert_id, targeted, per_channel, final, reasons, counters)

    def fill(self, out, *ms: Measure) -> None:
        """The outcome's table columns, summed over the scenario's alerts."""
        n = self.stage.n
        out.targeted = sum(int(len(m.targeted)) for m in ms)
        out.delivered = sum(m.delivered(n) for m in ms)
        out.failed = sum(m.failed() for m in ms)
        reasons: Counter = Counter()
        for m in ms:
            reasons.update(m.reasons)
        out.failed_reasons = dict(reasons)
        out.duplicates = sum(m.duplicates(n) for m in ms)
        for m in ms:
            out.details.setdefault("alerts", {})[str(m.alert_id)] = {
                "targeted": int(len(m.targeted)), "delivered": m.delivered(n), "duplicates": m.duplicates(n),
                "by_channel": m.by_channel(), "ledger_duplicates": m.ledger_duplicates(),
                "final_states": m.final, "reasons": m.reasons,
                "stray": int(len(set(np.unique(m.all_sends).tolist()) - set(m.targeted.tolist()))),
            }


def collapse_keys_of_duplicates(ledger, alert_id: int) -> dict[str, Any]:
    """For each recipient with more than one accepted message of the alert: do they share one collapse key?"""
    a = str(alert_id)
    keys_by: dict[str, set[str]] = {}
    counts: Counter = Counter()
    for e in ledger.entries:
        if e.alert_id == a:
            counts[e.recipient] += 1
            keys_by.setdefault(e.recipient, set()).add(e.collapse_key)
    dup = [r for r, c in counts.items() if c > 1]
    same = [r for r in dup if len(keys_by[r]) == 1 and "" not in keys_by[r]]
    return {"recipients_duplicated": len(dup), "same_collapse_key": len(same),
            "collapse_keys": sorted({k for r in dup for k in keys_by[r]})[:3]}

"""Lifecycle control: the one place that supersedes, cancels, expires, finishes and reopens alerts.

Every lifecycle move is one compare-and-set in Redis (``AlertStore.set_lifecycle``
with the ``LIFECYCLE_FROM`` table; ``FINISH`` below for the last shard): a job
finishing its shard can never turn a concurrent ``cancelled`` into ``done``.

What an Update or a Cancel does to the alerts it references:

- only ``Update`` and ``Cancel`` amend (an ``Alert`` with references keeps them as metadata);
- only alerts its issuer may amend (checked at intake through ``auth.may_amend``);
- a Test or Exercise message never changes the lifecycle of an Actual one;
- the referenced alert's lifecycle flips at once (its jobs stop at their next batch), so the
  answer to the POST means "no new sends"; marking its pending subscribers, dropping its retries
  and waiting for batches in flight to be recorded happen in the background, before the amending
  alert is planned (so a Cancel reaches everyone those batches reached).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

import numpy as np

from . import keys
from .alerts import AlertRecord, AlertStore, Lifecycle
from .delivery import State, Transitions, count, states
from .lua import Lua

log = logging.getLogger(__name__)

#: KEYS: the alert's hash, its set of unfinished shards. Moves sending → done when the plan is
#: complete and no shard is left, in one step. Returns 1 when it moved.
FINISH = """
if redis.call('SCARD', KEYS[2]) ~= 0 then return 0 end
if not redis.call('HGET', KEYS[1], 'planned') then return 0 end
if redis.call('HGET', KEYS[1], 'lifecycle') ~= 'sending' then return 0 end
redis.call('HSET', KEYS[1], 'lifecycle', 'done')
return 1
"""
AMENDS = {"Update": Lifecycle.SUPERSEDED, "Cancel": Lifecycle.CANCELLED}


def amendment(rec: AlertRecord, referenced: AlertRecord) -> Lifecycle | None:
    """What ``rec`` does to an alert it references: supersede, cancel, or nothing."""
    stop_as = AMENDS.get(rec.alert.msg_type)
    if stop_as is None or referenced.id not in rec.amends:
        return None
    if referenced.alert.status == "Actual" and rec.alert.status != "Actual":
        return None                  # a Test or Exercise never touches a real warning
    return stop_as


class LifecycleControl:
    def __init__(self, redis, alerts: AlertStore, transitions: Transitions, shard_size: int, lease_s: float,
                 shard_count: Callable[[], Awaitable[int]]):
        self.redis = redis
        self.alerts = alerts
        self.transitions = transitions
        self.size = shard_size
        self.lease_s = lease_s
        self.shard_count = shard_count
        self._finish = Lua(redis, FINISH)

    async def amend_referenced(self, rec: AlertRecord, by: str) -> list[tuple[int, Lifecycle]]:
        """Flip the lifecycle of every alert ``rec`` supersedes or cancels (one step each, no waiting).
        Returns what it flipped (or found already flipped): (alert id, lifecycle)."""
        out = []
        for ref in rec.amends:
            referenced = await self.alerts.get(ref)
            stop_as = amendment(rec, referenced)
            if stop_as is None:
                continue
            await self.alerts.set_lifecycle(ref, stop_as, by=by)
            out.append((ref, stop_as))
        return out

    async def stop(self, alert_id: int, lifecycle: Lifecycle, by: str) -> int:
        """Cancel / supersede / expire an alert: no further sends (running jobs stop within one
        batch), pending ones marked, its retries dropped, batches in flight recorded (bounded)."""
        await self.alerts.set_lifecycle(alert_id, lifecycle, by=by)
        state = State.EXPIRED if lifecycle is Lifecycle.EXPIRED else State.CANCELLED
        nshards = await self.shard_count()
        total = 0
        for shard in range(nshards):
            total += await self.stop_shard(alert_id, shard, state)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.alert_shards(alert_id))
        pipe.srem(keys.FANOUT_PENDING, alert_id)
        for shard in range(nshards):
            pipe.zrem(keys.RETRY_SCHEDULE, f"{alert_id}:{shard}")
        await pipe.execute()
        if not await self.settled(alert_id, nshards):
            log.warning("alert %s: shard jobs still held their leases %.0f s after it was %s",
                        alert_id, 2 * self.lease_s, lifecycle.value)
        return total

    async def stop_shard(self, alert_id: int, shard: int, state: State) -> int:
        """Move every pending subscriber of one shard to ``cancelled`` / ``expired``."""
        st = states(await self.redis.get(keys.delivery_state(shard, alert_id)), self.size)
        pending = np.flatnonzero(np.isin(st, [State.TARGETED, State.QUEUED, State.FAILOVER]))
        moved = await self.transitions.apply(self.redis, shard, alert_id, state, pending)
        if len(moved):
            pipe = self.redis.pipeline(transaction=False)
            count(pipe, alert_id, "all", state, len(moved))
            await pipe.execute()
        return len(moved)

    async def settled(self, alert_id: int, nshards: int, timeout_s: float | None = None) -> bool:
        """Wait until no shard job of the alert holds its lease: batches in flight when it was stopped
        have been recorded. Bounded by twice the lease, which a dead worker's job loses."""
        deadline = time.monotonic() + (2 * self.lease_s if timeout_s is None else timeout_s)
        while time.monotonic() < deadline:
            pipe = self.redis.pipeline(transaction=False)
            for shard in range(nshards):
                pipe.exists(keys.shard_lease(shard, alert_id))
            if not any(await pipe.execute()):
                return True
            await asyncio.sleep(0.02)
        return False

    async def finish_shard(self, alert_id: int, shard: int) -> None:
        await self.redis.srem(keys.alert_shards(alert_id), shard)
        await self.finish_if_done(alert_id)

    async def finish_if_done(self, alert_id: int) -> bool:
        """Sending → done once planned and no shard is left; never over a cancel (one step)."""
        if not await self._finish(keys=[keys.alert(alert_id), keys.alert_shards(alert_id)], args=[]):
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(keys.FANOUT_PENDING, alert_id)
        pipe.xadd(keys.AUDIT, {"action": Lifecycle.DONE.value, "alert": alert_id, "by": "system",
                               "t": repr(time.time())}, maxlen=100_000, approximate=True)
        await pipe.execute()
        self.alerts.forget_lifecycle(alert_id, Lifecycle.DONE)
        return True

    async def reopen(self, alert_id: int, shard: int) -> bool:
        """A done alert's shard goes again (late receipts made some subscribers fail over); a stopped
        alert stays stopped. Returns whether the shard should be queued."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(keys.alert_shards(alert_id), shard)
        pipe.sadd(keys.FANOUT_PENDING, alert_id)
        await pipe.execute()
        await self.alerts.set_lifecycle(alert_id, Lifecycle.SENDING, by="receipt-failover",
                                        only_from=(Lifecycle.DONE,))
        return await self.alerts.lifecycle(alert_id) is Lifecycle.SENDING

"""Planning: an alert cut into shard jobs.

The planner first stops what the alert supersedes or cancels (``dispatcher.lifecycle``),
builds the alert's target once (in a worker thread, or inline for a small Immediate one: ``inline``), then resolves each shard's
audience and writes it as that shard's delivery-state string (``targeted`` /
``suppressed`` bytes) in one SET NX, so a re-plan after a crash changes nothing,
and hands the shard to the job runner. The first job starts after the first
shard is planned. Webhook forwarding runs beside it (``dispatcher.forwarding``).
"""
from __future__ import annotations

import asyncio

import numpy as np

from . import keys
from .alerts import LANES, AlertRecord, Lifecycle, fans_out
from .delivery import State, count
from .forwarding import forward_to_webhooks
from .lifecycle import amendment
from .groups import group_of
from .targeting import Target, resolve_shard, small_area, target_for

SET_IF_ABSENT = "return redis.call('SET', KEYS[1], ARGV[1], 'NX') and 1 or 0"


async def restricted_group(redis, rec: AlertRecord) -> np.ndarray:
    """The subscribers of the group a Restricted alert's ``restriction`` names (none if it names none)."""
    name = group_of(rec.alert.restriction)
    members = await redis.smembers(keys.group(name)) if name else set()
    return np.array(sorted(int(m) for m in members), dtype=np.int64)


class Planning:
    """The planner's part of the engine (``dispatcher.fanout.Engine`` composes it)."""

    def target(self, rec: AlertRecord) -> Target:
        if rec.id not in self._targets:
            self._targets[rec.id] = target_for(rec)
        return self._targets[rec.id]

    async def plan(self, alert_id: int) -> int:
        """Resolve every shard's audience, record it, and submit one job per shard with audience.

        Returns the number of subscribers targeted. Safe to call again after a crash."""
        rec = await self.alerts.get(alert_id)
        if rec.lifecycle is not Lifecycle.SENDING or not fans_out(rec.alert):
            return 0
        if rec.alert.scope == "Private":         # its addressees only: dispatcher.private_delivery
            await self.redis.srem(keys.FANOUT_PENDING, alert_id)
            return 0
        await self.redis.sadd(keys.FANOUT_PENDING, alert_id)
        await self._amend(rec)
        inline = self.inline(rec)
        target = self.target(rec) if inline else await asyncio.to_thread(self.target, rec)
        if rec.alert.scope == "Restricted":
            target.only = await restricted_group(self.redis, rec)
        nshards = await self.subscribers.shard_count()
        webhook = (asyncio.ensure_future(forward_to_webhooks(self.redis, self.channels["webhook"], self.renderer, rec,
                                                             self.settings.webhook_language))
                   if "webhook" in self.channels and rec.alert.scope == "Public" else None)
        total = 0
        for shard in range(nshards):        # shard by shard: the first job starts after the first shard
            if not target.skips(shard, self.size):
                total += await self._plan_shard(rec, target, shard, inline)
        await self.redis.hset(keys.alert(alert_id), mapping={"planned": 1})
        if webhook:
            await webhook
        await self._finish_if_done(alert_id)
        return total

    async def _amend(self, rec: AlertRecord) -> None:
        """Stop what this alert supersedes or cancels, and let their batches in flight be recorded,
        before planning it (idempotent: a re-plan after a crash does it again harmlessly)."""
        for ref in rec.amends:
            stop_as = amendment(rec, await self.alerts.get(ref))
            if stop_as is not None:
                await self.stop(ref, stop_as, by=rec.issuer)

    @staticmethod
    def inline(rec: AlertRecord) -> bool:
        """Target and match on the event loop? Only an Immediate alert with a small area: then each step
        is a few milliseconds of numpy, while a worker thread would wait for the GIL in 5 ms slices
        behind a loop busy with a running fan-out, then for the loop to take its answer (hundreds of
        milliseconds before a red alert's first send). Anything larger (thousands of geocodes,
        polygons) goes to worker threads: no alert can stall the API."""
        return rec.lane == LANES[0] and small_area(rec)

    async def _plan_shard(self, rec: AlertRecord, target: Target, shard: int, inline: bool = False) -> int:
        targeted, suppressed = await resolve_shard(self.redis, shard, target, self.size, self.clock(),
                                                   inline=inline)
        if len(targeted) == 0 and len(suppressed) == 0:
            return 0
        st = np.zeros(self.size, dtype=np.uint8)
        st[suppressed] = State.SUPPRESSED
        st[targeted] = State.TARGETED
        created = await self._set_if_absent(keys=[keys.delivery_state(shard, rec.id)], args=[st.tobytes()])
        pipe = self.redis.pipeline(transaction=False)
        if created:
            count(pipe, rec.id, "all", State.TARGETED, len(targeted))
            count(pipe, rec.id, "all", State.SUPPRESSED, len(suppressed))
            pipe.hincrby(keys.alert(rec.id), "targeted", len(targeted))
        if len(targeted):
            pipe.sadd(keys.alert_shards(rec.id), shard)
        await pipe.execute()
        if len(targeted):
            await self.enqueue(rec.id, shard, rec.lane)
        return len(targeted)

    async def enqueue(self, alert_id: int, shard: int, lane: str, hold_s: float | None = None) -> None:
        """Hand a shard job to the runner and mark it queued, so the reaper leaves it alone.
        With ``hold_s`` the job is only marked (it waits on the retry schedule that long)."""
        ttl = int(hold_s + 60) if hold_s is not None else 86_400
        await self.redis.set(keys.shard_queued(shard, alert_id), 1, ex=ttl)
        if hold_s is None and self.submit is not None:
            r = self.submit(alert_id, shard, lane)
            if asyncio.iscoroutine(r):
                await r

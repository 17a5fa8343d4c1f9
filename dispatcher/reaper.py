"""Housekeeping every worker runs every few seconds; idempotent, so any number may run at once.

- shard jobs pending but neither queued nor held (their worker died) go back in the queue;
- alerts whose planning was interrupted are planned again;
- alerts past their expiry with sends pending are expired;
- retries on the schedule that are due are queued;
- Severe and Extreme sends with no receipt after the channel's ``receipt_timeout_s`` fail over.
"""
from __future__ import annotations

import logging

import numpy as np

from subscribers import columns as C

from . import keys
from .alerts import Lifecycle
from .delivery import State, count, states
from .via import has_next
from .errors import NotFound

log = logging.getLogger(__name__)


async def reap(engine) -> int:
    """One pass; returns how many shard jobs it queued."""
    queued = await _due_retries(engine)
    queued += await _overdue_receipts(engine)
    queued += await _lost_jobs(engine)
    return queued


async def _lost_jobs(engine) -> int:
    redis, requeued = engine.redis, 0
    for raw in await redis.smembers(keys.FANOUT_PENDING):
        alert_id = int(raw)
        try:
            rec = await engine.alerts.get(alert_id)
        except NotFound:
            log.warning("alert %s is pending a fan-out but is gone; dropping it", alert_id)
            await redis.srem(keys.FANOUT_PENDING, alert_id)
            continue
        if rec.lifecycle is Lifecycle.SENDING and rec.expires_at is not None and engine.clock() >= rec.expires_at:
            await engine.stop(alert_id, Lifecycle.EXPIRED, by="expiry")
            continue
        pipe = redis.pipeline(transaction=False)
        pipe.hget(keys.alert(alert_id), "planned")
        pipe.smembers(keys.alert_shards(alert_id))
        planned, shards = await pipe.execute()
        if not planned:
            if engine.clock() - rec.accepted_at > engine.settings.lease_s:
                await engine.plan(alert_id)
            continue
        shards = sorted(int(x) for x in shards)
        pipe = redis.pipeline(transaction=False)
        for shard in shards:
            pipe.exists(keys.shard_lease(shard, alert_id))
            pipe.exists(keys.shard_queued(shard, alert_id))
        found = await pipe.execute()
        for i, shard in enumerate(shards):
            if not found[2 * i] and not found[2 * i + 1]:
                log.warning("shard job (alert %s, shard %s) was lost; queueing it again", alert_id, shard)
                await engine.enqueue(alert_id, shard, rec.lane)
                requeued += 1
    return requeued


async def _due(redis, key: str, now: float) -> list[bytes]:
    """Members due by now, each taken by exactly one caller (ZREM decides)."""
    mine = []
    for member in await redis.zrangebyscore(key, "-inf", now):
        if await redis.zrem(key, member):
            mine.append(member)
    return mine


async def _due_retries(engine) -> int:
    n = 0
    for member in await _due(engine.redis, keys.RETRY_SCHEDULE, engine.clock()):
        alert_id, shard = (int(x) for x in member.split(b":"))
        rec = await engine.alerts.get(alert_id)
        await engine.enqueue(alert_id, shard, rec.lane)
        n += 1
    return n


async def _overdue_receipts(engine) -> int:
    n = 0
    for member in await _due(engine.redis, keys.RECEIPT_CHECKS, engine.clock()):
        alert_id, shard, cid = (int(x) for x in member.split(b":"))
        rec = await engine.alerts.get(alert_id)
        if rec.lifecycle in (Lifecycle.CANCELLED, Lifecycle.SUPERSEDED, Lifecycle.EXPIRED):
            continue
        pipe = engine.redis.pipeline(transaction=False)
        pipe.get(keys.delivery_state(shard, alert_id))
        pipe.get(keys.delivery_channel(shard, alert_id))
        pipe.get(keys.column(shard, C.CHAIN.name))
        raw_state, raw_used, raw_chain = await pipe.execute()
        st, used = states(raw_state, engine.size), states(raw_used, engine.size)
        chain = C.decode(C.CHAIN, raw_chain, engine.size)
        silent = np.flatnonzero((st == State.SENT) & (used == cid) & has_next(chain, used))
        moved = await engine.transitions.apply(engine.redis, shard, alert_id, State.FAILOVER, silent,
                                               allowed=(State.SENT,))
        if len(moved):
            name = C.CHANNEL_NAMES.get(cid, "unknown")
            pipe = engine.redis.pipeline(transaction=False)
            count(pipe, alert_id, name, State.FAILOVER, len(moved))
            pipe.hincrby(keys.counters(alert_id), f"reason:{name}:receipt_timeout", len(moved))
            engine.history.queue(pipe, shard, alert_id, name, moved, "receipt_timeout")
            await pipe.execute()
            await engine.reopen(alert_id, shard)
            n += 1
    return n

"""Shard-job leases: one holder per (alert, shard) at a time, renewed every batch, taken over by
another worker when its holder dies and the lease runs out."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from . import keys
from .lua import Lua

log = logging.getLogger(__name__)

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases:
    def __init__(self, redis, lease_s: float):
        self.redis = redis
        self.ms = int(lease_s * 1000)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = Lua(redis, RENEW)
        self._release = Lua(redis, RELEASE)

    async def acquire(self, shard: int, alert_id: int) -> str | None:
        """Take the lease; returns this holding's token (unique per acquisition, so two jobs of one
        process never renew or release each other's lease), or None when another holds it."""
        token = f"{self.owner}:{uuid.uuid4().hex[:8]}"
        return token if await self.redis.set(keys.shard_lease(shard, alert_id), token, nx=True, px=self.ms) else None

    def renew(self, pipe, shard: int, alert_id: int, token: str) -> None:
        """Queue a renewal in a pipeline; its reply is 1 while we hold the lease, 0 once it is lost."""
        self._renew.queue(pipe, [keys.shard_lease(shard, alert_id)], [token, self.ms])

    async def keep(self, shard: int, alert_id: int, token: str) -> None:
        """Renew the lease every third of its length for as long as the job runs (the caller cancels
        this when the job ends); returns once the lease is no longer ours. Waits that outlast the
        lease (a provider quota, a slow provider) keep it; a dead holder's lease runs out."""
        while True:
            await asyncio.sleep(self.ms / 3000)
            try:
                if not await self._renew(keys=[keys.shard_lease(shard, alert_id)], args=[token, self.ms]):
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:    # Redis unreachable for now: the batches will notice; try again
                log.warning("renewing the lease of (alert %s, shard %s) failed: %s; trying again",
                            alert_id, shard, exc.__class__.__name__)
                continue

    async def release(self, shard: int, alert_id: int, token: str) -> None:
        await self._release([keys.shard_lease(shard, alert_id)], [token])

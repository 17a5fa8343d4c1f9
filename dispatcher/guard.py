"""The provider guard every send passes: a circuit breaker and a rate limit per provider, both shared
by every worker through Redis (``dispatcher.circuit``, ``dispatcher.ratelimit``)."""
from __future__ import annotations

import asyncio

from channels.base import Channel

from .circuit import Circuits, Permit
from .ratelimit import RateLimiter


class RedisGuard:
    def __init__(self, redis, *, rate_limits: dict[str, int] | None = None, circuits: Circuits | None = None,
                 limiter: RateLimiter | None = None):
        self.circuits = circuits or Circuits(redis)
        self.limiter = limiter or RateLimiter(redis)
        #: Quota per provider (messages/s) where the operator set one; else the adapter's own.
        self.rate_limits = dict(rate_limits or {})

    async def admit(self, channel: Channel, n: int) -> Permit:
        """One round trip before a batch: the circuit's permit and a reservation of n sends, then the
        wait the quota asks for."""
        pipe = self.circuits.redis.pipeline(transaction=False)
        self.circuits.queue_permit(pipe, channel.name)
        self.limiter.queue_reserve(pipe, channel.name, n, self.rate_for(channel))
        permit, reservation = await pipe.execute()
        wait = self.limiter.wait_from(reservation)
        if wait > 0:
            await asyncio.sleep(wait)
        return Permit(permit.decode() if isinstance(permit, bytes) else permit)

    def rate_for(self, channel: Channel) -> int:
        return self.rate_limits.get(channel.name, channel.max_rate_per_s)

    def queue_record(self, pipe, channel: Channel, successes: int, failures: int, probe: bool = False) -> None:
        self.circuits.queue_record(pipe, channel.name, successes, failures, probe=probe)

    async def take(self, channel: Channel, n: int) -> None:
        """Wait until n more sends fit the provider's quota (reserved across every worker)."""
        await self.limiter.take(channel.name, n, self.rate_for(channel))



"""The provider guard every send passes: a circuit breaker and a rate limit per provider, both shared
by every worker through Redis (``dispatcher.circuit``, ``dispatcher.ratelimit``)."""
from __future__ import annotations

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

    async def permit(self, channel: Channel) -> Permit:
        """Denied while the provider's circuit is open; one caller at a time gets the half-open probe."""
        return await self.circuits.permit(channel.name)

    async def take(self, channel: Channel, n: int) -> None:
        """Wait until n more sends fit the provider's quota (reserved across every worker)."""
        await self.limiter.take(channel.name, n, self.rate_limits.get(channel.name, channel.max_rate_per_s))

    async def record(self, channel: Channel, successes: int, failures: int, probe: bool = False) -> None:
        await self.circuits.record(channel.name, successes, failures, probe=probe)

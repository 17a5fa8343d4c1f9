"""The provider guard every send passes: a circuit breaker and a rate limit per provider, both shared
by every worker through Redis (``dispatcher.circuit``, ``dispatcher.ratelimit``)."""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from channels.base import Channel

from .circuit import Circuits, Permit
from .ratelimit import RateLimiter


class RedisGuard:
    def __init__(self, redis, *, rate_limits: dict[str, int] | None = None, circuits: Circuits | None = None,
                 limiter: RateLimiter | None = None, probe_poll_s: float = 0.05,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.circuits = circuits or Circuits(redis)
        self.limiter = limiter or RateLimiter(redis)
        #: Quota per provider (messages/s) where the operator set one; else the adapter's own.
        self.rate_limits = dict(rate_limits or {})
        #: How often a batch held behind a half-open probe asks whether it has answered (s).
        self.probe_poll_s = probe_poll_s
        self.clock, self.sleep = clock, sleep

    async def admit(self, channel: Channel, n: int) -> Permit:
        """One round trip before a batch: the circuit's permit and a reservation of n sends, then the
        wait the quota asks for. Behind a half-open probe, the batch waits for the probe's answer
        (ALLOWED once it closed the circuit, DENIED if it re-opened it), at most the probe timeout."""
        pipe = self.circuits.redis.pipeline(transaction=False)
        self.circuits.queue_permit(pipe, channel.name)
        self.limiter.queue_reserve(pipe, channel.name, n, self.rate_for(channel))
        permit, reservation = await pipe.execute()
        wait = self.limiter.wait_from(reservation)
        if wait > 0:
            await self.sleep(wait)
        permit = Permit(permit.decode() if isinstance(permit, bytes) else permit)
        return await self._behind_probe(channel.name) if permit is Permit.WAIT else permit

    async def _behind_probe(self, provider: str) -> Permit:
        """Ask again until the probe has answered; past the probe timeout the batch fails over (the
        circuit hands a silent probe to the next caller, which may be this one)."""
        deadline = self.clock() + self.circuits.probe_timeout_s
        while self.clock() < deadline:
            await self.sleep(min(self.probe_poll_s, max(0.0, deadline - self.clock())))
            permit = await self.circuits.permit(provider)
            if permit is not Permit.WAIT:
                return permit
        return Permit.DENIED

    def rate_for(self, channel: Channel) -> int:
        return self.rate_limits.get(channel.name, channel.max_rate_per_s)

    def queue_record(self, pipe, channel: Channel, successes: int, failures: int, probe: bool = False) -> None:
        self.circuits.queue_record(pipe, channel.name, successes, failures, probe=probe)

    async def take(self, channel: Channel, n: int) -> None:
        """Wait until n more sends fit the provider's quota (reserved across every worker)."""
        await self.limiter.take(channel.name, n, self.rate_for(channel))



"""Provider quotas shared by every worker: a GCRA bucket per provider in Redis.

One key per provider holds its *theoretical arrival time* (TAT): the moment,
on the Redis server's clock, when the provider's quota is next free. A
reservation of ``n`` sends moves the TAT forward by ``n / rate`` in one Lua
script and tells the caller how long to wait before sending: nothing while the
bucket still holds ``burst`` sends' worth of tolerance, otherwise until the
chunk fits. The reservation is made whatever the wait, so callers in other
processes queue behind it, and the sends scheduled in any window of ``w``
seconds never exceed ``rate * w + max(burst, chunk)``.

Chunks are reserved whole (one round trip per batch, not per message). A chunk
larger than ``burst`` is allowed: on an idle bucket it waits ``(n - burst) /
rate``, behind a busy one ``n / rate`` more than the chunk before it.

Time is the server's (``TIME`` inside the script), so the clocks of different
machines do not matter. The key expires once its TAT has passed: an idle
provider leaves nothing behind.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Callable

from . import keys
from .lua import Lua

#: KEYS: TAT key. ARGV: n, µs per send, burst tolerance (µs), now in µs ("" = server time).
#: Returns {now_us, wait_us} as strings (µs since the epoch exceed what an integer reply keeps exact in Lua).
RESERVE_LUA = """
redis.replicate_commands()
local n, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), math.floor(tonumber(ARGV[3]))
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat + math.ceil(n * interval)
local at = tat - tolerance
if at < now then at = now end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return {string.format('%.0f', now), string.format('%.0f', at - now)}
"""


@dataclass(frozen=True, slots=True)
class Reservation:
    """A chunk's place in the provider's schedule, on the limiter's clock."""

    now_s: float   #: when the reservation was made
    wait_s: float  #: how long to wait before sending the chunk

    @property
    def at_s(self) -> float:
        """When the chunk may go out."""
        return self.now_s + self.wait_s


def default_burst(rate_per_s: float) -> int:
    """A tenth of a second's worth of sends, at least one."""
    return max(1, int(rate_per_s / 10))


class RateLimiter:
    """Reserves sends against a provider's quota; one instance per process is enough."""

    def __init__(self, redis, *, clock: Callable[[], float] | None = None):
        #: ``clock`` (unix seconds) replaces the Redis server's clock; for tests only.
        self.redis = redis
        self.clock = clock
        self.script = Lua(redis, RESERVE_LUA)

    async def reserve(self, provider: str, n: int, rate_per_s: float, burst: int | None = None) -> Reservation:
        """Reserve n sends and say when they may go out."""
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s!r}")
        if burst is None:
            burst = default_burst(rate_per_s)
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        if n <= 0:
            return Reservation((self.clock or time.time)(), 0.0)
        interval_us = 1e6 / rate_per_s
        now_arg = "" if self.clock is None else str(math.floor(self.clock() * 1e6))
        now_us, wait_us = await self.script(keys=[keys.rate_limit(provider)],
                                            args=[int(n), repr(interval_us), repr(burst * interval_us), now_arg])
        return Reservation(int(now_us) / 1e6, int(wait_us) / 1e6)

    def queue_reserve(self, pipe, provider: str, n: int, rate_per_s: float, burst: int | None = None) -> None:
        """``reserve`` queued in a pipeline; ``wait_from(reply)`` reads the seconds to wait."""
        burst = default_burst(rate_per_s) if burst is None else burst
        interval_us = 1e6 / rate_per_s
        now_arg = "" if self.clock is None else str(math.floor(self.clock() * 1e6))
        self.script.queue(pipe, [keys.rate_limit(provider)],
                          [int(max(n, 1)), repr(interval_us), repr(burst * interval_us), now_arg])

    @staticmethod
    def wait_from(reply) -> float:
        return int(reply[1]) / 1e6

    async def acquire(self, provider: str, n: int, rate_per_s: float, burst: int | None = None) -> float:
        """Reserve n sends; returns seconds to wait before sending them (0.0 = now).

        The reservation is made atomically in Redis whatever the wait, so concurrent callers
        in other processes queue behind it and the long-run rate never exceeds rate_per_s
        (with at most ``burst`` sends at once, default rate_per_s / 10, at least 1).
        """
        return (await self.reserve(provider, n, rate_per_s, burst)).wait_s

    async def take(self, provider: str, n: int, rate_per_s: float, burst: int | None = None) -> None:
        """Reserve n sends and sleep until they may go out."""
        wait_s = await self.acquire(provider, n, rate_per_s, burst)
        if wait_s > 0:
            await asyncio.sleep(wait_s)

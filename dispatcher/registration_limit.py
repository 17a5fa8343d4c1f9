"""Open registration is limited per client address: at most ``limit`` new subscribers in
``window_s`` seconds from one address, then 429 with Retry-After until the window ends. The
counters live in Redis, so every API process shares them."""
from __future__ import annotations

from . import keys
from .errors import TooManyRequests

#: INCR, start the window on the first registration; answer (count, seconds left).
_COUNT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if n == 1 or ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""
REFUSED = "registrations_refused"


async def count_in_window(redis, key: str, window_s: int) -> tuple[int, int]:
    """(events in the window so far, this one included; seconds until it ends)."""
    n, ttl = await redis.eval(_COUNT, 1, key, max(1, window_s))
    return int(n), int(ttl)


async def admit(redis, client: str, limit: int, window_s: int) -> None:
    """Count one registration from ``client``; TooManyRequests once it is over the limit."""
    if limit <= 0:
        return
    n, ttl = await count_in_window(redis, keys.registrations(client), window_s)
    if n > limit:
        await redis.hincrby(keys.SECURITY_COUNTERS, REFUSED, 1)
        raise TooManyRequests(f"too many registrations from this address; try again in {int(ttl)} s",
                              retry_after_s=int(ttl),
                              errors=[{"field": "client", "message": f"at most {limit} per {window_s} s"}])

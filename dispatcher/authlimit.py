"""Failed authentications are limited per client address: after ``auth_failure_burst`` failures
in ``auth_failure_window_s`` the address gets 429 (with Retry-After) for the rest of the window,
whatever it sends. The counters live in Redis, so every API process shares them.

    no failures ──401──▶ counting (window starts at the first failure)
    counting ──burst reached──▶ refused (429 until the window's key expires) ──▶ no failures
"""
from __future__ import annotations

from . import keys
from .errors import TooManyRequests


async def check(redis, client: str, burst: int) -> None:
    """TooManyRequests while the address has used up its failures."""
    if burst <= 0:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.get(keys.auth_failures(client))
    pipe.ttl(keys.auth_failures(client))
    failures, ttl = await pipe.execute()
    if failures is not None and int(failures) >= burst:
        raise TooManyRequests("too many failed authentications from this address; wait and try again",
                              retry_after_s=ttl if ttl and ttl > 0 else 1,
                              errors=[{"field": "Authorization", "message": "rate limited after failures"}])


async def failed(redis, client: str, window_s: int) -> None:
    """Count one failure; the first one starts the window."""
    await redis.eval(_COUNT, 1, keys.auth_failures(client), max(1, window_s))


#: INCR, and start the window on the first failure (or if a window lost its expiry).
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

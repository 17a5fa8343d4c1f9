"""Concurrent event streams per credential are limited: each open stream holds a slot in Redis
(a sorted set of stream ids by last heartbeat, shared by every API process); past the limit a new
stream is refused with 429. A stream whose process died stops counting once its heartbeat is stale."""
from __future__ import annotations

import secrets
import time

from . import keys
from .errors import TooManyRequests

#: A slot not refreshed for this long belongs to a stream that is gone (s).
STALE_S = 90.0

_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class StreamSlot:
    """One open stream's slot: ``take`` on connect, ``refresh`` on each heartbeat, ``release`` at the end."""

    def __init__(self, redis, who: str, limit: int):
        self.redis, self.key, self.limit = redis, keys.stream_slots(who), limit
        self.id = secrets.token_hex(8)

    async def take(self) -> None:
        if self.limit <= 0:
            return
        now = time.time()
        ok = await self.redis.eval(_TAKE, 1, self.key, now - STALE_S, now, self.limit, self.id, int(STALE_S * 2))
        if not ok:
            raise TooManyRequests(f"at most {self.limit} open event streams per credential; close one first",
                                  retry_after_s=int(STALE_S // 3),
                                  errors=[{"field": "Authorization", "message": "too many open streams"}])

    async def refresh(self) -> None:
        if self.limit > 0:
            await self.redis.zadd(self.key, {self.id: time.time()}, xx=True)

    async def release(self) -> None:
        if self.limit > 0:
            try:
                await self.redis.zrem(self.key, self.id)
            except Exception:            # Redis gone at shutdown: the slot goes stale on its own
                pass


def identity(caller) -> str:
    """The credential a stream counts against."""
    if caller.subscriber_id is not None:
        return f"sub:{caller.subscriber_id}"
    return f"key:{caller.key_id if caller.key_id is not None else caller.name}"

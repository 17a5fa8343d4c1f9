"""Replayed delivery reports change nothing: each (message id, status) is taken once, and every
repeat is counted (``receipt_replays`` in /api/v1/stats and /metrics)."""
from __future__ import annotations

import time
from typing import Sequence

from channels.base import Receipt

from . import keys

#: Reports of a day are remembered this long (a gateway re-sends within hours, not days).
REMEMBER_S = 3 * 86_400
REPLAYS = "receipt_replays"


async def first_seen(redis, receipts: Sequence[Receipt], now: float | None = None) -> tuple[list[Receipt], int]:
    """(the receipts not taken before, how many were replays); one round trip for the batch."""
    if not receipts:
        return [], 0
    day = int((now or time.time()) // 86_400)
    pipe = redis.pipeline(transaction=False)
    for r in receipts:
        field = f"{r.provider_id}:{r.status.value}"
        pipe.hexists(keys.receipt_reports(r.channel, day - 1), field)     # a replay across midnight
        pipe.hsetnx(keys.receipt_reports(r.channel, day), field, 1)
    for channel in {r.channel for r in receipts}:
        pipe.expire(keys.receipt_reports(channel, day), REMEMBER_S)
    answers = await pipe.execute()
    fresh, seen_now = [], set()
    for i, r in enumerate(receipts):
        new = answers[2 * i + 1] and not answers[2 * i]
        mark = (r.channel, r.provider_id, r.status)
        if new and mark not in seen_now:
            fresh.append(r)
            seen_now.add(mark)
    replays = len(receipts) - len(fresh)
    if replays:
        await redis.hincrby(keys.SECURITY_COUNTERS, REPLAYS, replays)
    return fresh, replays


async def counters(redis) -> dict[str, int]:
    """Every abuse and replay counter (for stats and metrics)."""
    raw = await redis.hgetall(keys.SECURITY_COUNTERS)
    return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}

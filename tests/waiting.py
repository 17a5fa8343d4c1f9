"""Waiting in tests: on a condition, polled until a deadline; never for a fixed time."""
from __future__ import annotations

import asyncio
import inspect
import time


async def until(condition, timeout_s: float = 10.0, what: str = "the condition", every_s: float = 0.01):
    """Poll ``condition`` (a plain or async callable) until it returns something true, which is returned;
    fail naming ``what`` when ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = condition()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not come about within {timeout_s} s")
        await asyncio.sleep(every_s)


async def server_time(redis) -> float:
    """The Redis server's clock (s): what circuits and leases count on."""
    sec, usec = await redis.time()
    return sec + usec / 1e6

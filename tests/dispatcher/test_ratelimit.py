"""The shared provider quota: schedules from concurrent workers, chunk arithmetic, expiry."""
from __future__ import annotations

import asyncio
import time

import pytest

from dispatcher import keys
from dispatcher.ratelimit import RateLimiter, default_burst
from tests.waiting import until


class FixedClock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def max_in_window(schedule: list[tuple[int, int]], window_us: int) -> int:
    """Most sends scheduled in any half-open window [t, t + window_us) (µs)."""
    schedule = sorted(schedule)
    best, lo, inside = 0, 0, 0
    for at, n in schedule:
        inside += n
        while schedule[lo][0] <= at - window_us:
            inside -= schedule[lo][1]
            lo += 1
        best = max(best, inside)
    return best


def test_max_in_window_counts_half_open_windows():
    schedule = [(0, 50), (50_000, 50), (100_000, 50), (100_001, 10)]
    assert max_in_window(schedule, 100_000) == 110     # [50_000, 150_000) holds 50 + 50 + 10
    assert max_in_window(schedule, 100_002) == 160


@pytest.mark.parametrize("workers,chunk,burst", [
    (2, 50, None),   # default burst: 100
    (4, 50, None),
    (3, 25, 40),
])
async def test_concurrent_workers_stay_within_quota(store, redis_aio, workers, chunk, burst):
    rate = 1000
    run_s = 0.6
    effective_burst = burst if burst is not None else default_burst(rate)
    clients = [store.aio() for _ in range(workers)]
    sec, usec = await redis_aio.time()
    end_us = sec * 1_000_000 + usec + us(run_s)
    schedule: list[tuple[int, int]] = []

    async def worker(client):
        limiter = RateLimiter(client)
        while True:
            r = await limiter.reserve("hms", chunk, rate, burst)
            at = us(r.at_s)
            if at >= end_us:
                return
            schedule.append((at, chunk))
            await asyncio.sleep(r.wait_s)

    try:
        await asyncio.gather(*(worker(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()

    times = sorted(at for at, _ in schedule)
    total = sum(n for _, n in schedule)
    span_s = (times[-1] - times[0]) / 1e6
    assert max_in_window(schedule, us(0.1)) <= rate * 0.1 + effective_burst
    assert total <= rate * span_s + effective_burst
    # the quota was used, not starved: at least half of what it allows
    assert total >= 0.5 * rate * span_s


@pytest.mark.parametrize("rate,burst,chunks,expected_at_ms", [
    (1000, None, [100], [0]),                          # a full burst goes at once
    (1000, None, [150], [50]),                         # beyond the burst: wait for the rest
    (1000, None, [300], [200]),                        # a chunk bigger than the burst waits in proportion
    (1000, None, [300, 50], [200, 250]),               # and the next one queues behind it
    (1000, None, [100, 100, 100], [0, 100, 200]),      # a drained bucket: n / rate per chunk
    (1000, 10, [50, 50], [40, 90]),
    (200, None, [20, 20, 20], [0, 100, 200]),          # default burst is a tenth of a second
    (5, None, [1, 1, 1], [0, 200, 400]),               # and at least one
    (1000, None, [0, 100], [0, 0]),                    # nothing reserved for nothing
])
async def test_chunk_schedule(redis_aio, rate, burst, chunks, expected_at_ms):
    clock = FixedClock()
    limiter = RateLimiter(redis_aio, clock=clock)
    got = [us(await limiter.acquire("sms", n, rate, burst)) for n in chunks]
    assert got == [ms * 1000 for ms in expected_at_ms]


async def test_schedule_catches_up_with_time(redis_aio):
    clock = FixedClock()
    limiter = RateLimiter(redis_aio, clock=clock)
    assert await limiter.acquire("sms", 300, 1000) == pytest.approx(0.2)
    clock.t += 0.1
    assert await limiter.acquire("sms", 50, 1000) == pytest.approx(0.15)   # behind the first chunk
    clock.t += 10                                                        # long idle: a full burst again
    assert await limiter.acquire("sms", 100, 1000) == 0.0


async def test_server_clock_big_chunk_waits_in_proportion(redis_aio):
    limiter = RateLimiter(redis_aio)
    first = await limiter.reserve("apns", 300, 1000)
    second = await limiter.reserve("apns", 100, 1000)
    assert us(first.wait_s) == us(0.2)
    assert us(second.at_s) == us(first.now_s + 0.3)   # queued behind the first chunk, on the server's clock


async def test_providers_are_independent(redis_aio):
    limiter = RateLimiter(redis_aio)
    assert await limiter.acquire("hms", 5000, 1000) > 4.8
    assert await limiter.acquire("fcm", 100, 1000) == 0.0
    assert await limiter.acquire("hms", 1, 1000) > 4.8


async def test_other_processes_queue_behind_a_reservation(store, redis_aio):
    other = store.aio()
    try:
        await RateLimiter(redis_aio).acquire("webpush", 500, 1000)
        wait_s = await RateLimiter(other).acquire("webpush", 100, 1000)
    finally:
        await other.aclose()
    assert wait_s > 0.45


async def test_take_sleeps_until_the_reservation(redis_aio):
    limiter = RateLimiter(redis_aio)
    await limiter.take("smpp", 10, 100)          # within the burst: no wait
    started = time.monotonic()
    await limiter.take("smpp", 10, 100)          # a drained bucket: 10 / 100 s
    assert time.monotonic() - started >= 0.09


@pytest.mark.parametrize("n,rate,ttl_ms", [
    (50, 1000, 51),
    (300, 1000, 301),
    (1, 10, 101),
])
async def test_idle_keys_expire(redis_aio, n, rate, ttl_ms):
    limiter = RateLimiter(redis_aio)
    await limiter.acquire("hms", n, rate)
    pttl = await redis_aio.pttl(keys.rate_limit("hms"))
    assert 0 < pttl <= ttl_ms + 1

    async def gone() -> bool:
        return not await redis_aio.exists(keys.rate_limit("hms"))
    await until(gone, what="the idle bucket expiring")
    assert await limiter.acquire("hms", default_burst(rate), rate) == 0.0   # a fresh bucket


@pytest.mark.parametrize("rate,burst", [(0, None), (-5, None), (1000, 0)])
async def test_rejects_impossible_quotas(redis_aio, rate, burst):
    with pytest.raises(ValueError):
        await RateLimiter(redis_aio).acquire("hms", 10, rate, burst)

"""Batches that ask while a half-open probe is out wait for its answer instead of failing over."""
from __future__ import annotations

import asyncio

import pytest

from channels.hms import HmsChannel
from dispatcher.circuit import Circuits, Permit
from dispatcher.guard import RedisGuard


class FakeTime:
    """One clock for the circuit and the guard. ``sleep`` moves it; when ``parking``, the sleeper
    first waits until the test lets it go (``step``)."""

    def __init__(self, t: float = 1_000_000.0, parking: bool = True):
        self.t = t
        self.parking = parking
        self.sleeping = asyncio.Event()
        self.step = asyncio.Event()

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        if self.parking:
            await self.step.wait()
            self.step.clear()
        self.t += seconds
        await asyncio.sleep(0)


async def _half_open(redis_aio, time_: FakeTime) -> tuple[RedisGuard, Circuits]:
    circuits = Circuits(redis_aio, failure_threshold=5, open_s=5, probe_timeout_s=30, clock=time_)
    guard = RedisGuard(redis_aio, circuits=circuits, rate_limits={"hms": 10**9}, probe_poll_s=0.05,
                       clock=time_, sleep=time_.sleep)
    await circuits.record("hms", 0, 5)
    time_.t += 5
    assert await guard.admit(HmsChannel, 1000) is Permit.PROBE
    return guard, circuits


async def _parked(task: asyncio.Task, time_: FakeTime) -> None:
    await asyncio.wait_for(time_.sleeping.wait(), timeout=10)
    assert not task.done()


@pytest.mark.parametrize("probe_answer, expected", [
    ((1000, 0), Permit.ALLOWED),     # the provider is back: the waiting batch goes to it
    ((0, 1000), Permit.DENIED),      # still down: the waiting batch fails over
])
async def test_a_batch_behind_the_probe_gets_the_probes_answer(redis_aio, probe_answer, expected):
    time_ = FakeTime()
    guard, circuits = await _half_open(redis_aio, time_)
    waiting = asyncio.ensure_future(guard.admit(HmsChannel, 1000))
    await _parked(waiting, time_)
    await circuits.record("hms", *probe_answer, probe=True)
    time_.step.set()
    assert await asyncio.wait_for(waiting, timeout=10) is expected


async def test_many_batches_wait_on_one_probe_and_all_follow_it(redis_aio):
    time_ = FakeTime()
    guard, circuits = await _half_open(redis_aio, time_)
    waiting = [asyncio.ensure_future(guard.admit(HmsChannel, 1000)) for _ in range(5)]
    await _parked(waiting[0], time_)
    await circuits.record("hms", 1000, 0, probe=True)
    time_.step.set()
    assert await asyncio.wait_for(asyncio.gather(*waiting), timeout=10) == [Permit.ALLOWED] * 5


async def test_a_silent_probe_bounds_the_wait_by_its_timeout(redis_aio):
    """Nobody answers: the waiting batch asks at every poll, and when the probe timeout has passed it
    becomes the next probe (the circuit's hand-over), never waiting longer than that."""
    time_ = FakeTime(parking=False)
    guard, _ = await _half_open(redis_aio, time_)
    started = time_.t
    assert await asyncio.wait_for(guard.admit(HmsChannel, 1000), timeout=60) is Permit.PROBE
    assert 30 <= time_.t - started <= 30.05 + 1e-6


async def test_closed_and_open_circuits_answer_at_once(redis_aio):
    time_ = FakeTime()
    circuits = Circuits(redis_aio, failure_threshold=5, open_s=5, clock=time_)
    guard = RedisGuard(redis_aio, circuits=circuits, rate_limits={"hms": 10**9}, clock=time_, sleep=time_.sleep)
    assert await guard.admit(HmsChannel, 10) is Permit.ALLOWED
    await circuits.record("hms", 0, 5)
    assert await guard.admit(HmsChannel, 10) is Permit.DENIED
    assert not time_.sleeping.is_set()

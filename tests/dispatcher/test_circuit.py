"""Circuit breakers shared through Redis: transitions, the single half-open probe, counters."""
from __future__ import annotations

import asyncio

import pytest

from dispatcher.circuit import Circuits, CircuitState, Permit
from tests.waiting import server_time, until

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
ALLOWED, DENIED, PROBE, WAIT = Permit.ALLOWED, Permit.DENIED, Permit.PROBE, Permit.WAIT


class FakeClock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def record(successes: int, failures: int, probe: bool = False):
    return ("record", successes, failures, probe)


def wait(seconds: float):
    return ("wait", seconds)


def permit(expected: Permit):
    return ("permit", expected)


#: threshold 20 failures, ratio 0.5, window 10 s, open 5 s, probe timeout 30 s
CASES = {
    "closed under the threshold": ([record(0, 19)], CLOSED),
    "closed under the ratio": ([record(30, 25)], CLOSED),
    "opens at threshold and ratio": ([record(20, 20)], OPEN),
    "failures add up across batches": ([record(0, 10), wait(5), record(5, 10)], OPEN),
    "successes in other batches dilute": ([record(0, 10), record(100, 0), record(0, 10)], CLOSED),
    "window expiry forgets old failures": ([record(0, 15), wait(10), record(0, 10)], CLOSED),
    "failures still inside the window count": ([record(0, 15), wait(9.5), record(0, 5)], OPEN),
    "closed allows": ([record(0, 19), permit(ALLOWED)], CLOSED),
    "open refuses": ([record(0, 20), permit(DENIED), wait(4.9), permit(DENIED)], OPEN),
    "after open_s one probe": ([record(0, 20), wait(5), permit(PROBE), permit(WAIT), permit(WAIT)], HALF_OPEN),
    "probe success closes": ([record(0, 20), wait(5), permit(PROBE), record(1, 0, probe=True), permit(ALLOWED)],
                             CLOSED),
    "probe failure re-opens": ([record(0, 20), wait(5), permit(PROBE), record(0, 1, probe=True), permit(DENIED),
                                wait(4.9), permit(DENIED)], OPEN),
    "re-opened circuit probes again": ([record(0, 20), wait(5), permit(PROBE), record(0, 1, probe=True), wait(5),
                                       permit(PROBE)], HALF_OPEN),
    "probe mostly failing re-opens": ([record(0, 20), wait(5), permit(PROBE), record(10, 990, probe=True)], OPEN),
    "probe mostly passing closes": ([record(0, 20), wait(5), permit(PROBE), record(990, 10, probe=True)], CLOSED),
    "closing starts a fresh window": ([record(0, 20), wait(5), permit(PROBE), record(1, 0, probe=True),
                                      record(0, 19)], CLOSED),
    "stragglers do not count while open": ([record(0, 20), record(1000, 0), wait(5), permit(PROBE)], HALF_OPEN),
    "stragglers do not move half-open": ([record(0, 20), wait(5), permit(PROBE), record(1000, 0),
                                         record(0, 1000), permit(WAIT)], HALF_OPEN),
    "an empty probe hands the probe on": ([record(0, 20), wait(5), permit(PROBE), record(0, 0, probe=True),
                                          permit(PROBE), permit(WAIT)], HALF_OPEN),
    "a silent probe is replaced after its timeout": ([record(0, 20), wait(5), permit(PROBE), wait(29),
                                                     permit(WAIT), wait(1), permit(PROBE)], HALF_OPEN),
    "a probe flag while closed counts normally": ([record(0, 20, probe=True)], OPEN),
}


@pytest.mark.parametrize("steps,final", CASES.values(), ids=CASES.keys())
async def test_transitions(redis_aio, steps, final):
    clock = FakeClock()
    circuits = Circuits(redis_aio, failure_threshold=20, failure_ratio=0.5, window_s=10, open_s=5,
                        probe_timeout_s=30, clock=clock)
    for i, (op, *args) in enumerate(steps):
        if op == "record":
            await circuits.record("fcm", *args)
        elif op == "wait":
            clock.t += args[0]
        else:
            assert await circuits.permit("fcm") is args[0], f"step {i}: {op} {args}"
    assert await circuits.state("fcm") is final


@pytest.mark.parametrize("batches,returned", [
    ([(0, 19), (0, 1)], [CLOSED, OPEN]),
    ([(0, 20), (0, 5)], [OPEN, OPEN]),
    ([(50, 10), (0, 10), (0, 40)], [CLOSED, CLOSED, OPEN]),   # 20 of 70 is under half; 60 of 110 is not
])
async def test_record_returns_the_state_after_the_batch(redis_aio, batches, returned):
    circuits = Circuits(redis_aio, clock=FakeClock())
    assert [await circuits.record("hms", s, f) for s, f in batches] == returned


async def test_allow_is_a_plain_bool(redis_aio):
    clock = FakeClock()
    circuits = Circuits(redis_aio, clock=clock)
    assert await circuits.allow("sms") is True
    await circuits.record("sms", 0, 20)
    assert await circuits.allow("sms") is False
    clock.t += 5
    assert [await circuits.allow("sms") for _ in range(3)] == [True, False, False]


async def test_exactly_one_probe_across_workers(store, redis_aio):
    """Many processes ask at once after open_s: one gets the probe, on the server's clock."""
    clients = [store.aio() for _ in range(4)]
    workers = [Circuits(c, open_s=1.0) for c in clients]     # room for a busy machine between the calls
    try:
        assert await workers[0].record("apns", 0, 25) is OPEN
        opened = await server_time(redis_aio)           # at or after the moment it opened
        assert not any(await asyncio.gather(*(w.allow("apns") for w in workers for _ in range(10))))
        await _server_clock_past(redis_aio, opened + 1.0)
        granted = await asyncio.gather(*(w.allow("apns") for w in workers for _ in range(10)))
        assert sum(granted) == 1
        assert await workers[1].state("apns") is HALF_OPEN
        assert await workers[2].record("apns", 1, 0, probe=True) is CLOSED
        assert all(await asyncio.gather(*(w.allow("apns") for w in workers)))
    finally:
        for c in clients:
            await c.aclose()


async def test_probe_failure_reopens_for_open_s_on_server_clock(redis_aio):
    circuits = Circuits(redis_aio, failure_threshold=5, open_s=0.2)
    await circuits.record("webpush", 0, 5)
    opened = await server_time(redis_aio)
    await _server_clock_past(redis_aio, opened + 0.2)
    assert await circuits.permit("webpush") is PROBE
    assert await circuits.record("webpush", 0, 1, probe=True) is OPEN
    reopened = await server_time(redis_aio)
    assert await circuits.permit("webpush") is DENIED
    await _server_clock_past(redis_aio, reopened + 0.2)
    assert await circuits.permit("webpush") is PROBE


async def test_providers_are_independent(redis_aio):
    circuits = Circuits(redis_aio, clock=FakeClock())
    await circuits.record("hms", 0, 50)
    assert await circuits.state("hms") is OPEN
    assert await circuits.state("fcm") is CLOSED
    assert await circuits.permit("fcm") is ALLOWED


async def test_snapshot_reports_states_and_transition_counters(redis_aio):
    clock = FakeClock()
    circuits = Circuits(redis_aio, clock=clock)
    assert await circuits.snapshot() == {}
    await circuits.record("hms", 0, 20)                       # opened 1
    clock.t += 5
    await circuits.permit("hms")
    await circuits.record("hms", 0, 1, probe=True)            # opened 2
    clock.t += 5
    await circuits.permit("hms")
    await circuits.record("hms", 3, 0, probe=True)            # closed 1
    await circuits.record("hms", 7, 2)
    await circuits.record("sms", 0, 30)
    clock.t += 2

    snap = await circuits.snapshot()
    assert set(snap) == {"hms", "sms"}
    assert snap["hms"] | {"changed_at": None} == {
        "state": "closed", "opened": 2, "closed": 1, "changed_at": None, "retry_in_s": None,
        "window_successes": 7, "window_failures": 2,
    }
    assert snap["sms"]["state"] == "open" and snap["sms"]["opened"] == 1 and snap["sms"]["closed"] == 0
    assert snap["sms"]["retry_in_s"] == pytest.approx(3.0)
    assert snap["sms"]["window_failures"] == 0                # the window starts afresh when it opens

    clock.t += 10
    assert (await circuits.snapshot())["hms"]["window_successes"] == 0


async def test_reset_forgets_a_circuit(redis_aio):
    circuits = Circuits(redis_aio, clock=FakeClock())
    await circuits.record("smpp", 0, 20)
    await circuits.reset("smpp")
    assert await circuits.state("smpp") is CLOSED
    assert await circuits.snapshot() == {}


@pytest.mark.parametrize("kwargs", [
    {"failure_threshold": 0}, {"failure_ratio": 0}, {"failure_ratio": 1.5}, {"window_s": 0}, {"open_s": -1},
])
def test_rejects_impossible_settings(redis_sync, kwargs):
    with pytest.raises(ValueError):
        Circuits(redis_sync, **kwargs)


async def test_rejects_negative_counts(redis_aio):
    with pytest.raises(ValueError):
        await Circuits(redis_aio).record("hms", -1, 0)


async def _server_clock_past(redis, t: float) -> None:
    """Wait until Redis's clock (the one the circuit counts open_s on) is past ``t``."""
    async def past() -> bool:
        return await server_time(redis) > t + 0.01
    await until(past, what="Redis's clock passing the open time")

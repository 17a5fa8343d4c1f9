"""Retries, failover, receipt timeouts, the retry schedule, cancel and expiry while sending,
priority lanes — against the simulators, counting what they accepted."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from channels.inapp import InappChannel
from channels.sms import SmsChannel, SmsSettings
from dispatcher import cap, keys
from dispatcher.alerts import Lifecycle
from dispatcher.delivery import State, states
from dispatcher.fanout import Engine
from dispatcher.pool import LocalPool
from loadtest.simulators.base import Faults
from loadtest.simulators.sms import SmsGatewaySimulator
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.factories import body, cap_json

SHARD = 1000


def _sms_subs(n: int, start: int = 0) -> list[Subscriber]:
    return [Subscriber(regions=["110105"], channels=["sms", "inapp"], endpoints={"sms": f"+86139{i:08d}"})
            for i in range(start, start + n)]


@pytest.fixture
async def sms_sim():
    sim = SmsGatewaySimulator(Faults(seed=11))
    await sim.start()
    yield sim
    await sim.stop()


def _engine(redis, sim, settings=None, clock=None, **kw) -> Engine:
    settings = settings or replace(_settings(), **kw)
    sms = SmsChannel(SmsSettings(url=sim.url, callback_url="http://127.0.0.1:9/none", batch=50))
    return Engine(redis, settings, {"inapp": InappChannel(redis), "sms": sms}, **({"clock": clock} if clock else {}))


def _later(seconds: float):
    """A clock this far ahead of the real one: the retry schedule and receipt checks come due."""
    return lambda: time.time() + seconds


async def _until(pred, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.01)
    return False


def _settings():
    from dispatcher.settings import Settings
    return Settings(shard_size=SHARD, retry_in_place_max_s=2.0)


async def _accept(engine, **kw):
    rec, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=["110105"], **kw))), "test")
    return rec


async def _states(redis, alert_id, shard=0):
    return states(await redis.get(keys.delivery_state(shard, alert_id)), SHARD)


async def test_transient_errors_are_retried_until_everyone_is_reached_once(redis_aio, sms_sim):
    sms_sim.faults.error_rates = {"429": 0.15, "500": 0.1, "503": 0.1}
    sms_sim.faults.retry_after_s = 0.05
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(600))
    engine = _engine(redis_aio, sms_sim, max_attempts=12)
    for ch in engine.channels.values():
        await ch.open()
    rec = await _accept(engine)
    await engine.plan(rec.id)
    report = await engine.run_shard(rec.id, 0)
    assert report.sent == 600 and report.failover == 0
    assert len(sms_sim.ledger.recipients(rec.id)) == 600
    assert sms_sim.ledger.duplicates() == 0
    assert sms_sim.requests > 12                                    # errors really happened
    for ch in engine.channels.values():
        await ch.close()


async def test_out_of_attempts_fails_over_to_the_next_channel(redis_aio, sms_sim):
    sms_sim.faults.error_rates = {"503": 1.0}
    sms_sim.faults.retry_after_s = 0.01
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(30))
    engine = _engine(redis_aio, sms_sim, max_attempts_by_channel=(("sms", 2),))
    rec = await _accept(engine)
    await engine.plan(rec.id)
    report = await engine.run_shard(rec.id, 0)
    assert report.failover == 30 and report.by_channel == {"inapp": 30}
    assert len(sms_sim.ledger) == 0
    assert sms_sim.requests == 2                                    # one batch of 30, two attempts
    st = await _states(redis_aio, rec.id)
    assert (st[:30] == State.SENT).all()
    used = states(await redis_aio.get(keys.delivery_channel(0, rec.id)), SHARD)
    assert set(used[:30].tolist()) == {1}                           # in-app took over
    counts = await redis_aio.hgetall(keys.counters(rec.id))
    assert int(counts[b"reason:sms:server_error"]) == 30
    await engine.channels["sms"].close()


async def test_long_retry_after_goes_to_the_schedule_and_any_worker_picks_it_up(redis_aio, sms_sim):
    sms_sim.faults.error_rates = {"429": 1.0}
    sms_sim.faults.retry_after_s = 1
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(20))
    engine = _engine(redis_aio, sms_sim, retry_in_place_max_s=0.2)
    rec = await _accept(engine)
    await engine.plan(rec.id)
    report = await engine.run_shard(rec.id, 0)
    assert report.queued == 20 and report.sent == 0
    assert (await _states(redis_aio, rec.id))[:20].tolist() == [State.QUEUED] * 20
    assert await redis_aio.zscore(keys.RETRY_SCHEDULE, f"{rec.id}:0") is not None
    assert await engine.reap() == 0                                 # not due yet, and not lost either
    sms_sim.faults.error_rates = {}
    other = _engine(redis_aio, sms_sim, clock=_later(1.1))          # another worker, once the wait is over
    ran = []
    other.submit = lambda a, s, lane: ran.append((a, s))
    assert await other.reap() == 1 and ran == [(rec.id, 0)]
    report = await other.run_shard(rec.id, 0)
    assert report.sent == 20 and len(sms_sim.ledger.recipients(rec.id)) == 20
    assert await other.alerts.lifecycle(rec.id) is Lifecycle.DONE
    for e in (engine, other):
        await e.channels["sms"].close()


async def test_cancel_drops_scheduled_retries(redis_aio, sms_sim):
    sms_sim.faults.error_rates = {"429": 1.0}
    sms_sim.faults.retry_after_s = 5
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(10))
    engine = _engine(redis_aio, sms_sim, retry_in_place_max_s=0.2)
    rec = await _accept(engine)
    await engine.plan(rec.id)
    await engine.run_shard(rec.id, 0)
    await engine.stop(rec.id, Lifecycle.CANCELLED, by="test")
    assert await redis_aio.zscore(keys.RETRY_SCHEDULE, f"{rec.id}:0") is None
    assert (await _states(redis_aio, rec.id))[:10].tolist() == [State.CANCELLED] * 10
    await engine.channels["sms"].close()


async def test_severe_alert_without_receipt_fails_over(redis_aio, sms_sim, monkeypatch):
    monkeypatch.setattr(SmsChannel, "receipt_timeout_s", 0.3)
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(15))
    now = [time.time()]
    engine = _engine(redis_aio, sms_sim, clock=lambda: now[0])
    ran = []
    engine.submit = lambda a, s, lane: ran.append(s)
    rec = await _accept(engine, severity="Extreme", urgency="Immediate")
    await engine.plan(rec.id)
    await engine.run_shard(rec.id, 0)
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.DONE
    now[0] += 0.4                                                   # no delivery report came
    ran.clear()
    await engine.reap()
    assert ran == [0]
    report = await engine.run_shard(rec.id, 0)
    assert report.by_channel == {"inapp": 15}
    counts = await redis_aio.hgetall(keys.counters(rec.id))
    assert int(counts[b"reason:sms:receipt_timeout"]) == 15
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.DONE
    await engine.channels["sms"].close()


async def test_minor_alert_waits_for_receipts_without_failover(redis_aio, sms_sim, monkeypatch):
    monkeypatch.setattr(SmsChannel, "receipt_timeout_s", 0.1)
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(5))
    now = [time.time()]
    engine = _engine(redis_aio, sms_sim, clock=lambda: now[0])
    rec = await _accept(engine, severity="Minor")
    await engine.plan(rec.id)
    await engine.run_shard(rec.id, 0)
    now[0] += 0.2
    await engine.reap()
    assert (await _states(redis_aio, rec.id))[:5].tolist() == [State.SENT] * 5
    await engine.channels["sms"].close()


async def test_alert_expiring_while_retrying_sends_nothing_more(redis_aio, sms_sim):
    sms_sim.faults.error_rates = {"503": 1.0}
    sms_sim.faults.retry_after_s = 0.3
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(10))
    engine = _engine(redis_aio, sms_sim, max_attempts=50)
    rec = await _accept(engine)
    await engine.plan(rec.id)
    now = [rec.expires_at - 2.0]                                    # two seconds of the alert's life left

    async def waits(s: float) -> None:                              # the retry policy's waits pass on this clock
        now[0] += s
    engine.clock = lambda: now[0]
    engine.send_path.policy.sleep = waits
    report = await engine.run_shard(rec.id, 0)
    assert sms_sim.requests > 1                                     # it did retry
    assert report.sent == 10 and report.by_channel == {"inapp": 10}     # failed over before expiry
    assert now[0] < rec.expires_at
    assert len(sms_sim.ledger) == 0
    await engine.channels["sms"].close()


async def test_red_alert_overtakes_a_running_blue_one(redis_aio, sms_sim):
    sms_sim.faults.latency_ms = (20, 20)
    await SubscriberStore(redis_aio, SHARD).write_many(_sms_subs(6 * SHARD))
    engine = _engine(redis_aio, sms_sim)
    pool = LocalPool(engine, concurrency=1)
    await pool.start()
    try:
        blue = await _accept(engine, severity="Minor", urgency="Expected")
        pool.plan(blue.id, blue.lane)
        assert await _until(lambda: len(sms_sim.ledger) >= 100)
        red = await _accept(engine, severity="Extreme", urgency="Immediate")
        pool.plan(red.id, red.lane)
        assert await _until(lambda: sms_sim.ledger.recipients(red.id))
        blue_sent_before_red = len(sms_sim.ledger.recipients(blue.id))
        await pool.drain()
    finally:
        await pool.stop()
        await engine.channels["sms"].close()

    def last(alert_id):
        return max(e.t for e in sms_sim.ledger.entries if e.alert_id == str(alert_id))
    assert blue_sent_before_red < 6 * SHARD                           # the blue one was still going
    assert last(red.id) < last(blue.id)                               # the red one finished first
    assert len(sms_sim.ledger.recipients(blue.id)) == 6 * SHARD       # and finished afterwards
    assert len(sms_sim.ledger.recipients(red.id)) == 6 * SHARD
    assert sms_sim.ledger.duplicates() == 0

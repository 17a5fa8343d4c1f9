"""One channel identity: SMS served by an adapter of another name (SMPP) still fails over, times out
receipts, counts and keeps limits under the subscriber's chain channel ``sms``."""
from __future__ import annotations

from dataclasses import replace

import pytest

from channels.inapp import InappChannel
from channels.sms import SmsChannel, SmsSettings
from channels.sms_text import segments
from dispatcher import cap, keys
from dispatcher.alerts import Lifecycle
from dispatcher.delivery import State, states
from dispatcher.fanout import Engine
from dispatcher.guard import RedisGuard
from dispatcher.settings import Settings
from dispatcher.via import chain_name, provider_rate_limits
from loadtest.simulators.base import Faults
from loadtest.simulators.sms import SmsGatewaySimulator
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.factories import body, cap_json

SHARD = 1000


class SmsByOtherAdapter(SmsChannel):
    """An SMS adapter whose own name differs from the chain channel it serves, as SMPP's does."""

    name = "smpp"


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def sms_sim():
    sim = SmsGatewaySimulator(Faults(seed=5))
    await sim.start()
    yield sim
    await sim.stop()


async def _engine(redis, sim, clock=None, **settings) -> Engine:
    sms = SmsByOtherAdapter(SmsSettings(url=sim.url, callback_url="http://127.0.0.1:9/none", batch=50))
    await sms.open()
    base = Settings(shard_size=SHARD, retry_in_place_max_s=2.0)
    kw = {"clock": clock} if clock else {}
    return Engine(redis, replace(base, **settings), {"inapp": InappChannel(redis), "sms": sms}, **kw)


async def _publish(engine, n: int, **alert):
    subs = [Subscriber(regions=["110105"], channels=["sms", "inapp"], endpoints={"sms": f"+86139{i:08d}"})
            for i in range(n)]
    await SubscriberStore(engine.redis, SHARD).write_many(subs)
    rec, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=["110105"], **alert))), "test")
    await engine.plan(rec.id)
    return rec


async def test_receipt_timeout_fails_sms_over_smpp_over_to_the_next_channel(redis_aio, sms_sim):
    import time
    clock = Clock(time.time())
    engine = await _engine(redis_aio, sms_sim, clock=clock)
    ran = []
    engine.submit = lambda a, s, lane: ran.append(s)
    rec = await _publish(engine, 15, severity="Extreme", urgency="Immediate")
    first = await engine.run_shard(rec.id, 0)
    assert first.by_channel == {"sms": 15}
    counts = await redis_aio.hgetall(keys.counters(rec.id))
    assert int(counts[b"sms:sent"]) == 15 and b"smpp:sent" not in counts
    clock.t += SmsByOtherAdapter.receipt_timeout_s + 1          # no delivery report came
    ran.clear()
    await engine.reap()
    assert ran == [0]
    second = await engine.run_shard(rec.id, 0)
    assert second.by_channel == {"inapp": 15}                    # the NEXT channel, not sms again
    st = states(await redis_aio.get(keys.delivery_state(0, rec.id)), SHARD)
    assert st[:15].tolist() == [State.SENT] * 15
    history = await redis_aio.hgetall(keys.failed_channels(0, rec.id))
    assert {v for v in history.values()} == {b"sms"}
    assert len(sms_sim.ledger.recipients(rec.id)) == 15 and sms_sim.ledger.duplicates() == 0
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.DONE
    await engine.channels["sms"].close()


async def test_attempt_limit_set_for_sms_applies_to_the_adapter_serving_it(redis_aio, sms_sim):
    sms_sim.faults.error_rates = {"503": 1.0}
    sms_sim.faults.retry_after_s = 0.01
    engine = await _engine(redis_aio, sms_sim, max_attempts=4, max_attempts_by_channel=(("sms", 1),))
    rec = await _publish(engine, 10)
    report = await engine.run_shard(rec.id, 0)
    assert sms_sim.requests == 1                                 # one attempt, as set for sms
    assert report.by_channel == {"inapp": 10}
    await engine.channels["sms"].close()


def test_a_quota_set_for_sms_applies_to_the_adapter_serving_it():
    adapter = SmsByOtherAdapter(SmsSettings(url="http://127.0.0.1:9", callback_url="http://127.0.0.1:9/x"))
    limits = provider_rate_limits({"sms": 25}, {"sms": adapter})
    assert RedisGuard(None, rate_limits=limits, circuits=object(), limiter=object()).rate_for(adapter) == 25
    assert chain_name("smpp") == "sms" and chain_name("hms") == "hms"


async def test_rendered_sms_fits_the_configured_number_of_parts(redis_aio, sms_sim):
    engine = await _engine(redis_aio, sms_sim, sms_max_parts=1)
    long = "暴雨" * 200
    rec, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=["110105"], headline=long))), "t")
    notice = engine.renderer.notice(rec, "sms", "zh-CN")
    assert segments(notice.body) == 1
    await engine.channels["sms"].close()

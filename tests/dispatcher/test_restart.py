"""A process stopped mid-fan-out: a new one on the same Redis resumes and finishes, nothing lost or
sent twice beyond the batches in flight."""
import asyncio
import time
from dataclasses import replace

from loadtest.simulators.base import Faults
from loadtest.simulators.sms import SmsGatewaySimulator
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json

SHARD = 1000


async def test_a_new_process_resumes_an_unfinished_fan_out(store, redis_sync, redis_aio, settings, monkeypatch):
    sim = SmsGatewaySimulator(Faults(latency_ms=(20, 20), seed=2))
    await sim.start()
    monkeypatch.setenv("WARNCAST_SMS_URL", sim.url)
    monkeypatch.setenv("WARNCAST_SMS_BATCH", "50")
    monkeypatch.setenv("WARNCAST_SMS_CALLBACK_URL", "http://127.0.0.1:9/none")
    n = 4000
    await SubscriberStore(redis_aio, SHARD).write_many(
        [Subscriber(regions=["110105"], channels=["sms", "inapp"], endpoints={"sms": f"+86139{i:08d}"})
         for i in range(n)])
    cfg = replace(settings, shard_size=SHARD, channels=("sms",), rate_limits=(("sms", 100_000),), lease_s=1)
    try:
        async with open_api(store, cfg) as first:
            status, alert = await first.publish(cap_json(codes=["110105"]))
            assert status == 202
            deadline = time.monotonic() + 30
            while len(sim.ledger) < n * 0.3 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        stopped_at = len(sim.ledger)                                  # the process is gone
        assert stopped_at < n
        async with open_api(store, cfg) as second:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                _, got = await second.call("GET", f"/api/v1/alerts/{alert['id']}")
                if got["lifecycle"] == "done":
                    break
                await asyncio.sleep(0.1)
    finally:
        await sim.stop()
    assert got["lifecycle"] == "done"
    assert len(sim.ledger.recipients(alert["id"])) == n
    in_flight_bound = 2 * 8 * 50                                     # 2 shard jobs × 8 batches of 50
    assert sim.ledger.duplicates(alert["id"]) <= in_flight_bound

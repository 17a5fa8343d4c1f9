"""Stopping the in-process pool mid-send: batches in flight finish, the shard is handed back (lease
released, still pending), and the next start delivers the rest exactly once."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from channels.inapp import InappChannel
from channels.sms import SmsChannel, SmsSettings
from dispatcher import cap, keys
from dispatcher.delivery import State, states
from dispatcher.fanout import Engine
from dispatcher.pool import LocalPool
from dispatcher.settings import Settings
from loadtest.simulators.base import Faults
from loadtest.simulators.sms import SmsGatewaySimulator
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.factories import body, cap_json

SHARD = 1000
PEOPLE = 800


async def _until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _engine(redis, sim) -> Engine:
    settings = replace(Settings(shard_size=SHARD), rate_limits=(("sms", 1_000_000),))
    sms = SmsChannel(SmsSettings(url=sim.url, callback_url="http://127.0.0.1:9/none", batch=20))
    return Engine(redis, settings, {"inapp": InappChannel(redis), "sms": sms})


async def test_stop_hands_the_shard_back_and_a_restart_finishes_it(redis_aio):
    sim = SmsGatewaySimulator(Faults(seed=3, latency_ms=(150, 150)))
    await sim.start()
    subs = [Subscriber(regions=["110105"], channels=["sms"], endpoints={"sms": f"+86139{i:08d}"})
            for i in range(PEOPLE)]
    await SubscriberStore(redis_aio, SHARD).write_many(subs)
    engine = _engine(redis_aio, sim)
    for ch in engine.channels.values():
        await ch.open()
    try:
        rec, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=["110105"]))), "test")
        pool = LocalPool(engine, 2)
        await pool.start()
        pool.plan(rec.id)
        await _until(lambda: sim.requests > 0, 10, "the first SMS batch to be in flight")
        await pool.stop()

        st = states(await redis_aio.get(keys.delivery_state(0, rec.id)), SHARD)
        sent_so_far = int((st == State.SENT).sum())
        assert not (st == State.SENDING).any()                      # nothing left half-claimed
        assert 0 < sent_so_far < PEOPLE                              # in-flight batches finished; the rest waits
        assert sent_so_far == len(sim.ledger.recipients(rec.id))
        assert not await redis_aio.exists(keys.shard_lease(0, rec.id))   # lease released
        assert not await redis_aio.exists(keys.shard_queued(0, rec.id))  # nobody waits on this process
        assert b"0" in await redis_aio.smembers(keys.alert_shards(rec.id))  # still pending

        sim.faults.latency_ms = (0.0, 0.0)
        again = LocalPool(engine, 2)
        await again.start()
        await again.drain()
        await again.stop()
        assert len(sim.ledger.recipients(rec.id)) == PEOPLE
        assert sim.ledger.duplicates() == 0
    finally:
        for ch in engine.channels.values():
            await ch.close()
        await sim.stop()

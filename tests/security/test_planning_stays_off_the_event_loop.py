"""An issuer cannot stall the API with a CPU-heavy alert: building the target and matching each shard's
audience run in worker threads, never on the event loop that serves /healthz."""
from __future__ import annotations

import threading

from channels.inapp import InappChannel
from dispatcher import cap, planner, targeting
from dispatcher.fanout import Engine
from dispatcher.settings import Settings
from subscribers import regions
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.factories import body, cap_json


async def test_targeting_a_many_geocode_alert_runs_off_the_event_loop(redis_aio, monkeypatch):
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    def spy(fn):
        def wrapped(*args, **kw):
            ran_on.append(threading.get_ident())
            return fn(*args, **kw)
        return wrapped
    monkeypatch.setattr(planner, "target_for", spy(targeting.target_for))
    monkeypatch.setattr(targeting, "match_shard", spy(targeting.match_shard))
    codes = regions.district_codes()
    subs = [Subscriber(regions=[codes[i % len(codes)]]) for i in range(1500)]
    await SubscriberStore(redis_aio, 1000).write_many(subs)
    engine = Engine(redis_aio, Settings(shard_size=1000), {"inapp": InappChannel(redis_aio)})
    engine.submit = lambda *a: None
    rec, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=codes))), "test")
    assert await engine.plan(rec.id) == 1500
    assert len(ran_on) == 1 + 2                                  # the target once, each of two shards
    assert loop_thread not in ran_on


async def test_an_immediate_alert_over_many_geocodes_is_still_targeted_off_the_event_loop(redis_aio, monkeypatch):
    """Only a small Immediate alert is matched on the loop (its first send must not wait for a thread);
    an Extreme one over every district is as far from the loop as any other large alert."""
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    def spy(fn):
        def wrapped(*args, **kw):
            ran_on.append(threading.get_ident())
            return fn(*args, **kw)
        return wrapped
    monkeypatch.setattr(planner, "target_for", spy(targeting.target_for))
    monkeypatch.setattr(targeting, "match_shard", spy(targeting.match_shard))
    districts = regions.district_codes()
    codes = districts + [f"{d}{k:03d}" for d in districts for k in range(1, 6)]      # and townships
    assert len(codes) > targeting.SMALL_AREA_CODES
    subs = [Subscriber(regions=[districts[i % len(districts)]]) for i in range(1500)]
    await SubscriberStore(redis_aio, 1000).write_many(subs)
    engine = Engine(redis_aio, Settings(shard_size=1000), {"inapp": InappChannel(redis_aio)})
    engine.submit = lambda *a: None
    many, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=codes, severity="Extreme",
                                                                      urgency="Immediate"))), "test")
    assert many.lane == "immediate"
    assert await engine.plan(many.id) == 1500
    assert len(ran_on) == 3 and loop_thread not in ran_on
    ran_on.clear()
    small, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=["11"], severity="Extreme",
                                                                       urgency="Immediate"))), "test")
    assert await engine.plan(small.id) == 1500
    assert ran_on == [loop_thread] * 3                      # a city-wide red alert: no thread hop

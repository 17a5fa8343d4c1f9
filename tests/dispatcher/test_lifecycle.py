"""Dedupe, Update, Cancel, expiry and approval, through the API and the engine."""
import time

import pytest

from channels.inapp import InappChannel
from dispatcher import cap
from dispatcher.alerts import Lifecycle
from dispatcher.delivery import State, states
from dispatcher import keys
from dispatcher.fanout import Engine
from dispatcher.settings import Settings
from subscribers.store import SubscriberStore
from tests.dispatcher.conftest import open_api
from tests.factories import body, cap_json, reference


async def test_identical_resubmission_returns_the_same_alert(api):
    doc = cap_json()
    s1, first = await api.publish(doc)
    s2, again = await api.publish(doc)
    assert (s1, s2) == (202, 200)
    assert again["id"] == first["id"] and again["created"] is False


async def test_same_identity_other_content_conflicts(api):
    doc = cap_json()
    await api.publish(doc)
    other = {**doc, "info": [{**doc["info"][0], "headline": "different"}]}
    status, err = await api.publish(other)
    assert status == 409
    assert err["errors"][0]["path"] == "alert/identifier"


async def test_update_reaches_its_area_and_everyone_the_original_reached(api):
    chaoyang = await api.register(regions=["110105"])
    haidian = await api.register(regions=["110108"])
    fengtai = await api.register(regions=["110106"])
    original = cap_json(codes=["110105"])
    _, first = await api.publish(original)
    await api.drain()
    update = cap_json(codes=["110108"], msg_type="Update", references=[reference(original)])
    status, upd = await api.publish(update)
    assert status == 202, upd
    await api.drain()
    _, page = await api.call("GET", f"/api/v1/alerts/{upd['id']}/deliveries?state=sent")
    assert {d["subscriber_id"] for d in page["deliveries"]} == {chaoyang["id"], haidian["id"]}
    _, old = await api.call("GET", f"/api/v1/alerts/{first['id']}")
    assert old["lifecycle"] == "superseded"
    assert fengtai["id"] not in {d["subscriber_id"] for d in page["deliveries"]}


async def test_cancel_notifies_those_reached(api):
    a = await api.register(regions=["110105"])
    b = await api.register(regions=["110106"])
    _, first = await api.publish(cap_json(codes=["110105"]))
    await api.drain()
    status, cancel = await api.call("POST", f"/api/v1/alerts/{first['id']}/cancel", "issuer")
    assert status == 202, cancel
    assert cancel["msgType"] == "Cancel"
    await api.drain()
    _, page = await api.call("GET", f"/api/v1/alerts/{cancel['id']}/deliveries?state=sent")
    assert [d["subscriber_id"] for d in page["deliveries"]] == [a["id"]]
    _, inbox = await api.call("GET", "/api/v1/inbox", a["token"])
    assert inbox["alerts"][0]["msgType"] == "Cancel" and inbox["alerts"][0]["title"].startswith("【解除】")
    _, inbox_b = await api.call("GET", "/api/v1/inbox", b["token"])
    assert inbox_b["alerts"] == []


async def test_only_the_issuer_may_cancel(api):
    _, first = await api.publish(cap_json(codes=["110105"]))
    status, err = await api.call("POST", f"/api/v1/alerts/{first['id']}/cancel", "chaoyang")
    assert status == 403


async def test_expired_alert_is_rejected(api):
    status, err = await api.publish(cap_json(expires_in=-60))
    assert status == 422
    assert "expire" in err["error"]


@pytest.fixture
async def engine(redis_aio):
    settings = Settings(shard_size=1000)
    eng = Engine(redis_aio, settings, {"inapp": InappChannel(redis_aio)})
    return eng


async def _accept(engine, doc, now=None):
    rec, _ = await engine.alerts.accept(cap.parse_json(body(doc)), "test", now=now)
    return rec


async def _states(redis, alert_id, shard=0, size=1000):
    return states(await redis.get(keys.delivery_state(shard, alert_id)), size)


async def test_cancel_stops_pending_sends_in_every_shard(engine, redis_aio):
    subs = SubscriberStore(redis_aio, 1000)
    await subs.write_many([_sub("110105") for _ in range(2500)])     # three shards
    rec = await _accept(engine, cap_json(codes=["110105"]))
    assert await engine.plan(rec.id) == 2500                         # planned; no job has run
    await engine.run_shard(rec.id, 0)                                # one shard delivered
    await engine.stop(rec.id, Lifecycle.CANCELLED, by="test")
    for shard in (1, 2):
        await engine.run_shard(rec.id, shard)                        # late jobs send nothing
    st0, st1 = await _states(redis_aio, rec.id, 0), await _states(redis_aio, rec.id, 1)
    assert (st0[:1000] == State.SENT).all()
    assert (st1[:1000] == State.CANCELLED).all()
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.CANCELLED


async def test_nothing_is_sent_after_expiry(engine, redis_aio):
    subs = SubscriberStore(redis_aio, 1000)
    await subs.write_many([_sub("110105") for _ in range(10)])
    rec = await _accept(engine, cap_json(codes=["110105"], expires_in=60))
    await engine.plan(rec.id)
    engine.clock = lambda: time.time() + 120                         # the job runs after expiry
    report = await engine.run_shard(rec.id, 0)
    assert report.sent == 0 and report.expired == 10
    assert (await _states(redis_aio, rec.id))[:10].tolist() == [State.EXPIRED] * 10
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.EXPIRED


async def test_a_rerun_job_sends_nothing_twice(engine, redis_aio):
    subs = SubscriberStore(redis_aio, 1000)
    await subs.write_many([_sub("110105") for _ in range(50)])
    sent = []

    class Counting(InappChannel):
        async def send_columns(self, notice, subscriber_ids, endpoints):
            sent.extend(subscriber_ids)
            return await super().send_columns(notice, subscriber_ids, endpoints)

    engine.channels["inapp"] = Counting(redis_aio)
    rec = await _accept(engine, cap_json(codes=["110105"]))
    await engine.plan(rec.id)
    await engine.plan(rec.id)                                        # a re-plan changes nothing
    await engine.run_shard(rec.id, 0)
    await engine.run_shard(rec.id, 0)
    assert sorted(sent) == list(range(50))


async def test_held_alert_waits_for_another_persons_approval(store, redis_sync, settings):
    from dataclasses import replace
    async with open_api(store, replace(settings, approval_severities=("Extreme",))) as api:
        await _approval_flow(api)


async def _approval_flow(api):
    sub = await api.register(regions=["110105"])
    status, held = await api.publish(cap_json(codes=["110105"], severity="Extreme"))
    assert status == 202 and held["lifecycle"] == "held"
    await api.drain()
    _, inbox = await api.call("GET", "/api/v1/inbox", sub["token"])
    assert inbox["alerts"] == []
    status, _ = await api.call("POST", f"/api/v1/alerts/{held['id']}/approve", "issuer")
    assert status == 403                                             # issuers cannot approve
    status, approved = await api.call("POST", f"/api/v1/alerts/{held['id']}/approve", "operator")
    assert status == 202 and approved["lifecycle"] == "sending"
    await api.drain()
    _, inbox = await api.call("GET", "/api/v1/inbox", sub["token"])
    assert [a["alert_id"] for a in inbox["alerts"]] == [held["id"]]


def _sub(code):
    from subscribers.model import Subscriber
    return Subscriber(regions=[code])

"""Private alerts reach exactly their addressees (alarms on every channel at once); Restricted alerts
reach a named group only."""
from __future__ import annotations

import orjson
import pytest

from tests.dispatcher.test_channel_flow import _open
from tests.factories import cap_json

from .helpers import drain, hms_token, inbox_ids


def _private(addresses, severity="Severe", **kw):
    doc = cap_json(severity=severity, **kw)
    doc["scope"] = "Private"
    doc["addresses"] = " ".join(str(a) for a in addresses)
    return doc


@pytest.fixture
async def with_channels(store, redis_sync, settings, monkeypatch):
    sims, cm = await _open(store, settings, monkeypatch, ("hms", "sms"))
    try:
        async with cm as api:
            subs = [await api.register(regions=["110105"], channels=["hms", "sms", "inapp"],
                                       endpoints={"hms": hms_token(i), "sms": f"+86139{i:08d}"}) for i in range(3)]
            yield api, sims, subs
    finally:
        await sims.stop()


async def test_an_alarm_reaches_its_addressees_on_every_channel_at_once_and_nobody_else(with_channels):
    api, sims, (a, b, stranger) = with_channels
    status, alert = await api.publish(_private([a["id"], b["id"]]))
    assert status == 202, alert
    await drain(api)
    assert sims.ledger("hms").recipients(alert["id"]) == {hms_token(0), hms_token(1)}
    assert sims.ledger("sms").recipients(alert["id"]) == {"+8613900000000", "+8613900000001"}
    _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
    assert {ch: got["stats"]["channels"][ch]["sent"] for ch in ("hms", "sms", "inapp")} == {"hms": 2, "sms": 2, "inapp": 2}
    assert got["lifecycle"] == "done"
    _, page = await api.call("GET", f"/api/v1/alerts/{alert['id']}/deliveries")
    assert {d["subscriber_id"]: (d["state"], set(d["tried"])) for d in page["deliveries"]} == {
        a["id"]: ("sent", {"hms", "sms", "inapp"}), b["id"]: ("sent", {"hms", "sms", "inapp"})}
    assert alert["id"] in await inbox_ids(api, a["token"])
    assert alert["id"] not in await inbox_ids(api, stranger["token"])     # same area, not addressed


async def test_a_private_notice_that_is_not_an_alarm_goes_on_the_first_channel_only(with_channels):
    api, sims, (a, _, _) = with_channels
    _, alert = await api.publish(_private([a["id"]], severity="Minor"))
    await drain(api)
    assert sims.ledger("hms").recipients(alert["id"]) == {hms_token(0)}
    assert sims.ledger("sms").recipients(alert["id"]) == set()


async def test_each_addressee_acknowledges_and_only_addressees_can(with_channels):
    api, _, (a, b, stranger) = with_channels
    _, alert = await api.publish(_private([a["id"], b["id"]]))
    await drain(api)
    status, out = await api.call("POST", "/api/v1/receipts", a["token"], json={"alert_id": alert["id"], "status": "confirmed"})
    assert status == 200 and out["receipts"][0] == {"alert_id": alert["id"], "state": "confirmed", "changed": True}
    _, out = await api.call("POST", "/api/v1/receipts", stranger["token"], json={"alert_id": alert["id"], "status": "confirmed"})
    assert out["receipts"][0]["changed"] is False and out["receipts"][0]["state"] == "none"
    _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
    assert got["stats"]["channels"]["hms"]["confirmed"] + got["stats"]["channels"].get("inapp", {}).get("confirmed", 0) \
        + got["stats"]["channels"]["sms"]["confirmed"] == 1


async def test_a_restricted_alert_reaches_its_group_inside_its_area(api):
    principal = await api.register(regions=["110105"])
    neighbour = await api.register(regions=["110105"])
    elsewhere = await api.register(regions=["110108"])
    status, _ = await api.call("POST", "/api/v1/groups/school-principals/members", "operator",
                               json={"subscriber_ids": [principal["id"], elsewhere["id"]]})
    assert status == 200
    doc = cap_json(codes=["110105"], scope="Restricted")
    doc["restriction"] = "school-principals"
    _, alert = await api.publish(doc)
    await drain(api)
    assert alert["id"] in await inbox_ids(api, principal["token"])
    assert alert["id"] not in await inbox_ids(api, neighbour["token"])
    assert alert["id"] not in await inbox_ids(api, elsewhere["token"])


async def test_a_restricted_alert_without_an_area_reaches_the_whole_group_and_an_unknown_group_nobody(api):
    principal = await api.register(regions=["110105"])
    elsewhere = await api.register(regions=["110108"])
    await api.call("POST", "/api/v1/groups/school-principals/members", "operator",
                   json={"subscriber_ids": [principal["id"], elsewhere["id"]]})
    status, _ = await api.call("POST", "/api/v1/groups/school-principals/members:remove", "operator",
                               json={"subscriber_ids": [principal["id"]]})
    assert status == 200
    doc = cap_json(codes=(), scope="Restricted")
    doc["restriction"] = "school-principals"
    status, alert = await api.publish(doc, who="admin")       # an issuer scoped to regions must name one
    assert status == 202, alert
    nobody = cap_json(codes=["110105"], scope="Restricted")
    nobody["restriction"] = "no-such-group"
    _, other = await api.publish(nobody)
    await drain(api)
    assert await inbox_ids(api, elsewhere["token"]) == [alert["id"]]
    assert await inbox_ids(api, principal["token"]) == []
    _, got = await api.call("GET", f"/api/v1/alerts/{other['id']}")
    assert got["stats"]["targeted"] == 0


async def test_a_private_alert_stopped_while_queued_is_not_sent(api):
    from dispatcher import cap
    from dispatcher.alerts import Lifecycle
    from dispatcher.api import context as ctx
    a = await api.register(regions=["110105"])
    engine = api.app[ctx.ENGINE]
    rec, _ = await engine.alerts.accept(cap.parse_json(orjson.dumps(_private([a["id"]]))), "t", org="bjmb")
    await engine.alerts.set_lifecycle(rec.id, Lifecycle.CANCELLED)
    await api.app[ctx.PRIVATE].deliver_many([rec])
    assert rec.id not in await inbox_ids(api, a["token"])
    live, _ = await engine.alerts.accept(cap.parse_json(orjson.dumps(_private([a["id"]]))), "t", org="bjmb")
    await api.app[ctx.PRIVATE].deliver_many([live])                 # the same path sends one that is not stopped
    assert live.id in await inbox_ids(api, a["token"])


async def test_a_private_alert_a_restart_left_undelivered_goes_out_once(api):
    import time

    from dispatcher import cap, keys
    from dispatcher.api import context as ctx
    from dispatcher.api.sensor_publish import redeliver_pending
    a = await api.register(regions=["110105"])
    engine, redis = api.app[ctx.ENGINE], api.app[ctx.REDIS]
    rec, _ = await engine.alerts.accept(cap.parse_json(orjson.dumps(_private([a["id"]]))), "t", org="bjmb")
    await redis.zadd(keys.PRIVATE_PENDING, {rec.id: rec.accepted_at})       # accepted, then the process died
    api.app[ctx.PRIVATE].pending.add(rec.id)
    assert await redeliver_pending(api.app, time.time() + 60) == 0           # still being delivered here
    api.app[ctx.PRIVATE].pending.discard(rec.id)
    assert await redeliver_pending(api.app, time.time() + 60) == 1
    await drain(api)
    assert rec.id in await inbox_ids(api, a["token"])
    assert await redis.zscore(keys.PRIVATE_PENDING, rec.id) is None
    assert await redeliver_pending(api.app, time.time() + 120) == 0

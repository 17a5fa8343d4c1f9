"""Escalation with an injected clock: nobody confirms → the next contact, and so on; a confirmation stops it;
the schedule lives in Redis, so a restarted process carries on where the last one stopped."""
from __future__ import annotations

import dataclasses
import time

import pytest

from dispatcher import escalation, keys
from dispatcher.api import context as ctx
from dispatcher.api.households_api import HOUSEHOLDS
from dispatcher.api.sensor_publish import publish_escalation
from tests.dispatcher.test_channel_flow import _open

from .helpers import KEY, drain, home, inbox_ids, post_events


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, sensor_keys=(("acme", KEY),))


@pytest.fixture
async def with_sms(store, redis_sync, settings, monkeypatch):
    sims, cm = await _open(store, settings, monkeypatch, ("sms",))
    try:
        async with cm as api:
            yield api, sims
    finally:
        await sims.stop()


async def _tick(api, now: float) -> int:
    """One pass of the escalation schedule at the given time (what the serve process does every second)."""
    n = await escalation.run_due(api.app[ctx.REDIS], api.app[HOUSEHOLDS],
                                 lambda *a: publish_escalation(api.app, *a), now)
    await drain(api)
    return n


async def _alarm(api, device):
    t0 = time.time()
    status, body = await post_events(api, [{"device_id": device, "value": 400}])
    assert status == 200, body
    await drain(api)
    return body["alerts"][0]["alert_id"], t0


async def test_nobody_confirms_so_each_contact_is_alerted_in_turn(with_sms):
    api, sims = with_sms
    manager = await api.register(regions=["110105"])
    _, members, device = await home(api, delay_s=120, contacts=[
        {"subscriber_id": manager["id"], "delay_s": 300, "name": "楼管"},
        {"sms": "+8613911112222", "delay_s": 600, "name": "社区居委会"}])
    root, t0 = await _alarm(api, device)
    assert await _tick(api, t0 + 119) == 0                     # the members still have time
    assert await inbox_ids(api, manager["token"]) == []
    assert await _tick(api, t0 + 125) == 1                     # first contact: the building manager
    inbox = await inbox_ids(api, manager["token"])
    assert len(inbox) == 1
    _, first = await api.call("GET", f"/api/v1/alerts/{inbox[0]}", "operator")
    assert first["msgType"] == "Update" and first["references"] == [root]
    assert first["cap"]["addresses"].split() == [str(m["id"]) for m in members] + [str(manager["id"])]
    assert inbox[0] in await inbox_ids(api, members[0]["token"])    # the members hear it too
    assert await _tick(api, t0 + 125 + 299) == 0
    assert await _tick(api, t0 + 125 + 301) == 1               # then the community office, by SMS
    assert "+8613911112222" in {r for a in sims.ledger("sms").entries for r in [a.recipient]}
    _, status = await api.call("GET", f"/api/v1/alerts/{root}", "operator")
    esc = status["escalation"]
    assert esc["state"] == "waiting" and [s["contact"] for s in esc["steps"]] == [0, 1]
    assert "13911112222" not in str(status)                     # never the number
    assert await _tick(api, t0 + 2000) == 0                    # no one left
    _, status = await api.call("GET", f"/api/v1/alerts/{root}", "operator")
    assert status["escalation"]["state"] == "exhausted"


async def test_a_members_confirmation_stops_the_escalation(api):
    manager = await api.register(regions=["110105"])
    _, members, device = await home(api, delay_s=60, contacts=[{"subscriber_id": manager["id"], "delay_s": 60}])
    root, t0 = await _alarm(api, device)
    status, _ = await api.call("POST", "/api/v1/receipts", members[1]["token"], json={"alert_id": root, "status": "confirmed"})
    assert status == 200
    assert await _tick(api, t0 + 61) == 0
    assert await inbox_ids(api, manager["token"]) == []
    _, got = await api.call("GET", f"/api/v1/alerts/{root}", "operator")
    assert got["escalation"]["state"] == "confirmed" and got["escalation"]["confirmed_by"] == members[1]["id"]


async def test_a_mere_read_does_not_stop_it(api):
    manager = await api.register(regions=["110105"])
    _, members, device = await home(api, delay_s=60, contacts=[{"subscriber_id": manager["id"], "delay_s": 60}])
    root, t0 = await _alarm(api, device)
    await api.call("POST", "/api/v1/receipts", members[0]["token"], json={"alert_id": root, "status": "read"})
    assert await _tick(api, t0 + 61) == 1


async def test_an_all_clear_stops_the_escalation(api):
    manager = await api.register(regions=["110105"])
    _, _, device = await home(api, delay_s=60, contacts=[{"subscriber_id": manager["id"], "delay_s": 60}])
    root, t0 = await _alarm(api, device)
    await post_events(api, [{"device_id": device, "value": 0}])
    assert await _tick(api, t0 + 61) == 0
    assert await api.app[ctx.REDIS].zscore(keys.ESCALATIONS, root) is None


async def test_the_schedule_survives_a_restart(store, redis_sync, settings):
    from tests.dispatcher.conftest import open_api
    async with open_api(store, settings) as api:
        manager = await api.register(regions=["110105"])
        _, _, device = await home(api, delay_s=60, contacts=[{"subscriber_id": manager["id"], "delay_s": 60}])
        root, t0 = await _alarm(api, device)
    async with open_api(store, settings) as api:               # a new process, the same Redis
        assert await _tick(api, t0 + 61) == 1
        assert len(await inbox_ids(api, manager["token"])) == 1

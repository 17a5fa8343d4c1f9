"""POST /api/v1/sensors/events: signed, timestamped, replay-protected batches; thresholds, debounce, all-clear."""
from __future__ import annotations

import dataclasses
import time

import pytest

from .helpers import KEY, drain, home, inbox_ids, post_events


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, sensor_keys=(("acme", KEY),), approval_severities=("Extreme",))


async def test_batches_must_be_signed_fresh_and_new(api):
    _, _, device = await home(api)
    ev = [{"device_id": device, "value": 10}]
    assert (await post_events(api, ev))[0] == 200
    cases = [
        (dict(signature="sha256=" + "0" * 64), 401, "X-Warncast-Signature"),
        (dict(key="another-platform-key-0123456789"), 401, "X-Warncast-Signature"),
        (dict(platform="mallory"), 401, "X-Warncast-Platform"),
        (dict(ts=str(int(time.time()) - 301)), 401, "X-Warncast-Timestamp"),
        (dict(ts=str(int(time.time()) + 301)), 401, "X-Warncast-Timestamp"),
        (dict(ts="soon"), 401, "X-Warncast-Timestamp"),
    ]
    for kw, status, field in cases:
        got, body = await post_events(api, ev, **kw)
        assert (got, body["errors"][0]["field"]) == (status, field), kw
        assert KEY not in str(body)


async def test_a_replayed_batch_is_refused(api):
    _, _, device = await home(api)
    ev = [{"device_id": device, "value": 10}]
    assert (await post_events(api, ev, batch_id="batch-7"))[0] == 200
    status, body = await post_events(api, ev, batch_id="batch-7")
    assert status == 409 and body["errors"][0]["field"] == "batch_id"


async def test_a_batch_holds_at_most_1000_events(api):
    _, _, device = await home(api)
    status, body = await post_events(api, [{"device_id": device, "value": 1}] * 1001)
    assert status == 413 and body["errors"][0]["field"] == "events"
    status, body = await post_events(api, [{"device_id": device, "value": 1}] * 1000)
    assert status == 200 and body["accepted"] == 1000


async def test_good_events_are_taken_and_bad_ones_reported_by_index(api):
    _, subs, device = await home(api)
    status, body = await post_events(api, [
        {"device_id": device, "value": 160},
        {"device_id": "no-such-device", "value": 200},
        {"device_id": device, "value": "high"},
        {"device_id": device, "value": 10, "at": time.time() + 3600},
        {"device_id": device, "value": 10, "colour": "red"},
        "reading"])
    assert status == 200
    assert body["accepted"] == 1
    assert [(r["index"], r["errors"][0]["field"]) for r in body["rejected"]] == [
        (1, "events[1].device_id"), (2, "events[2].value"), (3, "events[3].at"), (4, "events[4].colour"), (5, "events[5]")]
    assert [a["action"] for a in body["alerts"]] == ["open"]
    await drain(api)
    assert body["alerts"][0]["alert_id"] in await inbox_ids(api, subs[0]["token"])


async def _cap(api, alert_id):
    _, got = await api.call("GET", f"/api/v1/alerts/{alert_id}", "operator")
    return got


async def test_one_incident_is_one_alert_then_updates_and_an_all_clear(api):
    _, subs, device = await home(api)
    stranger = await api.register(regions=["110105"])
    actions = []
    for value in (60, 70, 55, 160, 170, 155, 45, 42, 30, 20):       # warning, flapping, alarm, hysteresis, clear
        status, body = await post_events(api, [{"device_id": device, "value": value}])
        assert status == 200, body
        actions += [(value, a["action"], a["level"]) for a in body["alerts"]]
    assert actions == [(60, "open", "warning"), (160, "raise", "alarm"), (30, "clear", "clear")]
    await drain(api)
    opened, raised, cleared = await _chain(api, subs)
    assert opened["msgType"] == "Alert" and opened["severity"] == "Moderate" and opened["scope"] == "Private"
    assert opened["cap"]["addresses"] == " ".join(str(s["id"]) for s in subs)
    assert raised["msgType"] == "Update" and raised["severity"] == "Extreme"
    assert cleared["msgType"] == "Update" and cleared["urgency"] == "Past"
    assert "解除" in cleared["headline"] and cleared["cap"]["info"][0]["responseType"] == ["AllClear"]
    assert raised["references"] == [opened["id"]] and cleared["references"] == [raised["id"]]
    assert await inbox_ids(api, stranger["token"]) == []
    assert (await _cap(api, raised["id"]))["escalation"]["state"] == "cleared"


async def _chain(api, subs):
    ids = sorted(await inbox_ids(api, subs[0]["token"]))
    return [await _cap(api, a) for a in ids]


async def test_a_new_incident_after_an_all_clear_is_a_new_alert(api):
    _, _, device = await home(api)
    got = []
    for batch in ([{"device_id": device, "value": 200}], [{"device_id": device, "value": 5}],
                  [{"device_id": device, "value": 200}]):
        got += [a["action"] for a in (await post_events(api, batch))[1]["alerts"]]
    assert got == ["open", "clear", "open"]


async def test_readings_in_one_batch_are_taken_in_time_order(api):
    _, _, device = await home(api)
    now = time.time()
    status, body = await post_events(api, [{"device_id": device, "value": 5, "at": now - 1},
                                           {"device_id": device, "value": 300, "at": now - 3},
                                           {"device_id": device, "value": 300, "at": now - 2}])
    got = sorted(body["alerts"], key=lambda a: a["alert_id"])         # in the order they were issued
    assert [(a["index"], a["action"]) for a in got] == [(1, "open"), (0, "clear")]


async def test_an_alarm_is_never_held_for_approval(api):
    _, _, device = await home(api)
    _, body = await post_events(api, [{"device_id": device, "value": 500}])
    got = await _cap(api, body["alerts"][0]["alert_id"])
    assert got["severity"] == "Extreme" and got["lifecycle"] in ("sending", "done")


async def test_device_thresholds_can_be_set_per_device(api):
    _, _, device = await home(api)
    status, d = await api.call("PATCH", f"/api/v1/devices/{device}", "operator", json={"thresholds": {"warning": 30}})
    assert status == 200 and (d["warning"], d["alarm"]) == (30, 150)
    _, body = await post_events(api, [{"device_id": device, "value": 35}])
    assert [a["level"] for a in body["alerts"]] == ["warning"]
    status, err = await api.call("PATCH", f"/api/v1/devices/{device}", "operator", json={"thresholds": {"warning": 500}})
    assert status == 400 and err["errors"][0]["field"] == "thresholds"


async def test_an_alarm_that_could_not_be_published_is_raised_again_by_the_next_reading(api, monkeypatch):
    from dispatcher.api import sensor_publish
    from dispatcher.errors import Unavailable
    _, _, device = await home(api)
    real, real_many = sensor_publish.admit, sensor_publish.admit_many

    async def down(*a, **kw):
        raise Unavailable("Redis went away")
    monkeypatch.setattr(sensor_publish, "admit", down)
    monkeypatch.setattr(sensor_publish, "admit_many", down)      # the batch fails, then each alone
    status, body = await post_events(api, [{"device_id": device, "value": 400}])
    assert status == 200 and body["alerts"][0]["error"] == "Redis went away"
    monkeypatch.setattr(sensor_publish, "admit", real)
    monkeypatch.setattr(sensor_publish, "admit_many", real_many)
    _, body = await post_events(api, [{"device_id": device, "value": 400}])
    assert [a["action"] for a in body["alerts"]] == ["open"] and body["alerts"][0]["alert_id"]


async def test_households_external_id_can_change(api):
    h, _, _ = await home(api)
    await api.call("PATCH", f"/api/v1/households/{h['id']}", "operator", json={"external_id": "old"})
    await api.call("PATCH", f"/api/v1/households/{h['id']}", "operator", json={"external_id": "new"})
    status, out = await api.call("POST", "/api/v1/households:import", "operator",
                                 data=f'{{"external_id": "old", "members": {h["members"]}}}\n'.encode(),
                                 headers={"Content-Type": "application/x-ndjson"})
    assert status == 200 and out["created"] == 1            # "old" no longer names the first household

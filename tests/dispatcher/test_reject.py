"""An operator can refuse a held alert: it is never sent, and its issuer reads who refused it and why."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import orjson
import pytest

from dispatcher import keys
from dispatcher.alerts import AlertStore, Lifecycle
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json


@pytest.fixture
async def held_api(store, redis_sync, settings):
    async with open_api(store, replace(settings, approval_severities=("Extreme",))) as api:
        yield api


async def publish_held(api) -> int:
    status, body = await api.publish(cap_json(codes=["110105"], severity="Extreme"))
    assert status == 202 and body["lifecycle"] == "held"
    return body["id"]


async def test_rejected_alert_is_never_sent_and_the_issuer_reads_why(held_api, redis_sync):
    api = held_api
    sub = await api.register(regions=["110105"])
    alert_id = await publish_held(api)
    status, body = await api.call("POST", f"/api/v1/alerts/{alert_id}/reject", "operator",
                                  json={"reason": "wrong district: the storm is over Haidian"})
    assert status == 200
    assert body["lifecycle"] == "rejected"
    assert body["rejection"]["by"] == "ops"
    assert body["rejection"]["reason"] == "wrong district: the storm is over Haidian"
    status, seen = await api.call("GET", f"/api/v1/alerts/{alert_id}", "issuer")
    assert status == 200 and seen["lifecycle"] == "rejected"
    assert seen["rejection"]["reason"] == "wrong district: the storm is over Haidian"
    status, listed = await api.call("GET", "/api/v1/alerts", "issuer")
    assert [(a["id"], a["lifecycle"], a["rejection"]["by"]) for a in listed["alerts"]] == [(alert_id, "rejected", "ops")]
    status, _ = await api.call("POST", f"/api/v1/alerts/{alert_id}/approve", "operator")
    assert status == 409                                      # too late to approve it now
    await api.drain()
    _, inbox = await api.call("GET", "/api/v1/inbox", sub["token"])
    assert inbox["alerts"] == []
    assert redis_sync.zscore(keys.ACTIVE_ALERTS, alert_id) is None
    audit = [orjson.loads(e[b"what"]) for _, e in redis_sync.xrange(keys.AUDIT) if e[b"action"] == b"alert.rejected"]
    assert audit == [{"alert": alert_id, "identifier": audit[0]["identifier"],
                      "reason": "wrong district: the storm is over Haidian"}]


@pytest.mark.parametrize("who, body, status, field", [
    ("issuer", {"reason": "no"}, 403, None),
    ("operator", {}, 400, "reason"),
    ("operator", {"reason": "   "}, 400, "reason"),
    ("operator", {"reason": 7}, 400, "reason"),
    ("operator", {"reason": "x" * 2001}, 400, "reason"),
    (None, {"reason": "no"}, 401, None),
])
async def test_reject_checks_the_caller_and_the_reason(held_api, who, body, status, field):
    alert_id = await publish_held(held_api)
    got, answer = await held_api.call("POST", f"/api/v1/alerts/{alert_id}/reject", who, json=body)
    assert got == status, answer
    if field:
        assert [e["field"] for e in answer["errors"]] == [field]
    _, seen = await held_api.call("GET", f"/api/v1/alerts/{alert_id}", "admin")
    assert seen["lifecycle"] == "held"


async def test_only_a_held_alert_can_be_rejected(api):
    status, body = await api.publish(cap_json(codes=["110105"]))
    assert status == 202
    got, answer = await api.call("POST", f"/api/v1/alerts/{body['id']}/reject", "operator", json={"reason": "late"})
    assert got == 409 and "not waiting for approval" in answer["error"]
    got, _ = await api.call("POST", "/api/v1/alerts/999999/reject", "operator", json={"reason": "late"})
    assert got == 404


async def test_approve_and_reject_at_once_exactly_one_wins(held_api, redis_aio):
    alert_id = await publish_held(held_api)
    a, b = AlertStore(redis_aio), AlertStore(redis_aio)
    results = await asyncio.gather(a.approve(alert_id, "ops"), b.reject(alert_id, "ops2", "duplicate"),
                                   return_exceptions=True)
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1
    assert {r.lifecycle for r in wins} <= {Lifecycle.SENDING, Lifecycle.REJECTED}
    assert (await AlertStore(redis_aio).lifecycle(alert_id)) is wins[0].lifecycle

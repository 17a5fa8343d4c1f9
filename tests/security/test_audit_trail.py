"""The audit trail: every key and alert action, delegation, import and approval-rule change
leaves exactly one entry with who (key id and name), when, from where and what; operators read
it over the API (paginated, filtered by action) and export it as NDJSON."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from click.testing import CliRunner

from dispatcher import audit
from dispatcher.api import context as ctx
from dispatcher.cli import main as cli
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json


async def _entries(api, action):
    status, body = await api.call("GET", f"/api/v1/audit?action={action}", "operator")
    assert status == 200, body
    return body["entries"]


async def _one(api, action, remote="127.0.0.1", **what):
    entries = await _entries(api, action)
    assert len(entries) == 1, entries
    e = entries[0]
    for k, v in what.items():
        assert e["what"][k] == v, (k, e)
    assert e["remote"] == remote and abs(e["t"] - time.time()) < 300
    return e


async def test_key_actions_leave_one_entry_each(api):
    before = time.time()
    _, created = await api.call("POST", "/api/v1/keys", json={"name": "chaoyang", "role": "issuer",
                                                               "scopes": ["110105"], "org": "chaoyang-gov"})
    key_id = created["key"]["id"]
    await api.call("POST", f"/api/v1/keys/{key_id}/rotate")
    await api.call("POST", f"/api/v1/keys/{key_id}/revoke")
    e = await _one(api, "key.created", key=key_id, org="chaoyang-gov", role="issuer")
    admin = await api.app[ctx.KEYS].authenticate(api.keys["admin"])
    assert e["key_id"] == admin.key_id and e["name"] == "root" and e["t"] >= before - 1
    await _one(api, "key.rotated", key=key_id)
    await _one(api, "key.revoked", key=key_id)
    assert created["secret"] not in json.dumps(await _entries(api, "key.created"))


async def test_alert_actions_leave_one_entry_each(store, redis_sync, settings):
    settings = dataclasses.replace(settings, approval_severities=("Extreme",))
    async with open_api(store, settings) as api:
        _, held = await api.publish(cap_json(severity="Extreme", urgency="Immediate"))
        assert held["lifecycle"] == "held"
        assert (await api.call("POST", f"/api/v1/alerts/{held['id']}/approve", "operator"))[0] == 202
        _, refused = await api.publish(cap_json(severity="Extreme", urgency="Immediate"))
        status, body = await api.call("POST", f"/api/v1/alerts/{refused['id']}/reject", "operator",
                                      json={"reason": "wrong district"})
        assert status == 200, body
        _, other = await api.publish(cap_json())
        assert (await api.call("POST", f"/api/v1/alerts/{other['id']}/delegate", "operator",
                               json={"org": "beijing-city"}))[0] == 200
        status, cancel = await api.call("POST", f"/api/v1/alerts/{other['id']}/cancel")
        assert status == 202, cancel
        published = await _entries(api, "alert.published")
        assert sorted(e["what"]["alert"] for e in published) == [held["id"], refused["id"], other["id"]]
        issuer = await api.app[ctx.KEYS].authenticate(api.keys["issuer"])
        assert {e["key_id"] for e in published} == {issuer.key_id} and published[0]["name"] == "bjmb"
        await _one(api, "alert.approved", alert=held["id"])
        await _one(api, "alert.rejected", alert=refused["id"], reason="wrong district")
        await _one(api, "alert.delegated", alert=other["id"], org="beijing-city")
        await _one(api, "alert.cancelled", alert=cancel["id"], references=[other["id"]])
        await _one(api, "approval-rule.changed", remote="environment", severities=["Extreme"])
    async with open_api(store, settings) as again:          # the same rule on restart is no change
        assert len(await _entries(again, "approval-rule.changed")) == 1


async def test_an_import_leaves_one_entry(api):
    ndjson = b'{"regions": ["110105"]}\n{"regions": ["110108"]}\n'
    status, body = await api.call("POST", "/api/v1/subscribers:import", "operator", data=ndjson,
                                  headers={"Content-Type": "application/x-ndjson"})
    assert status == 200, body
    await _one(api, "subscribers.imported", imported=2)


async def test_the_trail_is_paginated_filtered_and_for_operators(api):
    redis = api.app[ctx.REDIS]
    for i in range(7):
        await audit.record(redis, audit.Action.ALERT_PUBLISHED, "test", "192.0.2.7", alert=i)
        await audit.record(redis, audit.Action.KEY_CREATED, "test", "192.0.2.7", key=i)
    seen, cursor = [], None
    while True:
        query = "action=alert.published&limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.call("GET", f"/api/v1/audit?{query}", "admin")
        assert status == 200 and len(page["entries"]) <= 3
        seen += [e["what"]["alert"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0]
    assert (await api.call("GET", "/api/v1/audit", "issuer"))[0] == 403
    for bad in ("action=nope", "cursor=--1", "limit=0", "cursor=x-1"):
        status, body = await api.call("GET", f"/api/v1/audit?{bad}", "operator")
        assert status == 400, (bad, body)


async def test_the_command_line_exports_ndjson_and_records_its_own_actions(api, tmp_path):
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["keys", "create", "--name", "cli-made",
                                                              "--role", "operator"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "audit.ndjson"
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "--export", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    made = [e for e in lines if e["action"] == "key.created"]
    assert len(made) == 1 and made[0]["what"]["name"] == "cli-made" and made[0]["remote"] == "local"
    assert made[0]["name"].startswith("cli")
    shown = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "--action", "key.created"])
    assert shown.exit_code == 0 and "cli-made" in shown.output

"""The operator's live dashboard stream and failure drill-down, over HTTP against the simulators."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import orjson
import pytest

from loadtest.simulators.base import Faults
from tests.dispatcher.conftest import open_api
from tests.dispatcher.test_channel_flow import _open
from tests.factories import cap_json

DISTRICTS = ("110105", "110108")


def _ndjson(n: int, channels=("inapp",), phone_base: int = 0) -> bytes:
    rows = []
    for i in range(n):
        row = {"regions": [DISTRICTS[i % 2] + "001"], "channels": list(channels)}
        if "sms" in channels:
            row["endpoints"] = {"sms": f"+86139{phone_base + i:08d}"}
        rows.append(orjson.dumps(row))
    return b"\n".join(rows) + b"\n"


async def _import(api, n: int, **kw) -> None:
    status, report = await api.call("POST", "/api/v1/subscribers:import", "operator", data=_ndjson(n, **kw),
                                    headers={"Content-Type": "application/x-ndjson"})
    assert status == 200, report


async def events(api, who="operator", path="/console/api/live"):
    """The stream's events as (name, data), one at a time."""
    async with api.session.get(api.url + path, headers=api.headers(who)) as resp:
        assert resp.status == 200, await resp.text()
        name = None
        async for line in resp.content:
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                yield name, orjson.loads(line[6:])


async def follow(api, until, timeout=20.0):
    """Apply the stream's events to a local copy of the alerts (as the page does) until ``until(alerts,
    rates)`` holds; returns them."""
    alerts: dict[str, dict] = {}
    rates: dict[str, list] = {}
    deadline = time.monotonic() + timeout

    async def run():
        async for name, data in events(api):
            if name == "snapshot":
                alerts.update(data["alerts"])
                for a, points in data["series"].items():
                    rates.setdefault(a, []).extend(p for _, p in points)
            elif name == "tick":
                merge(alerts, data)
                for a, point in data["rates"].items():
                    rates.setdefault(a, []).append(point)
            if until(alerts, rates):
                return alerts, rates
    return await asyncio.wait_for(run(), max(0.1, deadline - time.monotonic()))


def merge(alerts: dict, tick: dict) -> None:
    for a, d in tick["alerts"].items():
        row = alerts.setdefault(a, {})
        for k, v in d.items():
            if k in ("channels", "districts"):
                row.setdefault(k, {}).update(v)
            else:
                row[k] = v
    for a in tick["removed"]:
        alerts.pop(str(a), None)


@pytest.fixture
def fast(settings):
    return replace(settings, live_tick_s=0.1)


async def test_the_dashboard_follows_a_fan_out_to_the_end(store, redis_sync, fast):
    async with open_api(store, fast) as api:
        await _import(api, 300)
        status, alert = await api.publish(cap_json(codes=["11"]))
        assert status == 202
        aid = str(alert["id"])

        def done(alerts, rates):
            row = alerts.get(aid)
            return bool(row and row["lifecycle"] == "done" and row["districts"]
                        and sum(d[1] for d in row["districts"].values()) == 300)
        alerts, rates = await follow(api, done)
        row = alerts[aid]
        assert row["targeted"] == 300 and row["channels"]["inapp"]["sent"] == 300
        assert row["headline"] == "暴雨橙色预警" and row["severity"] == "Severe"
        assert row["districts"] == {"110105": [150, 150], "110108": [150, 150]}
        assert row["latency_ms"]["sent"]["p50"] is not None
        assert sum(p.get("inapp", 0) for p in rates[aid]) > 0        # the chart has points


async def test_every_dashboard_gets_the_same_reading(store, redis_sync, fast):
    async with open_api(store, fast) as api:
        from dispatcher.web.console_live import LIVE_HUB
        hub = api.app[LIVE_HUB]
        reads = 0
        real = hub.reader.read

        async def counted(**kw):
            nonlocal reads
            reads += 1
            return await real(**kw)
        hub.reader.read = counted
        listeners = [hub.connect() for _ in range(20)]
        first = hub.ticks
        while hub.ticks < first + 3:
            await asyncio.sleep(0.05)
        ticks = hub.ticks - first
        got = [[lst.queue.get_nowait() for _ in range(lst.queue.qsize())] for lst in listeners]
        for lst in listeners:
            hub.disconnect(lst)
        assert reads <= ticks + 1                    # one reading per tick, not one per dashboard
        assert all(g[1:] == got[0][1:] for g in got)  # every dashboard got the same events
        assert all(g[0].startswith(b"event: snapshot") for g in got)


async def test_only_operators_open_the_dashboard(store, redis_sync, settings):
    async with open_api(store, settings) as api:
        status, body = await api.call("GET", "/console/api/live", "issuer")
        assert status == 403 and "operator" in body["error"]
        status, body = await api.call("GET", "/console/api/live", None)
        assert status == 401
        status, body = await api.call("GET", "/console/api/health", "issuer")
        assert status == 403


async def test_dashboards_are_bounded(store, redis_sync, settings):
    async with open_api(store, replace(settings, live_streams=1, stream_limit=0)) as api:
        stream = events(api)
        name, _ = await stream.__anext__()
        assert name == "snapshot"
        status, body = await api.call("GET", "/console/api/live", "operator")
        assert status == 429 and "dashboards" in body["error"]
        await stream.aclose()


async def test_drill_down_and_retry_these(store, redis_sync, settings, monkeypatch):
    faults = {"sms": Faults(error_rates={"400": 1.0})}
    sims, cm = await _open(store, replace(settings, max_attempts=1), monkeypatch, ("sms",), faults)
    try:
        async with cm as api:
            await _import(api, 60, channels=("sms",))
            status, alert = await api.publish(cap_json(codes=["11"]))
            aid = alert["id"]
            await api.drain()
            status, body = await api.call("GET", f"/console/api/alerts/{aid}/failures", "operator")
            assert status == 200
            assert body["failures"] == [{"channel": "sms", "reason": "bad_request", "count": 60}]
            seen, cursor = [], 0
            while cursor is not None:
                status, page = await api.call(
                    "GET", f"/console/api/alerts/{aid}/failures/sms/bad_request?limit=25&cursor={cursor}", "operator")
                assert status == 200 and len(page["subscribers"]) <= 25
                seen += page["subscribers"]
                cursor = page["next_cursor"]
            assert len({r["subscriber_id"] for r in seen}) == 60 and {(r["state"], r["channel"]) for r in seen} == {("sent", "inapp")}
            text = orjson.dumps(seen).decode()
            assert "+8613900000001" not in text and "00000001" not in text     # numbers are masked
            assert seen[1]["endpoint"].startswith("+86139") and "*" in seen[1]["endpoint"]
            sims.sims["sms"].faults.error_rates = {}           # the gateway is fixed
            some = [r["subscriber_id"] for r in seen[:10]]
            status, body = await api.call("POST", f"/console/api/alerts/{aid}/retry", "operator",
                                          json={"channel": "sms", "reason": "bad_request", "subscriber_ids": some})
            assert status == 200 and body["retried"] == 10
            await api.drain()
            assert len(sims.ledger("sms").recipients(aid)) == 10
            status, body = await api.call("POST", f"/console/api/alerts/{aid}/retry", "operator",
                                          json={"channel": "sms", "reason": "bad_request"})
            # the SMS reached the first ten (sent, or delivered once the gateway's report came in)
            assert body["retried"] == 50 and sum(body["skipped"].values()) == 10
            assert set(body["skipped"]) <= {"sent", "delivered"}
            await api.drain()
            assert len(sims.ledger("sms").recipients(aid)) == 60 and sims.ledger("sms").duplicates() == 0
            _, got = await api.call("GET", f"/api/v1/alerts/{aid}")
            assert got["lifecycle"] == "done" and got["stats"]["channels"]["sms"]["sent"] == 60
    finally:
        await sims.stop()


@pytest.mark.parametrize("path,body,field", [
    ("/retry", {"channel": "pigeon", "reason": "bad_request"}, "channel"),
    ("/retry", {"channel": "sms", "reason": "tired"}, "reason"),
    ("/retry", {"channel": "sms", "reason": "timeout", "subscriber_ids": ["x"]}, "subscriber_ids"),
    ("/retry", [], "body"),
])
async def test_retry_refuses_bad_input_naming_the_field(store, redis_sync, settings, path, body, field):
    async with open_api(store, settings) as api:
        await _import(api, 2)
        _, alert = await api.publish(cap_json(codes=["11"]))
        status, got = await api.call("POST", f"/console/api/alerts/{alert['id']}{path}", "operator", json=body)
        assert status == 400 and got["errors"][0]["field"] == field
        status, got = await api.call("GET", f"/console/api/alerts/{alert['id']}/failures/sms/tired", "operator")
        assert status == 404 and got["errors"][0]["field"] == "reason"
        status, got = await api.call("GET", "/console/api/alerts/999/failures", "operator")
        assert status == 404


async def test_health_lists_providers_queues_workers_and_pending(store, redis_sync, settings, monkeypatch):
    sims, cm = await _open(store, settings, monkeypatch, ("sms",), {})
    try:
        async with cm as api:
            status, body = await api.call("GET", "/console/api/health", "operator")
            assert status == 200
            assert [p["provider"] for p in body["providers"]] == ["sms"]
            assert body["providers"][0]["state"] == "closed" and body["providers"][0]["quota_per_s"] > 0
            assert [q["lane"] for q in body["queues"]] == ["immediate", "high", "normal"]
            assert body["workers"][0]["kind"] == "embedded" and body["workers"][0]["last_heartbeat"] > 0
            assert body["pending"] == []
    finally:
        await sims.stop()

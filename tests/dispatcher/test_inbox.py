"""The in-app channel: inbox, live stream, device acknowledgements."""
import asyncio

import orjson
import pytest
from aiohttp import web

from tests.dispatcher.conftest import open_api
from tests.factories import cap_json


async def _read_events(resp, n: int) -> list[dict]:
    events, data = [], None
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data = orjson.loads(line[6:])
        elif line == "" and data is not None:
            events.append(data)
            data = None
            if len(events) == n:
                return events
    return events


async def test_stream_delivers_live_and_acks_move_the_state(api):
    sub = await api.register(regions=["110105"], language="en")
    other = await api.register(regions=["110108"])
    headers = api.headers(sub["token"])
    async with api.session.get(api.url + "/api/v1/inbox/stream", headers=headers) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        await resp.content.readline()                                  # retry: …
        _, alert = await api.publish(cap_json(codes=["110105"]))
        _, unrelated = await api.publish(cap_json(codes=["110108"]))
        (event,) = await asyncio.wait_for(_read_events(resp, 1), 5)
    assert event["alert_id"] == alert["id"]
    assert event["title"] == "Rainstorm warning"                     # the subscriber's language
    await api.drain()
    for status in ("delivered", "read", "confirmed"):
        code, out = await api.call("POST", "/api/v1/receipts", sub["token"],
                                   json={"alert_id": alert["id"], "status": status})
        assert code == 200 and out["receipts"][0] == {"alert_id": alert["id"], "state": status, "changed": True}
    code, out = await api.call("POST", "/api/v1/receipts", sub["token"], json={"alert_id": alert["id"], "status": "read"})
    assert out["receipts"][0] == {"alert_id": alert["id"], "state": "confirmed", "changed": False}  # never back
    _, stats = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
    inapp = stats["stats"]["channels"]["inapp"]
    assert (inapp["sent"], inapp["delivered"], inapp["read"], inapp["confirmed"]) == (1, 1, 1, 1)
    assert stats["stats"]["latency_ms"]["confirmed"]["p50"] is not None
    code, out = await api.call("POST", "/api/v1/receipts", other["token"],
                               json={"alert_id": alert["id"], "status": "delivered"})
    assert out["receipts"][0]["changed"] is False                    # it was never sent to them


async def test_inbox_lists_what_reached_the_subscriber_newest_first(api):
    sub = await api.register(regions=["110105001"])
    _, a1 = await api.publish(cap_json(codes=["110105"]))
    await api.drain()
    _, a2 = await api.publish(cap_json(codes=["11"]))
    _, a3 = await api.publish(cap_json(codes=["110106"]))
    await api.drain()
    _, inbox = await api.call("GET", "/api/v1/inbox", sub["token"])
    assert [a["alert_id"] for a in inbox["alerts"]] == [a2["id"], a1["id"]]
    assert inbox["alerts"][0]["state"] == "sent"


async def test_bad_receipts_name_the_field(api):
    sub = await api.register(regions=["110105"])
    code, err = await api.call("POST", "/api/v1/receipts", sub["token"], json={"alert_id": "1", "status": "seen"})
    assert code == 400 and err["errors"][0]["field"] == "receipts[0]"
    code, err = await api.call("POST", "/api/v1/receipts", "operator", json={"alert_id": 1, "status": "read"})
    assert code == 400 and "subscriber" in err["error"]


@pytest.mark.parametrize("fmt", ["cap", "json"])
async def test_webhook_receives_the_alert(store, redis_sync, settings, fmt):
    received = []

    async def hook(request):
        received.append((request.headers["Content-Type"], await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/cap", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    from dataclasses import replace
    try:
        async with open_api(store, replace(settings, webhook_urls=(f"http://127.0.0.1:{port}/cap",),
                                           webhook_format=fmt)) as api:
            await api.register(regions=["110105"])
            _, alert = await api.publish(cap_json(codes=["110105"]))
            await api.drain()
            _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
    finally:
        await runner.cleanup()
    assert len(received) == 1
    ctype, payload = received[0]
    if fmt == "cap":
        assert ctype.startswith("application/cap+xml")
        assert b"urn:oasis:names:tc:emergency:cap:1.2" in payload and alert["identifier"].encode() in payload
    else:
        doc = orjson.loads(payload)
        assert ctype.startswith("application/json")
        assert doc["title"] == "暴雨橙色预警" and doc["body"] == "测试区域：请注意防范"
        assert doc["identifier"] == alert["identifier"] and doc["severity"] == "Severe"
    assert got["stats"]["channels"]["webhook"]["sent"] == 1

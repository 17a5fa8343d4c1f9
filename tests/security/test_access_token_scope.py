"""?access_token= carries a subscriber token to the inbox stream only: API keys in a URL (logged
by proxies, kept in browser history) are refused everywhere."""
from __future__ import annotations

import aiohttp

from tests.factories import cap_json


async def test_api_keys_in_the_query_string_are_refused(api):
    _, alert = await api.publish(cap_json())
    for who in ("admin", "operator", "issuer"):
        key = api.keys[who]
        for path in ("/api/v1/inbox/stream", f"/api/v1/alerts/{alert['id']}/events", "/api/v1/alerts",
                     "/api/v1/stats"):
            status, body = await api.call("GET", f"{path}?access_token={key}", None)
            assert status == 401, (who, path, body)


async def test_subscriber_tokens_in_the_query_string_work_on_the_inbox_stream_only(api):
    sub = await api.register(regions=["110105"])
    status, _ = await api.call("GET", f"/api/v1/inbox?access_token={sub['token']}", None)
    assert status == 401
    status, _ = await api.call("GET", f"/api/v1/subscribers/{sub['id']}?access_token={sub['token']}", None)
    assert status == 401
    timeout = aiohttp.ClientTimeout(total=10)
    async with api.session.get(f"{api.url}/api/v1/inbox/stream?access_token={sub['token']}", timeout=timeout) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        assert b"connected" in await r.content.readuntil(b"\n\n")

"""Event streams are bounded: a credential holds at most WARNCAST_STREAM_LIMIT streams open (429
beyond), and a held alert's progress stream ends with a ``held`` event instead of running forever."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import orjson

from dispatcher.alerts import Lifecycle
from dispatcher.api.issuer import _stream_end
from tests.dispatcher.conftest import open_api, settings  # noqa: F401  (fixtures)
from tests.factories import cap_json


async def _open_stream(api, token: str):
    """An inbox stream once the server has said it is connected (or the refusal)."""
    resp = await api.session.get(api.url + "/api/v1/inbox/stream", headers=api.headers(token))
    if resp.status == 200:
        await asyncio.wait_for(resp.content.readuntil(b": connected\n\n"), 10)
    return resp


async def test_a_token_holds_a_bounded_number_of_streams(store, redis_sync, settings):
    async with open_api(store, replace(settings, stream_limit=2)) as api:
        sub = await api.register(regions=["110105"])
        other = await api.register(regions=["110105"])
        first, second = await _open_stream(api, sub["token"]), await _open_stream(api, sub["token"])
        assert first.status == second.status == 200
        third = await _open_stream(api, sub["token"])
        assert third.status == 429 and int(third.headers["Retry-After"]) > 0
        assert (await third.json())["errors"][0]["field"] == "Authorization"
        assert (await _open_stream(api, other["token"])).status == 200      # per token, not global
        first.close()
        deadline = time.monotonic() + 10
        while True:                                                         # its slot is freed once it ends
            again = await _open_stream(api, sub["token"])
            if again.status == 200:
                break
            assert time.monotonic() < deadline, "a closed stream's slot was never freed"
            again.release()
            await asyncio.sleep(0.05)


async def test_a_held_alerts_progress_stream_ends(store, redis_sync, settings):
    async with open_api(store, replace(settings, approval_severities=("Extreme",))) as api:
        await api.register(regions=["110105"])
        status, held = await api.publish(cap_json(codes=["110105"], severity="Extreme"))
        assert status == 202 and held["lifecycle"] == "held"

        async def read_all() -> bytes:
            async with api.session.get(api.url + f"/api/v1/alerts/{held['id']}/events",
                                       headers=api.headers("issuer")) as resp:
                assert resp.status == 200
                return await resp.read()

        body = await asyncio.wait_for(read_all(), 10)
        events = [block for block in body.decode().split("\n\n") if block.strip()]
        last = dict(line.split(": ", 1) for line in events[-1].splitlines())
        assert last["event"] == "held"
        assert orjson.loads(last["data"])["lifecycle"] == "held"


def test_a_progress_stream_ends_at_its_time_limit():
    assert _stream_end(Lifecycle.SENDING, timed_out=False) is None
    assert _stream_end(Lifecycle.SENDING, timed_out=True)[0] == "closed"
    assert _stream_end(Lifecycle.DONE, timed_out=False)[0] == "done"

"""Following an upstream CAP feed: one warncast publishes, another follows its Atom feed and reaches its own
subscribers; nothing twice after a restart; outside the issuer's scope is skipped; garbage is survived."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from pathlib import Path

import pytest
from aiohttp import web

from dispatcher.follow import FeedError, entry_links
from dispatcher.store import start_embedded
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _until(check, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _two(store, settings, tmp_path: Path, follower_issuer: str = "bjmb"):
    port = _free_port()
    upstream_settings = dataclasses.replace(settings, public_url=f"http://127.0.0.1:{port}")
    other = start_embedded(tmp_path / "downstream")
    try:
        async with open_api(store, upstream_settings, port=port) as upstream:
            feed = f"{upstream.url}/cap/feed.atom"
            down_settings = dataclasses.replace(settings, data_dir=tmp_path / "downstream",
                                                follow=((feed, follower_issuer),), follow_interval_s=0.1)
            yield upstream, other, down_settings
    finally:
        other.close()


async def _sent_to(api, subscriber_id: int) -> list[dict]:
    _, listing = await api.call("GET", "/api/v1/alerts")
    out = []
    for alert in listing["alerts"]:
        _, page = await api.call("GET", f"/api/v1/alerts/{alert['id']}/deliveries?state=sent")
        if subscriber_id in {d["subscriber_id"] for d in page["deliveries"]}:
            out.append(alert)
    return out


async def test_a_followed_feed_reaches_the_followers_subscribers_within_5_s(store, redis_sync, settings, tmp_path):
    async with _two(store, settings, tmp_path) as (upstream, other, down_settings):
        async with open_api(other, down_settings) as downstream:
            sub = await downstream.register(regions=["110105"])
            started = time.monotonic()
            status, published = await upstream.publish(cap_json(codes=["110105"]))
            assert status == 202
            reached = await _until(lambda: _sent_to(downstream, sub["id"]), 5.0)
            assert time.monotonic() - started < 5.0
            assert reached[0]["identifier"] == published["identifier"]
        async with open_api(other, down_settings) as again:  # a restart sends nothing twice
            status, second = await upstream.publish(cap_json(codes=["110105"]))
            assert status == 202
            reached = await _until(lambda: _reached_twice(again, sub["id"]), 5.0)
            assert sorted(a["identifier"] for a in reached) == sorted([published["identifier"],
                                                                       second["identifier"]])
            _, listing = await again.call("GET", "/api/v1/alerts")
            assert len(listing["alerts"]) == 2


async def _reached_twice(api, subscriber_id: int):
    found = await _sent_to(api, subscriber_id)
    return found if len(found) >= 2 else None


async def test_the_feed_answers_304_to_an_unchanged_etag(api):
    await api.publish(cap_json())
    async with api.session.get(f"{api.url}/cap/feed.atom") as resp:
        etag = resp.headers["ETag"]
    async with api.session.get(f"{api.url}/cap/feed.atom", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    await api.publish(cap_json())
    async with api.session.get(f"{api.url}/cap/feed.atom", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 200


async def test_messages_outside_the_issuers_scope_are_skipped(store, redis_sync, settings, tmp_path):
    async with _two(store, settings, tmp_path, follower_issuer="chaoyang-emergency") as (upstream, other, down):
        async with open_api(other, down) as downstream:
            inside = await downstream.register(regions=["110105"])
            await upstream.publish(cap_json(codes=["110108"]))
            status, wanted = await upstream.publish(cap_json(codes=["110105"]))
            assert status == 202
            await _until(lambda: _sent_to(downstream, inside["id"]), 5.0)
            _, listing = await downstream.call("GET", "/api/v1/alerts")
            assert [a["identifier"] for a in listing["alerts"]] == [wanted["identifier"]]


GARBAGE = [b"", b"not xml at all", b"<html><body>502 Bad Gateway</body></html>",
           b'<!DOCTYPE feed [<!ENTITY x "y">]><feed xmlns="http://www.w3.org/2005/Atom"/>']


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_indexes_are_feed_errors(body):
    with pytest.raises(FeedError):
        entry_links(body, "http://upstream.example/feed")


INDEXES = [
    ("atom cap link", b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="alternate" '
     b'type="application/cap+xml" href="/cap/2.xml"/></entry><entry><link href="/cap/1.xml" '
     b'type="application/cap+xml"/></entry></feed>', ["http://up.example/cap/1.xml", "http://up.example/cap/2.xml"]),
    ("rss item links", b"<rss><channel><item><link>http://up.example/b.cap</link></item>"
     b"<item><link>http://up.example/a.cap</link></item></channel></rss>",
     ["http://up.example/a.cap", "http://up.example/b.cap"]),
]


@pytest.mark.parametrize("case,index,links", INDEXES, ids=[i[0] for i in INDEXES])
def test_index_links_oldest_first(case, index, links):
    assert entry_links(index, "http://up.example/feed.atom") == links


async def test_an_upstream_that_fails_then_recovers_is_followed(store, redis_sync, settings, tmp_path):
    """Slow (no answer within the timeout), down (500), then garbage, then a real feed: the follower backs
    off and then dispatches."""
    never = asyncio.Event()
    answers = ["hang", web.Response(status=500), web.Response(body=b"garbage")]
    real: dict = {}

    async def index(request):
        if answers:
            answer = answers.pop(0)
            if answer == "hang":
                await never.wait()  # cancelled when the follower gives up and disconnects
                return web.Response(status=504)
            return answer
        return web.Response(body=real["feed"], content_type="application/atom+xml")

    async def entry(request):
        return web.Response(body=real["cap"], content_type="application/cap+xml")

    app = web.Application()
    app.router.add_get("/feed", index)
    app.router.add_get("/a.xml", entry)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        from dispatcher import cap
        real["cap"] = cap.to_xml(cap.parse_json(cap_json(codes=["110105"])))
        real["feed"] = (f'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link type="application/cap+xml" '
                        f'href="http://127.0.0.1:{port}/a.xml"/></entry></feed>').encode()
        follow = dataclasses.replace(settings, follow=((f"http://127.0.0.1:{port}/feed", "bjmb"),),
                                     follow_interval_s=0.05)
        async with open_api(store, follow) as api:
            sub = await api.register(regions=["110105"])
            await _until(lambda: _sent_to(api, sub["id"]), 15.0)
            assert answers == []
    finally:
        never.set()
        await runner.cleanup()

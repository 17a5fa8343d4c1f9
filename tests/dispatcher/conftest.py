"""An API server on loopback with the in-process pool, against the test Redis."""
from __future__ import annotations

import contextlib

import aiohttp
import pytest

from dispatcher.auth import KeyStore
from dispatcher.server import start_server
from dispatcher.settings import Settings


class Api:
    def __init__(self, url: str, session: aiohttp.ClientSession, app, keys: dict[str, str]):
        self.url, self.session, self.app, self.keys = url, session, app, keys

    def headers(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        token = self.keys.get(who, who)
        return {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, who: str | None = "admin", **kw):
        headers = {**self.headers(who), **kw.pop("headers", {})}
        async with self.session.request(method, self.url + path, headers=headers, **kw) as resp:
            ctype = resp.headers.get("Content-Type", "")
            data = await resp.json() if "json" in ctype else await resp.read()
            return resp.status, data

    async def publish(self, doc: dict, who: str = "issuer"):
        return await self.call("POST", "/api/v1/alerts", who, json=doc)

    async def register(self, **fields):
        """A subscriber as an app registers it; an SMS number is then vouched for by the operator (as a
        bulk import does), standing in for the one-time code its owner would type in."""
        status, data = await self.call("POST", "/api/v1/subscribers", None, json=fields)
        assert status == 201, data
        token = data["token"]
        if "sms" in data:
            from subscribers.model import validate
            wanted = validate(fields)
            status, data = await self.call("PATCH", f"/api/v1/subscribers/{data['id']}", "operator", json={
                "endpoints": {"sms": wanted.endpoints["sms"]}, "channels": wanted.channels})
            assert status == 200, data
            data["token"] = token
        return data

    async def drain(self):
        from dispatcher.api import context as ctx
        import asyncio
        await asyncio.sleep(0.05)
        await self.app[ctx.POOL].drain()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, workers=2, shard_size=32_768)


@contextlib.asynccontextmanager
async def open_api(store, settings, **kw):
    """The API on a free loopback port with keys for each role."""
    kw.setdefault("port", 0)
    runner, url, app = await start_server(settings, store, **kw)
    from dispatcher.api import context as ctx
    ks: KeyStore = app[ctx.KEYS]
    keys = {
        "admin": await ks.create("root", "admin"),
        "operator": await ks.create("ops", "operator"),
        "issuer": await ks.create("bjmb", "issuer", ["11"]),
        "chaoyang": await ks.create("chaoyang-emergency", "issuer", ["110105"]),
    }
    try:
        async with aiohttp.ClientSession() as session:
            yield Api(url, session, app, keys)
    finally:
        await runner.cleanup()


@pytest.fixture
async def api(store, redis_sync, settings):
    async with open_api(store, settings) as a:
        yield a

"""Failed authentications are limited per client address: after a burst, 429 with Retry-After,
shared by every API process through Redis; other addresses are not affected."""
from __future__ import annotations

import dataclasses

from dispatcher import authlimit, keys
from dispatcher.errors import TooManyRequests
from tests.dispatcher.conftest import open_api

import pytest


async def test_a_burst_of_failures_gets_429_with_retry_after(store, redis_sync, settings):
    settings = dataclasses.replace(settings, auth_failure_burst=5, auth_failure_window_s=120)
    async with open_api(store, settings) as api:
        for i in range(5):
            status, _ = await api.call("GET", "/api/v1/alerts", f"wk_guess-{i}")
            assert status == 401
        async with api.session.get(api.url + "/api/v1/alerts", headers={"Authorization": "Bearer wk_guess-5"}) as r:
            assert r.status == 429
            assert 0 < int(r.headers["Retry-After"]) <= 120
            assert (await r.json())["errors"][0]["field"] == "Authorization"
        # while refused, even a right key from that address waits: guessing gains nothing
        assert (await api.call("GET", "/api/v1/alerts", "operator"))[0] == 429
        async with open_api(store, settings) as other:          # a second process sees the same count
            assert (await other.call("GET", "/api/v1/alerts", "wk_guess-6"))[0] == 429


async def test_the_limit_is_per_client_address(redis_aio):
    for _ in range(3):
        await authlimit.failed(redis_aio, "192.0.2.1", 60)
    with pytest.raises(TooManyRequests) as refused:
        await authlimit.check(redis_aio, "192.0.2.1", 3)
    assert 0 < refused.value.retry_after_s <= 60
    await authlimit.check(redis_aio, "192.0.2.2", 3)           # another address is not affected
    assert 0 < await redis_aio.ttl(keys.auth_failures("192.0.2.1")) <= 60


async def test_successful_calls_do_not_count(store, redis_sync, settings):
    settings = dataclasses.replace(settings, auth_failure_burst=3)
    async with open_api(store, settings) as api:
        for _ in range(10):
            assert (await api.call("GET", "/api/v1/alerts", "operator"))[0] == 200
        assert redis_sync.get(keys.auth_failures("127.0.0.1")) is None

"""The bootstrap admin key is compared in constant time (hmac.compare_digest), whatever the
shape of the presented token, never with ==."""
from __future__ import annotations

import dataclasses

from dispatcher import apikeys
from tests.dispatcher.conftest import open_api

ADMIN = "bootstrap-admin-secret-0123456789"


async def test_every_presented_token_is_compared_in_constant_time(store, redis_sync, settings, monkeypatch):
    compared = []
    real = apikeys.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(apikeys.hmac, "compare_digest", spy)
    settings = dataclasses.replace(settings, admin_key=ADMIN)
    async with open_api(store, settings) as api:
        near_miss = ADMIN[:-1] + "X"                         # same length, not an API-key prefix
        assert (await api.call("GET", "/api/v1/stats", near_miss))[0] == 401
        assert (near_miss.encode(), ADMIN.encode()) in compared
        compared.clear()
        assert (await api.call("GET", "/api/v1/stats", ADMIN))[0] == 200
        assert (ADMIN.encode(), ADMIN.encode()) in compared

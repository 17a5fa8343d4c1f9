"""A CLI command attaches to the embedded Redis of a running `warncast serve` and leaves it running."""
from __future__ import annotations

import httpx
import pytest

from .processes import Serve, redis_pid


@pytest.fixture
def serve(tmp_path):
    s = Serve(tmp_path / "data")
    yield s
    s.kill()


def test_keys_create_leaves_the_servers_redis_running(serve):
    pid = redis_pid(serve.data_dir)
    assert pid is not None
    done = serve.cli("keys", "create", "--name", "chaoyang", "--role", "issuer", "--scope", "110105")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert httpx.get(f"{serve.url}/readyz", timeout=5).status_code == 200
    assert redis_pid(serve.data_dir) == pid
    # the key it created lives in the server's store and works at once
    got = httpx.get(f"{serve.url}/api/v1/alerts", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    assert got.status_code == 200, got.text


def test_subscribers_import_leaves_the_servers_redis_running(serve, tmp_path):
    people = tmp_path / "people.ndjson"
    people.write_text('{"regions": ["110105"]}\n{"regions": ["110108"]}\n')
    done = serve.cli("subscribers", "import", str(people))
    assert done.returncode == 0, done.stderr
    assert "imported 2 subscribers" in done.stdout
    assert httpx.get(f"{serve.url}/readyz", timeout=5).status_code == 200
    stats = httpx.get(f"{serve.url}/api/v1/stats", headers={"Authorization": f"Bearer {serve.env['WARNCAST_ADMIN_KEY']}"},
                      timeout=5)
    assert stats.status_code == 200, stats.text

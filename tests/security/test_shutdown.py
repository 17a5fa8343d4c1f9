"""SIGTERM and SIGINT stop `warncast serve` and `warncast worker` cleanly, embedded Redis included,
and nothing under the data dir is readable by other users."""
from __future__ import annotations

import os
import signal
import stat
import subprocess

import httpx
import pytest

from .processes import WARNCAST, Serve, alive, env_for, redis_pid, wait_for


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_its_redis_on_signal(tmp_path, sig):
    serve = Serve(tmp_path / "data")
    try:
        pid = redis_pid(serve.data_dir)
        assert pid is not None
        code = serve.stop(sig, timeout_s=10)
        assert code == 0, serve.proc.stderr.read()
        wait_for(lambda: not alive(pid), 10, "the embedded redis-server to exit")
    finally:
        serve.kill()


def test_serve_that_attached_leaves_the_owners_redis(tmp_path):
    """A second process on the same data dir attaches; stopping it does not stop the first's Redis."""
    first = Serve(tmp_path / "data")
    second = Serve(tmp_path / "data")
    try:
        pid = redis_pid(first.data_dir)
        assert second.stop(signal.SIGTERM) == 0
        assert alive(pid)
        assert httpx.get(f"{first.url}/readyz", timeout=5).status_code == 200
        assert first.stop(signal.SIGTERM) == 0
        wait_for(lambda: not alive(pid), 10, "the embedded redis-server to exit")
    finally:
        second.kill()
        first.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_worker_stops_its_redis_on_signal(tmp_path, sig):
    data = tmp_path / "data"
    proc = subprocess.Popen([WARNCAST, "worker"], env=env_for(data), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        pid = wait_for(lambda: redis_pid(data), 60, "the worker to start its embedded Redis")
        # the worker is serving once it has registered itself with RQ in that Redis
        wait_for(lambda: _rq_workers(data), 30, "the worker to register")
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        wait_for(lambda: not alive(pid), 10, "the embedded redis-server to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left = redis_pid(data)
        if left:
            os.kill(left, signal.SIGKILL)


def _rq_workers(data) -> bool:
    import redis
    from dispatcher.store import start_embedded
    store = start_embedded(data)
    try:
        client = store.sync()
        try:
            return bool(client.smembers("rq:workers"))
        finally:
            client.close()
    finally:
        store.close()


def test_data_dir_is_private(tmp_path):
    serve = Serve(tmp_path / "data")
    try:
        made = serve.cli("keys", "create", "--name", "ops", "--role", "operator")
        assert made.returncode == 0, made.stderr
        assert serve.stop(signal.SIGTERM) == 0       # the final save writes the dump too
    finally:
        serve.kill()
    seen = []
    for root, dirs, files in os.walk(serve.data_dir):
        for name in dirs + files:
            path = os.path.join(root, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            seen.append(name)
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    assert stat.S_IMODE(os.stat(serve.data_dir).st_mode) == 0o700
    assert any(n.endswith(".aof") for n in seen), seen

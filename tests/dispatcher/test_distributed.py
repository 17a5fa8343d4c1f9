"""Distributed mode: the API with no in-process fan-out, RQ worker processes sharing one Redis."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry

from channels.inapp import unpack
from dispatcher import keys
from dispatcher.distributed import queue_name
from loadtest.simulators.base import Faults
from loadtest.simulators.sms import SmsGatewaySimulator
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json

SHARD = 1000


def _worker(env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dispatcher.cli", "worker", "--processes", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _env(store, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARNCAST_")}
    env.update(REDIS_URL=store.url, WARNCAST_SHARD_SIZE=str(SHARD), WARNCAST_ALLOW_PRIVATE_NETWORKS="1", **extra)
    return env


async def _wait_done(redis, alert_id: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        life = await redis.hget(keys.alert(alert_id), "lifecycle")
        if life and life.decode() != "sending":
            return life.decode()
        await asyncio.sleep(0.05)
    return "timeout"


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


async def test_two_workers_deliver_every_subscriber_once(store, redis_sync, redis_aio, settings, tmp_path):
    n = 5_500                                                        # six shards
    await SubscriberStore(redis_aio, SHARD).write_many([Subscriber(regions=["110105"]) for _ in range(n)])
    seen: list[np.ndarray] = []
    pubsub = redis_aio.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.INAPP_CHANNEL)
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]
    workers = [_worker(_env(store), log) for log in logs]
    try:
        async with open_api(store, replace(settings, shard_size=SHARD), workers=0) as api:
            status, alert = await api.publish(cap_json(codes=["110105"]))
            assert status == 202
            assert await _wait_done(redis_aio, alert["id"], 60) == "done", (tmp_path / "worker0.log").read_text()
            quiet_until = time.monotonic() + 1.0
            while time.monotonic() < quiet_until:
                msg = await pubsub.get_message(timeout=0.2)
                if msg is not None:
                    seen.append(unpack(msg["data"])[1].copy())
                    quiet_until = time.monotonic() + 1.0
            _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
            live_workers = Worker.all(connection=redis_sync)
            queue = Queue(queue_name("high"), connection=redis_sync)
            finished = [Job.fetch(j, connection=redis_sync).description
                        for j in FinishedJobRegistry(queue=queue).get_job_ids()]
    finally:
        _stop(workers)
        await pubsub.aclose()
    ids = np.concatenate(seen)
    assert len(ids) == n and len(np.unique(ids)) == n                 # everyone, once
    assert got["stats"]["channels"]["inapp"]["sent"] == n
    assert len(live_workers) == 2
    assert sorted(finished) == [f"alert {alert['id']} shard {s}" for s in range(6)]


async def test_killed_worker_has_its_shard_finished_by_the_other(store, redis_sync, redis_aio, settings, tmp_path):
    sim = SmsGatewaySimulator(Faults(latency_ms=(30, 30), seed=1))
    await sim.start()
    n = 3_000                                                        # three shards, SMS batches of 50
    subs = [Subscriber(regions=["110105"], channels=["sms", "inapp"], endpoints={"sms": f"+86139{i:08d}"})
            for i in range(n)]
    await SubscriberStore(redis_aio, SHARD).write_many(subs)
    env = _env(store, WARNCAST_CHANNELS="sms", WARNCAST_SMS_URL=sim.url, WARNCAST_SMS_BATCH="50",
               WARNCAST_LEASE_S="2", WARNCAST_SMS_CALLBACK_URL="http://127.0.0.1:9/none")
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]
    victim = _worker(env, logs[0])
    survivor = None
    try:
        async with open_api(store, replace(settings, shard_size=SHARD, lease_s=2), workers=0) as api:
            await asyncio.sleep(1.5)                                  # the victim is up
            status, alert = await api.publish(cap_json(codes=["110105"]))
            assert status == 202
            deadline = time.monotonic() + 30
            while len(sim.ledger) < 400 and time.monotonic() < deadline:   # well into its first shard
                await asyncio.sleep(0.01)
            assert len(sim.ledger) >= 400, (tmp_path / "worker0.log").read_text()
            os.killpg(victim.pid, signal.SIGKILL)
            killed_at = len(sim.ledger)
            survivor = _worker(env, logs[1])
            assert await _wait_done(redis_aio, alert["id"], 90) == "done", (tmp_path / "worker1.log").read_text()
            _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
            _, page = await api.call("GET", f"/api/v1/alerts/{alert['id']}/deliveries?limit=5000")
    finally:
        _stop([victim] + ([survivor] if survivor else []))
        await sim.stop()
    accepted = sim.ledger.recipients(alert["id"])
    missing = {f"+86139{i:08d}" for i in range(n)} - accepted
    states = [d for d in page["deliveries"] if f"+86139{d['subscriber_id']:08d}" in missing]
    assert not missing, (len(missing), states[:5], got["stats"])     # every subscriber reached
    in_flight_bound = 8 * 50                                         # max_in_flight batches of 50
    assert sim.ledger.duplicates(alert["id"]) <= in_flight_bound
    assert got["stats"]["channels"]["sms"]["sent"] == n
    assert killed_at < n

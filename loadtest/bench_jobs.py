"""Per-job overhead of a shard job: embedded pool versus RQ worker processes.

    python -m loadtest.bench_jobs [--jobs 2000]

Runs N shard jobs that find nothing to send (an alert planned over N empty shards), so what is
measured is what a job costs beyond its sends: queueing, the lease, reading the shard's states,
finishing. In RQ mode the worker process starts first (its start-up is reported separately: it is
paid once per process, not per job) and then takes all N jobs in burst mode.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rq import Queue, Worker

from dispatcher import cap, keys
from dispatcher.alerts import AlertStore
from dispatcher.distributed import JOB_TIMEOUT_S, queue_name
from dispatcher.fanout import Engine
from dispatcher.pool import LocalPool
from dispatcher.settings import Settings
from dispatcher.store import start_embedded


def _alert_json() -> bytes:
    import orjson
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0)
    return orjson.dumps({"identifier": f"bench-jobs-{time.time_ns()}", "sender": "bench@warncast", "sent": now.isoformat(),
                         "status": "Actual", "msgType": "Alert", "scope": "Public",
                         "info": [{"category": ["Met"], "event": "test", "urgency": "Expected", "severity": "Minor",
                                   "certainty": "Likely", "expires": (now + timedelta(hours=1)).isoformat(),
                                   "area": [{"areaDesc": "x", "geocode": [{"valueName": "GB/T 2260", "value": "110105"}]}]}]})


async def _alert(redis, shards: int) -> int:
    rec, _ = await AlertStore(redis).accept(cap.parse_json(_alert_json()), "bench")
    pipe = redis.pipeline(transaction=False)
    pipe.sadd(keys.alert_shards(rec.id), *range(shards))
    pipe.hset(keys.alert(rec.id), "planned", 1)
    await pipe.execute()
    return rec.id


async def embedded(store, n: int) -> float:
    redis = store.aio()
    alert_id = await _alert(redis, n)
    engine = Engine(redis, Settings(), {})
    pool = LocalPool(engine, concurrency=1)
    await pool.start(reap_every_s=3600)
    t = time.perf_counter()
    for shard in range(n):
        pool.submit(alert_id, shard, "normal")
    await pool.drain()
    elapsed = time.perf_counter() - t
    await pool.stop()
    await redis.aclose()
    return elapsed / n * 1000


def rq_mode(store, n: int) -> tuple[float, float]:
    redis = store.sync()
    alert_id = asyncio.run(_with_client(store, lambda r: _alert(r, n)))
    q = Queue(queue_name("normal"), connection=redis)
    env = {**os.environ, "REDIS_URL": store.url}
    t0 = time.perf_counter()
    worker = subprocess.Popen([sys.executable, "-m", "dispatcher.cli", "worker", "--processes", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not Worker.all(connection=redis):
        time.sleep(0.01)
    startup_ms = (time.perf_counter() - t0) * 1000
    t = time.perf_counter()
    q.enqueue_many([Queue.prepare_data("dispatcher.distributed.run_shard_job", (alert_id, s), timeout=JOB_TIMEOUT_S,
                                       result_ttl=60) for s in range(n)])
    while redis.scard(keys.alert_shards(alert_id)) and time.perf_counter() - t < 600:
        time.sleep(0.01)
    per_job_ms = (time.perf_counter() - t) / n * 1000
    worker.terminate()
    worker.wait(30)
    redis.close()
    return startup_ms, per_job_ms


async def _with_client(store, fn):
    r = store.aio()
    try:
        return await fn(r)
    finally:
        await r.aclose()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="per-job overhead of shard jobs")
    p.add_argument("--jobs", type=int, default=2000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="warncast-jobs-") as tmp:
        store = start_embedded(Path(tmp))
        try:
            emb = asyncio.run(embedded(store, args.jobs))
            startup, per_job = rq_mode(store, args.jobs)
        finally:
            store.close()
    print(f"$ python -m loadtest.bench_jobs --jobs {args.jobs}\n")
    print("| mode | per-job overhead (ms) | process start-up (ms, once) |")
    print("|---|---|---|")
    print(f"| embedded pool | {emb:.2f} | – |")
    print(f"| RQ SimpleWorker (1 process) | {per_job:.2f} | {startup:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

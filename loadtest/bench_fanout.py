"""Fan-out benchmark: seed N subscribers, publish one alert through the API, measure every stage.

    python -m loadtest.bench_fanout [--subscribers 200000] [--json FILE] [--polygon]

Runs on a fresh embedded Redis in a temporary directory. Measures, in one run:

* ``resolve_ms``   audience resolution over every shard for the alert (median of 5);
* ``first_send_ms`` from the API's 202 to the first message handed to a channel;
* ``accepted_s``   from the publish request to the last send accepted;
* ``per_s``        notifications per second over that span;
* ``redis_bytes_per_subscriber`` Redis memory (records, columns, endpoints, geo index) / N;
* ``polygon_resolve_ms`` with --polygon: a polygon over a quarter of Beijing, over located subscribers.

Every send is counted where it lands (the in-app channel's Redis messages), so the
benchmark also checks that exactly N were sent and none twice.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import aiohttp
import numpy as np

from channels.inapp import unpack
from dispatcher import keys
from dispatcher.alerts import AlertStore
from dispatcher.auth import KeyStore
from dispatcher.demo import sample_alert
from dispatcher.server import start_server
from dispatcher.settings import Settings
from dispatcher.store import start_embedded
from dispatcher.targeting import resolve_shard, target_for
from subscribers import synth
from subscribers.store import SubscriberStore


class Landing:
    """Counts in-app sends as they land: the first one's time, the last one's, duplicates."""

    def __init__(self, redis):
        self.redis = redis
        self.first: float | None = None
        self.last: float | None = None
        self.seen: list[np.ndarray] = []
        self.count = 0
        self.done = asyncio.Event()
        self.expected = 0

    async def run(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(keys.INAPP_CHANNEL)
        self.ready = True
        try:
            while True:
                msg = await pubsub.get_message(timeout=1.0)
                if not msg:
                    continue
                now = time.perf_counter()
                _, ids = unpack(msg["data"])
                self.first = self.first or now
                self.last = now
                self.seen.append(ids.copy())
                self.count += len(ids)
                if self.expected and self.count >= self.expected:
                    self.done.set()
        finally:
            await pubsub.aclose()

    def duplicates(self) -> int:
        if not self.seen:
            return 0
        ids = np.concatenate(self.seen)
        return int(len(ids) - len(np.unique(ids)))


async def seed(redis, n: int, shard_size: int) -> float:
    """Write n synthetic subscribers; returns Redis bytes per subscriber."""
    before = (await redis.info("memory"))["used_memory"]
    store = SubscriberStore(redis, shard_size)
    step = 32_768
    for i in range(0, n, step):
        await store.write_many(synth.generate(min(step, n - i), seed=i))
    after = (await redis.info("memory"))["used_memory"]
    return (after - before) / n


async def measure_resolve(redis, alert_store: AlertStore, alert_id: int, shard_size: int, nshards: int,
                          runs: int = 5) -> tuple[float, int]:
    rec = await alert_store.get(alert_id)
    target = target_for(rec)
    times, total = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        results = await asyncio.gather(*(resolve_shard(redis, s, target, shard_size) for s in range(nshards)))
        times.append((time.perf_counter() - t) * 1000)
        total = sum(len(a) for a, _ in results)
    return statistics.median(times), total


async def run(n: int, polygon: bool = False, workers: int = 2) -> dict:
    with tempfile.TemporaryDirectory(prefix="warncast-bench-") as tmp:
        store = start_embedded(Path(tmp))
        settings = Settings(data_dir=Path(tmp), workers=workers)
        redis = store.aio()
        try:
            bytes_per_sub = await seed(redis, n, settings.shard_size)
            runner, url, app = await start_server(settings, store, port=0)
            landing = Landing(store.aio())
            listener = asyncio.ensure_future(landing.run())
            await asyncio.sleep(0.2)
            key = await KeyStore(redis).create("bench", "issuer", ["11"])
            xml = sample_alert()
            async with aiohttp.ClientSession() as session:
                t0 = time.perf_counter()
                async with session.post(f"{url}/api/v1/alerts", data=xml, headers={
                        "Authorization": f"Bearer {key}", "Content-Type": "application/cap+xml"}) as resp:
                    t_202 = time.perf_counter()
                    body = await resp.json()
                    assert resp.status == 202, body
                alert_id = body["id"]
                while True:
                    targeted = await redis.hget(keys.alert(alert_id), "targeted")
                    planned = await redis.hget(keys.alert(alert_id), "planned")
                    if planned:
                        landing.expected = int(targeted or 0)
                        if landing.count >= landing.expected:
                            landing.done.set()
                        break
                    await asyncio.sleep(0.005)
                await asyncio.wait_for(landing.done.wait(), 120)
            accepted_s = landing.last - t0
            nshards = (n + settings.shard_size - 1) // settings.shard_size
            resolve_ms, resolved = await measure_resolve(redis, AlertStore(redis), alert_id, settings.shard_size, nshards)
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await runner.cleanup()
            result = {
                "subscribers": n,
                "targeted": landing.expected,
                "sent": landing.count,
                "duplicates": landing.duplicates(),
                "resolve_ms": round(resolve_ms, 1),
                "first_send_ms": round((landing.first - t_202) * 1000, 1),
                "accepted_s": round(accepted_s, 3),
                "per_s": round(landing.count / accepted_s),
                "redis_bytes_per_subscriber": round(bytes_per_sub, 1),
            }
            if polygon:
                from loadtest.bench_geo import run as geo_run
                geo = await geo_run(n, store.url)
                result["polygon_resolve_ms"] = geo["polygon_resolve_ms"]
                result["geo_index_bytes_per_subscriber"] = geo.get("geo_index_bytes_per_subscriber")
            return result
        finally:
            await redis.aclose()
            store.close()


def table(result: dict, argv: Sequence[str]) -> str:
    rows = [(k, v) for k, v in result.items()]
    width = max(len(k) for k, _ in rows)
    lines = [f"$ python -m loadtest.bench_fanout {' '.join(argv)}".rstrip(), "",
             f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=200_000)
    p.add_argument("--workers", type=int, default=2, help="in-process shard jobs at once")
    p.add_argument("--polygon", action="store_true", help="also resolve a polygon over a quarter of Beijing")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    result = asyncio.run(run(args.subscribers, args.polygon, args.workers))
    print(table(result, argv))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    ok = result["sent"] == result["targeted"] and result["duplicates"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

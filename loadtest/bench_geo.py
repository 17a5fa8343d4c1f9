"""Geo-targeting benchmark: seed N located subscribers over Beijing, resolve a polygon over all shards.

    python -m loadtest.bench_geo --subscribers 1000000 [--resolutions 6] [--redis-url URL]

Subscribers are spread like a city: 70% gaussian around the 16 district seats (weighted
towards the urban core), 30% uniform over the Beijing bounding box. They are written with
``subscribers.geo.bulk_add`` (no per-subscriber round trip). The polygon is the north-east
quarter of Beijing used by ``dispatcher/samples/rainstorm_polygon.xml``. Every run checks the
resolved audience against a brute-force exact test of all N points.

With ``--redis-url`` the benchmark works in a scratch database of that server (``--db``,
15 by default; it must be empty), so a server holding real subscribers in database 0 is left
alone, and deletes its keys afterwards. Without it, an embedded Redis is started in a
temporary directory. The bytes per subscriber are the growth of the server's
``used_memory`` while seeding.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from dispatcher import keys
from dispatcher.geo_targeting import plan_area, resolve_shard
from dispatcher.settings import Settings
from dispatcher.store import Store, start_embedded
from subscribers import geo, regions

#: The rainstorm sample's polygon: roughly the north-east quarter of Beijing, (lat, lon).
QUARTER_POLYGON = [
    (39.88, 116.42),
    (40.45, 116.40),
    (40.62, 116.80),
    (40.42, 117.28),
    (39.95, 117.18),
    (39.88, 116.42),
]
BBOX = (39.44, 41.06, 115.42, 117.51)  # lat min, lat max, lon min, lon max
#: Relative population weight of each district seat (core districts denser).
_CORE = {"110101", "110102", "110105", "110106", "110108"}


def synthetic_locations(n: int, seed: int = 20260730) -> tuple[np.ndarray, np.ndarray]:
    """n (lat, lon) pairs: gaussian around district seats plus a uniform share over the bbox."""
    rng = np.random.default_rng(seed)
    codes = regions.district_codes()
    seats = np.array([regions.centroid(c) for c in codes])
    weights = np.array([4.0 if c in _CORE else 1.0 for c in codes])
    weights /= weights.sum()
    n_gauss = int(n * 0.7)
    which = rng.choice(len(codes), size=n_gauss, p=weights)
    spread = np.where(np.isin(np.array(codes)[which], list(_CORE)), 0.04, 0.07)
    lat = np.empty(n)
    lon = np.empty(n)
    lat[:n_gauss] = seats[which, 0] + rng.normal(0, 1, n_gauss) * spread
    lon[:n_gauss] = seats[which, 1] + rng.normal(0, 1, n_gauss) * spread * 1.3
    lat[n_gauss:] = rng.uniform(BBOX[0], BBOX[1], n - n_gauss)
    lon[n_gauss:] = rng.uniform(BBOX[2], BBOX[3], n - n_gauss)
    np.clip(lat, BBOX[0], BBOX[1], out=lat)
    np.clip(lon, BBOX[2], BBOX[3], out=lon)
    return lat, lon


async def _seed(client, lat: np.ndarray, lon: np.ndarray, shard_size: int, resolutions) -> int:
    shards = (len(lat) + shard_size - 1) // shard_size
    for shard in range(shards):
        lo, hi = shard * shard_size, min(len(lat), (shard + 1) * shard_size)
        await geo.bulk_add(
            client, shard, np.arange(hi - lo), lat[lo:hi], lon[lo:hi], resolutions=resolutions
        )
    return shards


async def _settle(client, timeout_s: float = 30.0) -> None:
    """Let an AOF rewrite triggered by the seeding finish, so it does not compete for CPU."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = await client.info("persistence")
        if not state.get("aof_rewrite_in_progress") and not state.get("aof_rewrite_scheduled"):
            return
        await asyncio.sleep(0.1)


async def _cleanup(client, shards: int) -> None:
    for shard in range(shards):
        batch = [k async for k in client.scan_iter(match=keys.geo_cell(shard, "*"), count=10_000)]
        batch.append(keys.geo_coords(shard))
        for i in range(0, len(batch), 10_000):
            await client.unlink(*batch[i : i + 10_000])


async def run(
    n: int,
    redis_url: str | None,
    *,
    resolutions: Sequence[int] = geo.RESOLUTIONS,
    runs: int = 5,
    polygon: Sequence[tuple[float, float]] = QUARTER_POLYGON,
    db: int = 15,
) -> dict:
    """Seed n subscribers, resolve the polygon over every shard ``runs`` times; the numbers."""
    shard_size = Settings().shard_size
    resolutions = tuple(resolutions)
    tmp = None
    if redis_url:
        store = Store(url=redis_url)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-geo-")
        store = start_embedded(Path(tmp.name))
    client = store.aio(db=db) if redis_url else store.aio()
    try:
        if redis_url and await client.dbsize():
            raise RuntimeError(f"database {db} of {redis_url} is not empty; pick an empty one for the benchmark")
        lat, lon = synthetic_locations(n)
        before = (await client.info("memory"))["used_memory"]
        t0 = time.perf_counter()
        shards = await _seed(client, lat, lon, shard_size, resolutions)
        seed_s = time.perf_counter() - t0
        await _settle(client)
        after = (await client.info("memory"))["used_memory"]

        t0 = time.perf_counter()
        plan = plan_area([list(polygon)], [], resolutions=resolutions)
        plan_ms = (time.perf_counter() - t0) * 1000

        timings = []
        matched = 0
        for _ in range(runs):
            t0 = time.perf_counter()
            found = await asyncio.gather(*(resolve_shard(client, s, plan) for s in range(shards)))
            timings.append((time.perf_counter() - t0) * 1000)
            matched = sum(len(f) for f in found)

        qlat = np.rint(lat * geo.COORD_SCALE) / geo.COORD_SCALE
        qlon = np.rint(lon * geo.COORD_SCALE) / geo.COORD_SCALE
        truth = plan.contains(qlat, qlon)
        ids = np.concatenate([s * shard_size + f.astype(np.int64) for s, f in enumerate(found)])
        exact = bool(np.array_equal(np.sort(ids), np.flatnonzero(truth)))
        if redis_url:
            await _cleanup(client, shards)
    finally:
        await client.aclose()
        if tmp is not None:
            store.close()
            tmp.cleanup()
    return {
        "subscribers": n,
        "shards": shards,
        "resolutions": ",".join(map(str, resolutions)),
        "polygon_resolve_ms": round(statistics.median(timings), 1),
        "polygon_resolve_ms_all": [round(t, 1) for t in timings],
        "matched": matched,
        "matches_brute_force": exact,
        "geo_index_bytes_per_subscriber": round((after - before) / n, 1),
        "plan_ms": round(plan_ms, 1),
        "whole_cells": len(plan.whole_cells),
        "check_cells": len(plan.check_cells),
        "seed_s": round(seed_s, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_geo", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--resolutions", default=",".join(map(str, geo.RESOLUTIONS)),
                        help="H3 resolutions to index, coarse to fine (e.g. 6 or 5,7)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=int, default=15, help="scratch database on --redis-url")
    args = parser.parse_args(argv)
    resolutions = tuple(int(r) for r in args.resolutions.split(","))
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    result = runner(run(args.subscribers, args.redis_url, resolutions=resolutions, runs=args.runs, db=args.db))
    width = max(map(len, result))
    for name, value in result.items():
        print(f"{name:<{width}}  {value}")
    print(f"{'command':<{width}}  python -m loadtest.bench_geo " + " ".join(sys.argv[1:] if argv is None else argv))
    return 0 if result["matches_brute_force"] else 1


if __name__ == "__main__":
    sys.exit(main())

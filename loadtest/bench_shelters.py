"""Shelter guidance benchmark: the extra cost of naming each subscriber's nearest shelter.

    python -m loadtest.bench_shelters --subscribers 200000 [--json out.json] [--accepted-s 1.19]

Seeds N located subscribers over Beijing (the same spread as ``bench_geo``: around the 16
district seats and uniform over the city) in an embedded Redis, imports the synthetic 72
shelters, and does for every shard of a Shelter warning what a shard job does before it sends:
``ShardGuide.load`` (the shard's coordinate column, each located subscriber's nearest open shelter
of a fitting kind through the precomputed grid, ``dispatcher.shelter_index``), then per language
(85% zh-CN, 15% en) the guidance keys of both kinds of channel and each distinct line formatted
once. ``shelter_ms`` is the median of ``--repeat`` runs over all N of what the shared-text channels (HMS, the SMS gateway) need; the
grid is built in the first run only, as in a serving process; ``exact_lines_ms`` is what formatting
the distance-and-direction lines of per-message channels (FCM, APNs, Web Push, SMPP) adds; ``ratio`` compares it with ``--accepted-s``. This is the
computing alone: the end-to-end figure, with the extra requests distinct texts cost, is
``shelter_ms`` of loadtest.bench_fanout.
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

import numpy as np

from dispatcher import cap, shelter_import
from dispatcher.shelter_guidance import ShardGuide
from dispatcher.shelters import ShelterStore
from dispatcher.store import start_embedded
from loadtest.bench_geo import synthetic_locations
from subscribers import geo

SAMPLE = Path(__file__).resolve().parents[1] / "dispatcher" / "samples" / "shelters_beijing_synthetic.csv"
SHARD = 32_768


def shelter_alert() -> cap.Alert:
    info = cap.Info(language="zh-CN", categories=["Met"], event="暴雨", response_types=["Shelter"],
                    urgency="Immediate", severity="Extreme", certainty="Observed")
    from datetime import datetime, timezone
    return cap.Alert(identifier="bench-shelter", sender="bench", sent=datetime.now(timezone.utc), status="Actual",
                     msg_type="Alert", scope="Public", infos=[info])


async def seed(redis, n: int) -> list[np.ndarray]:
    lats, lons = synthetic_locations(n)
    shards = []
    for shard, start in enumerate(range(0, n, SHARD)):
        offsets = np.arange(min(SHARD, n - start))
        await geo.bulk_add(redis, shard, offsets, lats[start:start + len(offsets)], lons[start:start + len(offsets)])
        shards.append(offsets)
    store = ShelterStore(redis)
    await store.save_many(shelter_import.parse(SAMPLE.read_bytes(), "csv").shelters)
    return shards


async def one_run(redis, store: ShelterStore, shards: list[np.ndarray], alert: cap.Alert) -> tuple[float, float, int]:
    """(ms to find and name every subscriber's shelter for shared-text channels, ms more to format the
    exact lines per-message channels send, subscribers named)."""
    shared_s = exact_s = 0.0
    named = 0
    for shard, offsets in enumerate(shards):
        t0 = time.perf_counter()
        guide = await ShardGuide.load(redis, store, shard, offsets, alert)
        en = offsets % 100 < 15
        groups = (("zh-CN", offsets[~en]), ("en", offsets[en]))
        for lang, group in groups:
            keys = guide.keys(group, named_only=True)
            assert [guide.line(int(k), lang) for k in np.unique(keys[keys >= 0]).tolist()]
            named += int((keys >= 0).sum())
        t1 = time.perf_counter()
        for lang, group in groups:
            keys = guide.keys(group)
            assert [guide.line(int(k), lang) for k in np.unique(keys[keys >= 0]).tolist()]
        shared_s, exact_s = shared_s + t1 - t0, exact_s + time.perf_counter() - t1
    return shared_s * 1000, exact_s * 1000, named


async def run(n: int, repeat: int, accepted_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        embedded = start_embedded(Path(tmp))
        redis = embedded.aio()
        try:
            shards = await seed(redis, n)
            store = ShelterStore(redis)
            alert = shelter_alert()
            runs = [await one_run(redis, store, shards, alert) for _ in range(repeat)]
        finally:
            await redis.aclose()
            embedded.close()
    shelter_ms = statistics.median(ms for ms, _, _ in runs)
    return {"subscribers": n, "shelters": 72, "shelter_ms": round(shelter_ms, 1), "named": runs[0][2],
            "exact_lines_ms": round(statistics.median(ms for _, ms, _ in runs), 1),
            "accepted_s": accepted_s, "ratio": round(shelter_ms / 1000 / accepted_s, 4), "target_ratio": 0.15,
            "runs_ms": [round(ms, 1) for ms, _, _ in runs]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--accepted-s", type=float, default=1.19)
    p.add_argument("--json", dest="json_file", default=None, help="also write the result here ('-' for stdout only)")
    args = p.parse_args(argv)
    out = asyncio.run(run(args.subscribers, args.repeat, args.accepted_s))
    text = json.dumps(out, indent=1)
    print(text)
    if args.json_file and args.json_file != "-":
        Path(args.json_file).write_text(text)
    return 0 if out["ratio"] <= out["target_ratio"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Shelter guidance benchmark: the extra cost of naming each subscriber's nearest shelter.

    python -m loadtest.bench_shelters --subscribers 200000 [--json out.json] [--accepted-s 1.19]

Seeds N located subscribers over Beijing (the same spread as ``bench_geo``: around the 16
district seats and uniform over the city) in an embedded Redis, imports the synthetic 72
shelters, and runs the fan-out hook ``dispatcher.shelter_guidance.shard_guidance`` for every
shard of a Shelter warning, as the render step would: 85% of each shard's subscribers in
zh-CN and 15% in en (one call per language group), reading each shard's coordinate column and
computing the nearest open shelter of a fitting kind with numpy. ``shelter_ms`` is the median
of ``--repeat`` runs over all N; ``ratio`` compares it with ``--accepted-s``, the fan-out
benchmark's publish → every send accepted time at the same N (loadtest.bench_fanout; 1.19 s at
200,000 on the reference machine), against the target of ≤ 15%.
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
from dispatcher.shelter_guidance import shard_guidance
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


async def one_run(redis, store: ShelterStore, shards: list[np.ndarray], alert: cap.Alert) -> tuple[float, int]:
    t0 = time.perf_counter()
    named = 0
    for shard, offsets in enumerate(shards):
        en = offsets % 100 < 15
        for lang, group in (("zh-CN", offsets[~en]), ("en", offsets[en])):
            lines = await shard_guidance(redis, store, shard, group, alert, lang)
            named += sum(1 for x in lines if x)
    return (time.perf_counter() - t0) * 1000, named


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
    shelter_ms = statistics.median(ms for ms, _ in runs)
    return {"subscribers": n, "shelters": 72, "shelter_ms": round(shelter_ms, 1), "named": runs[0][1],
            "accepted_s": accepted_s, "ratio": round(shelter_ms / 1000 / accepted_s, 4), "target_ratio": 0.15,
            "runs_ms": [round(ms, 1) for ms, _ in runs]}


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

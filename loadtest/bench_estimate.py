"""Audience-estimate benchmark: what ``POST /api/v1/alerts:validate`` costs over N subscribers.

    python -m loadtest.bench_estimate --subscribers 1000000 [--runs 5] [--json]

Seeds N synthetic subscribers (``subscribers.synth``: every district of Beijing, 70% HMS push,
20% in-app only, 10% SMS) into an embedded Redis in a temporary directory, then times
:func:`dispatcher.estimate.estimate` (the real targeting code in dry-run mode: per district,
per channel, SMS segments) for a city-wide alert (geocode ``11``) and for one district
(``110105``). Reports the median of ``--runs`` runs as ``estimate_ms`` (city-wide) and
``estimate_district_ms``, and ``resolve_only_ms``, the bare audience resolution fan-out runs for
the city-wide alert, so the estimate's own cost shows; the target is ≤ 150 ms at 1,000,000.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Sequence

from dispatcher import cap
from dispatcher.estimate import Audience, dry_record, estimate
from dispatcher.store import start_embedded
from dispatcher.targeting import resolve_shard, target_for
from subscribers.store import SubscriberStore

from .bench_fanout import seed

SHARD_SIZE = 32_768
CHANNELS = ("inapp", "hms", "sms")


def _alert(code: str) -> cap.Alert:
    sent = datetime.now().astimezone().replace(microsecond=0)
    doc = {"identifier": f"bench-{code}-{sent.timestamp()}", "sender": "bench@warncast",
           "sent": cap.format_datetime(sent), "status": "Actual",
        "msgType": "Alert", "scope": "Public", "info": [{
            "language": "zh-CN", "category": ["Met"], "event": "暴雨", "urgency": "Expected", "severity": "Severe",
            "certainty": "Likely", "headline": "暴雨橙色预警", "instruction": "请注意防范",
            "area": [{"areaDesc": code, "geocode": [{"valueName": "GB/T 2260", "value": code}]}]}]}
    return cap.parse_json(doc)


async def _measure(n: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="warncast-bench-estimate-") as tmp:
        store = start_embedded(Path(tmp))
        try:
            redis = store.aio()
            t = time.perf_counter()
            bytes_per = await seed(redis, n, SHARD_SIZE)
            seed_s = time.perf_counter() - t
            nshards = await SubscriberStore(redis, SHARD_SIZE).shard_count()
            where = Audience(redis, SHARD_SIZE, nshards, CHANNELS, "北京市预警信息发布中心")
            out = {"subscribers": n, "shards": nshards, "runs": runs, "seed_s": round(seed_s, 1),
                   "redis_bytes_per_subscriber": round(bytes_per)}
            rec = dry_record(_alert("11"), [])
            target = target_for(rec)
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                await asyncio.gather(*(resolve_shard(redis, s, target, SHARD_SIZE) for s in range(nshards)))
                times.append((time.perf_counter() - started) * 1000)
            out["resolve_only_ms"] = round(statistics.median(times), 1)
            for label, code in (("estimate_ms", "11"), ("estimate_district_ms", "110105")):
                rec = dry_record(_alert(code), [])
                times, last = [], {}
                for _ in range(runs):
                    started = time.perf_counter()
                    last = await estimate(where, rec)
                    times.append((time.perf_counter() - started) * 1000)
                out[label] = round(statistics.median(times), 1)
                out[label.replace("_ms", "_targeted")] = last["targeted"]
                out[label.replace("_ms", "_by_channel")] = last["by_channel"]
            await redis.aclose()
            return out
        finally:
            store.close()


def table(result: dict, argv: Sequence[str]) -> str:
    rows = [("subscribers", result["subscribers"]), ("city-wide resolution only (ms, median)",
                                                      result["resolve_only_ms"]),
            ("city-wide estimate (ms, median)", result["estimate_ms"]),
            ("  targeted", result["estimate_targeted"]),
            ("one-district estimate (ms, median)", result["estimate_district_ms"]),
            ("  targeted", result["estimate_district_targeted"])]
    lines = ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + f"\n\n`python -m loadtest.bench_estimate {' '.join(argv)}`"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(_measure(args.subscribers, args.runs))
    print(json.dumps(result, ensure_ascii=False) if args.json else table(result, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

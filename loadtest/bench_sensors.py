"""Household alarm benchmark: 10,000 simultaneous sensor alarms (a city-wide gas incident).

    python -m loadtest.bench_sensors [--events 10000] [--batch 1000] [--channels inapp,hms] [--json FILE]

Seeds an embedded Redis with one household per event (two members each, every member with the
in-app channel and, with ``hms`` in ``--channels``, a push token served by the HMS simulator) and
one gas detector per household, starts the API in this process, and posts the events as signed
batches of ``--batch`` (all batches at once, as an IoT platform catching up would). Every event is
an alarm-level reading, so every event opens an incident: a CAP Private alert, published through
the intake, delivered to the household's members on every channel at once.

``events_per_s``: events over the time from the first post to the last batch's answer.
``p95_event_to_first_send_s``: from the post of an event's batch to the first accepted send of
the alert it raised (any channel), 95th percentile over all events. Target: ≤ 5 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import orjson

from dispatcher.api import context as ctx
from dispatcher.devices import Device, DeviceStore
from dispatcher.households import Household, HouseholdStore
from dispatcher.sensor_auth import sign
from dispatcher.server import start_server
from dispatcher.settings import Settings
from dispatcher.store import start_embedded
from subscribers.model import validate
from subscribers.store import SubscriberStore

KEY = "bench-platform-key-0123456789abcdef"


def hms_token(i: int) -> str:
    return f"IQAAAACy0{i:012d}hmsTokenBench0AAAAAAAAAAAAAAAAAAAA"


async def seed(redis, n: int, push: bool, shard_size: int) -> list[str]:
    """n households of two members and one gas detector each; the device ids."""
    subs = []
    for i in range(2 * n):
        data = {"regions": ["110105"]}
        if push:
            data |= {"channels": ["hms", "inapp"], "endpoints": {"hms": hms_token(i)}}
        subs.append(validate(data))
    ids = await SubscriberStore(redis, shard_size).write_many(subs)
    homes = [Household(members=[ids[2 * i], ids[2 * i + 1]], name=f"bench home {i}", region="110105")
             for i in range(n)]
    saved, _ = await HouseholdStore(redis, None).save_many(homes)
    devices = [Device(f"gas-{i}", h.id, "gas", location="kitchen") for i, h in enumerate(saved)]
    await DeviceStore(redis).save_many(devices)
    return [d.id for d in devices]


async def post_batch(session, url: str, devices: list[str], batch_no: int) -> tuple[float, float, dict]:
    body = orjson.dumps({"batch_id": f"bench-{batch_no}-{time.time_ns()}",
                         "events": [{"device_id": d, "value": 60.0} for d in devices]})
    ts = str(int(time.time()))
    headers = {"X-Warncast-Platform": "bench", "X-Warncast-Timestamp": ts, "Content-Type": "application/json",
               "X-Warncast-Signature": sign(KEY, ts, body)}
    t0 = time.perf_counter()
    async with session.post(url + "/api/v1/sensors/events", data=body, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=600)) as resp:
        out = await resp.json()
        if resp.status != 200:
            raise SystemExit(f"batch {batch_no}: {resp.status} {out}")
    return t0, time.perf_counter(), out


async def run(n: int, batch: int, channels: tuple[str, ...]) -> dict:
    push = "hms" in channels
    with tempfile.TemporaryDirectory() as tmp:
        embedded = start_embedded(Path(tmp))
        sims = None
        try:
            if push:
                from loadtest.simulators.run import SimulatorSet
                import os
                sims = await SimulatorSet(("hms",)).start({"hms": 0})
                os.environ.update(sims.env())
            # The simulator takes whatever it is sent; a real deployment sets its provider's quota.
            settings = Settings(data_dir=Path(tmp), workers=2, sensor_keys=(("bench", KEY),),
                                channels=tuple(c for c in channels if c != "inapp"), rate_limits=(("hms", 1_000_000),))
            redis = embedded.aio()
            devices = await seed(redis, n, push, settings.shard_size)
            runner, url, app = await start_server(settings, embedded, port=0)
            first: dict[int, float] = {}

            def on_sent(alert_id: int, _ids, _channel: str) -> None:
                first.setdefault(alert_id, time.perf_counter())
            app[ctx.PRIVATE].on_sent = on_sent
            try:
                async with aiohttp.ClientSession() as session:
                    chunks = [devices[i:i + batch] for i in range(0, n, batch)]
                    answers = await asyncio.gather(*(post_batch(session, url, c, k) for k, c in enumerate(chunks)))
                raised = {a["alert_id"]: t0 for t0, _, out in answers for a in out["alerts"]}
                deadline = time.monotonic() + 300
                while len(set(raised) & set(first)) < len(raised) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                await app[ctx.PRIVATE].drain()
            finally:
                await runner.cleanup()
                await redis.aclose()
            start = min(t0 for t0, _, _ in answers)
            intake_s = max(t1 for _, t1, _ in answers) - start
            lat = np.array([first[a] - t0 for a, t0 in raised.items() if a in first])
            accepted = sum(out["accepted"] for _, _, out in answers)
            return {"events": accepted, "alerts": len(raised), "sent_alerts": int(len(lat)), "batch": batch,
                    "channels": list(channels), "intake_s": round(intake_s, 3),
                    "events_per_s": round(accepted / intake_s, 1),
                    "p50_event_to_first_send_s": round(float(np.percentile(lat, 50)), 3) if len(lat) else None,
                    "p95_event_to_first_send_s": round(float(np.percentile(lat, 95)), 3) if len(lat) else None,
                    "max_event_to_first_send_s": round(float(lat.max()), 3) if len(lat) else None,
                    "push_accepted": len(sims.ledger("hms").entries) if sims else 0}
        finally:
            if sims is not None:
                await sims.stop()
            embedded.close()


def print_table(r: dict, argv: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title="household alarms from sensors")
    cols = ("events", "alerts", "sent_alerts", "batch", "intake_s", "events_per_s", "p50_event_to_first_send_s",
            "p95_event_to_first_send_s", "max_event_to_first_send_s", "push_accepted")
    for k in cols:
        table.add_column(k)
    table.add_row(*(str(r[k]) for k in cols))
    Console(width=200).print(table)
    print("command: python -m loadtest.bench_sensors " + " ".join(argv))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m loadtest.bench_sensors", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=1_000, help="events per signed batch (at most 1,000)")
    p.add_argument("--channels", default="inapp,hms", help="inapp, or inapp,hms (push via the HMS simulator)")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.events, args.batch, tuple(c.strip() for c in args.channels.split(","))))
    print_table(result, argv)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

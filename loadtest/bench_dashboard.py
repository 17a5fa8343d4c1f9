"""Dashboard benchmark: live dashboards open during a large fan-out — how late they are, what they cost.

    python -m loadtest.bench_dashboard [--subscribers 1000000] [--streams 20] [--repeat 1] [--json FILE]

Pairs of runs, each on a fresh embedded Redis with N synthetic subscribers (the realistic channel mix,
provider simulators in a child process, `warncast serve` in another, as ``loadtest.bench_fanout``
runs them): one with no dashboard open, one with ``--streams`` dashboards (each signed in as an
operator of its own) reading ``GET /console/api/live``. Measured in each:

* ``accepted_s``         from the publish request to the last send the simulators accepted;
* ``server_cpu_s_per_min`` CPU seconds the server process used per minute, during the fan-out
  (publish → done) and while idle with the dashboards open (``idle_cpu_s_per_min``, over ``--idle``
  seconds before publishing);
* ``update_latency_ms``  p50 / p95 / max over every dashboard event: from the moment the HMS sent
  counter of the alert first held the value an event carries (polled in Redis every ``--poll-ms``)
  to the moment the dashboard received that event;
* ``events`` and ``event_bytes`` per dashboard.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import aiohttp
import orjson

from dispatcher import keys
from dispatcher.auth import KeyStore
from dispatcher.demo import sample_alert
from dispatcher.settings import Settings
from dispatcher.store import start_embedded

from . import procs
from .bench_fanout import DEFAULT_RATE_LIMITS, _tail, _wait_http, seed

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


class Dashboard:
    """One open dashboard: every event's arrival time and the alert's HMS sent count it carried."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str):
        self.session, self.url, self.key = session, url, key
        self.seen: list[tuple[float, int]] = []
        self.events = self.bytes = 0
        self.ready = asyncio.Event()
        self.alert: str | None = None
        self._sent = 0

    async def run(self) -> None:
        async with self.session.get(self.url + "/console/api/live",
                                    headers={"Authorization": f"Bearer {self.key}"}) as resp:
            assert resp.status == 200, await resp.text()
            name = None
            async for line in resp.content:
                self.bytes += len(line)
                if line.startswith(b"event: "):
                    name = line[7:].strip().decode()
                elif line.startswith(b"data: "):
                    self.events += 1
                    self._take(name, orjson.loads(line[6:]), time.time())

    def _take(self, name: str, data: dict, at: float) -> None:
        if name == "snapshot":
            self.ready.set()
            return
        row = data.get("alerts", {}).get(self.alert or "", {})
        sent = row.get("channels", {}).get("hms", {}).get("sent")
        if sent is not None and sent > self._sent:
            self._sent = sent
            self.seen.append((at, sent))


async def poll_counter(redis, alert_id: int, every_s: float, stop: asyncio.Event) -> list[tuple[float, int]]:
    """(time first seen, value) of the alert's HMS sent counter, every time it changed."""
    out: list[tuple[float, int]] = []
    last = 0
    while not stop.is_set():
        v = int(await redis.hget(keys.counters(alert_id), "hms:sent") or 0)
        if v > last:
            out.append((time.time(), v))
            last = v
        await asyncio.sleep(every_s)
    return out


def latencies_ms(changes: list[tuple[float, int]], seen: list[tuple[float, int]]) -> list[float]:
    """For each event value, its arrival minus when the counter first held at least that value."""
    values = [v for _, v in changes]
    out = []
    for at, v in seen:
        i = bisect.bisect_left(values, v)
        if i < len(changes):
            out.append(max(0.0, (at - changes[i][0]) * 1000))
    return out


async def _start(n: int, work: Path, sims: procs.SimHost, settings: Settings, streams: int, rate_limits: str):
    store = start_embedded(work / "redis")
    redis = store.aio()
    await redis.flushall()
    await seed(redis, n, settings.shard_size)
    ks = KeyStore(redis)
    issuer = await ks.create("bench", "issuer", ["11"])
    operators = [await ks.create(f"operator-{i}", "operator") for i in range(streams)]
    await sims.watch(store.url)
    await sims.reset()
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**procs.base_env(), **sims.env, "REDIS_URL": store.url, "WARNCAST_DATA_DIR": str(work),
           "WARNCAST_CHANNELS": "hms,sms", "WARNCAST_SMS_TRANSPORT": "http",
           "WARNCAST_SMS_CALLBACK_URL": f"{url}/callbacks/sms", "WARNCAST_SHARD_SIZE": str(settings.shard_size),
           "WARNCAST_RATE_LIMITS": rate_limits}
    api = procs.spawn([sys.executable, "-m", "dispatcher.cli", "serve", "--port", str(port)], env, work / "api.log")
    await _wait_http(f"{url}/healthz", api, work / "api.log")
    return store, redis, api, url, issuer, operators


async def run_once(n: int, streams: int, sims: procs.SimHost, tmp: Path, args) -> dict:
    settings = Settings()
    work = tmp / f"streams_{streams}"
    work.mkdir(parents=True)
    store, redis, api, url, issuer, operators = await _start(n, work, sims, settings, streams, args.rate_limits)
    tasks: list[asyncio.Task] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            boards = [Dashboard(session, url, k) for k in operators]
            tasks = [asyncio.ensure_future(b.run()) for b in boards]
            await asyncio.wait_for(asyncio.gather(*(b.ready.wait() for b in boards)), 60)
            c0, t0 = cpu_s(api.pid), time.monotonic()
            await asyncio.sleep(args.idle)
            idle = (cpu_s(api.pid) - c0) / (time.monotonic() - t0) * 60
            return await _fan_out(redis, api, url, issuer, boards, sims, work, args) | {
                "streams": streams, "idle_cpu_s_per_min": round(idle, 2)}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        procs.stop([api])
        await redis.aclose()
        store.close()


async def _fan_out(redis, api, url, issuer, boards, sims, work, args) -> dict:
    async with aiohttp.ClientSession() as session:
        c0, t0 = cpu_s(api.pid), time.time()
        async with session.post(f"{url}/api/v1/alerts", data=sample_alert(), headers={
                "Authorization": f"Bearer {issuer}", "Content-Type": "application/cap+xml"}) as resp:
            body = await resp.json()
            assert resp.status == 202, body
    alert_id = body["id"]
    for b in boards:
        b.alert = str(alert_id)
    stop = asyncio.Event()
    poller = asyncio.ensure_future(poll_counter(redis, alert_id, args.poll_ms / 1000, stop))
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        life = await redis.hget(keys.alert(alert_id), "lifecycle")
        if life and life.decode() not in ("sending", "held"):
            break
        if api.poll() is not None:
            raise RuntimeError(f"the API process exited:\n{_tail(work / 'api.log')}")
        await asyncio.sleep(0.05)
    busy_s = time.time() - t0
    cpu = cpu_s(api.pid) - c0
    await asyncio.sleep(1.0)                 # the last tick reaches every dashboard
    stop.set()
    changes = await poller
    full = await sims.stats(full=True)
    _, last = procs.first_last(full)
    lat = sorted(x for b in boards for x in latencies_ms(changes, b.seen))
    return {
        "subscribers": args.subscribers, "sent": procs.accepted(full),
        "accepted_s": round(last - t0, 3) if last else None,
        "server_cpu_s_per_min": round(cpu / busy_s * 60, 2), "busy_s": round(busy_s, 2), "server_cpu_s": round(cpu, 2),
        "update_latency_ms": _percentiles(lat), "latency_samples": len(lat),
        "events_per_dashboard": round(statistics.mean(b.events for b in boards), 1) if boards else None,
        "kib_per_dashboard": round(statistics.mean(b.bytes for b in boards) / 1024, 1) if boards else None,
    }


def _percentiles(xs: list[float]) -> dict | None:
    if not xs:
        return None
    pick = lambda q: round(xs[min(len(xs) - 1, int(q * len(xs)))], 1)   # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "max": round(xs[-1], 1)}


async def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="warncast-bench-dashboard-"))
    sims = procs.SimHost(tmp / "simulators.log")
    try:
        runs = []
        for i in range(args.repeat):            # alternated, so a busy moment of the machine hits both
            for streams in (0, args.streams):
                print(f"[{streams} dashboards] seeding {args.subscribers:,} subscribers, publishing …", file=sys.stderr)
                runs.append(await run_once(args.subscribers, streams, sims, tmp, args))
                print(f"[{streams} dashboards] {runs[-1]}", file=sys.stderr)
        return {"subscribers": args.subscribers, "streams": args.streams, "runs": runs}
    finally:
        await sims.close()
        shutil.rmtree(tmp, ignore_errors=True)


def table(result: dict, argv: Sequence[str]) -> str:
    lines = [f"$ python -m loadtest.bench_dashboard {' '.join(argv)}".rstrip(), "",
             "| dashboards open | accepted_s | server CPU s (fan-out) | server CPU s/min (fan-out) "
             "| server CPU s/min (idle) | update latency p50 / p95 / max (ms) | events per dashboard | KiB per dashboard |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        streams = r["streams"]
        lat = r["update_latency_ms"]
        lat_s = f"{lat['p50']} / {lat['p95']} / {lat['max']}" if lat else "—"
        lines.append(f"| {streams} | {r['accepted_s']} | {r['server_cpu_s']} | {r['server_cpu_s_per_min']} "
                     f"| {r['idle_cpu_s_per_min']} "
                     f"| {lat_s} | {r['events_per_dashboard'] or '—'} | {r['kib_per_dashboard'] or '—'} |")
    return "\n".join(lines)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=1_000_000)
    p.add_argument("--streams", type=int, default=20, help="dashboards open in the second run")
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured with dashboards open")
    p.add_argument("--poll-ms", type=float, default=10.0, help="how often the HMS sent counter is polled")
    p.add_argument("--rate-limits", default=DEFAULT_RATE_LIMITS)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--repeat", type=int, default=1, help="pairs of runs (without, with dashboards), alternated")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    print(table(result, argv))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

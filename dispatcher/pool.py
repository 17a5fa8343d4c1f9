"""The embedded job runner: shard jobs on an in-process asyncio pool, highest lane first.

Pending fan-outs live in Redis (``FANOUT_PENDING`` and each alert's shard set),
so a restarted process picks up where the last one stopped.
"""
from __future__ import annotations

import asyncio
import itertools
import logging

from . import keys
from .alerts import LANES

log = logging.getLogger(__name__)


class LocalPool:
    def __init__(self, engine, concurrency: int = 4):
        self.engine = engine
        self.concurrency = max(1, concurrency)
        self.queue: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._workers: list[asyncio.Task] = []
        self._plans: set[asyncio.Task] = set()
        self.idle = asyncio.Event()
        self.idle.set()
        self._active = 0
        self._reaper: asyncio.Task | None = None
        self._jobs: set[asyncio.Task] = set()
        #: Set by stop(): no new jobs start and running ones hand their shard back at the next batch.
        self.stopping = False
        engine.submit = self.submit
        engine.preempt = self.higher_waiting

    async def higher_waiting(self, lane: str) -> bool:
        """True when a job of a higher lane than ``lane`` is waiting, or the pool is stopping (the
        running job yields)."""
        if self.stopping:
            return True
        heap = self.queue._queue  # the PriorityQueue's heap; [0] is the next job
        return bool(heap) and heap[0][0] < LANES.index(lane)

    def depth_by_lane(self) -> list[int]:
        """Shard jobs waiting, per lane in ``LANES`` order."""
        depth = [0] * len(LANES)
        for item in self.queue._queue:
            depth[item[0]] += 1
        return depth

    @property
    def in_flight(self) -> int:
        """Shard jobs running now."""
        return self._active

    def submit(self, alert_id: int, shard: int, lane: str, attempt: int = 0) -> None:
        self.idle.clear()
        self.queue.put_nowait((LANES.index(lane), next(self._seq), alert_id, shard, attempt))

    def plan(self, alert_id: int) -> asyncio.Task:
        """Plan an alert in the background (the API answers 202 before the plan completes)."""
        self.idle.clear()
        task = asyncio.ensure_future(self._plan(alert_id))
        self._plans.add(task)
        task.add_done_callback(self._plans.discard)
        return task

    async def _plan(self, alert_id: int) -> None:
        try:
            await self.engine.plan(alert_id)
        except Exception:
            log.exception("planning alert %s failed; it stays pending and is retried on restart", alert_id)
        finally:
            self._plans.discard(asyncio.current_task())
            self._check_idle()

    async def start(self, reap_every_s: float = 2.0) -> None:
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(self.concurrency)]
        await self.resume()
        self._reaper = asyncio.ensure_future(self._reap_forever(reap_every_s))

    async def resume(self) -> None:
        """After a restart: every unfinished alert's shards go back in the queue (the queue lived in
        this process) and unplanned alerts are planned. A shard whose run died mid-batch re-sends
        that batch: at most the batches in flight are sent twice."""
        for raw in await self.engine.redis.smembers(keys.FANOUT_PENDING):
            alert_id = int(raw)
            rec = await self.engine.alerts.get(alert_id)
            if not await self.engine.redis.hget(keys.alert(alert_id), "planned"):
                self.plan(alert_id)
                continue
            for shard in [int(s) for s in await self.engine.redis.smembers(keys.alert_shards(alert_id))]:
                await self.engine.enqueue(alert_id, shard, rec.lane)

    async def _reap_forever(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.engine.reap()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reaping lost shard jobs failed; trying again")

    async def _work(self) -> None:
        while not self.stopping:
            lane, _, alert_id, shard, attempt = await self.queue.get()
            if self.stopping:
                self.queue.put_nowait((lane, 0, alert_id, shard, attempt))
                self.queue.task_done()
                return
            self._active += 1
            job = asyncio.ensure_future(self.engine.run_shard(alert_id, shard))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = min(30.0, 0.5 * 2 ** attempt)
                log.exception("shard job (alert %s, shard %s) failed; running it again in %.1f s",
                              alert_id, shard, delay)
                self._retry_later(delay, alert_id, shard, LANES[lane], attempt + 1)
            finally:
                self._active -= 1
                self.queue.task_done()
                self._check_idle()

    def _retry_later(self, delay: float, alert_id: int, shard: int, lane: str, attempt: int) -> None:
        async def later() -> None:
            try:
                await asyncio.sleep(delay)
                self.submit(alert_id, shard, lane, attempt)
            finally:
                self._plans.discard(asyncio.current_task())
        task = asyncio.ensure_future(later())
        self._plans.add(task)

    def _check_idle(self) -> None:
        if self._active == 0 and self.queue.empty() and not self._plans:
            self.idle.set()

    async def drain(self) -> None:
        """Wait until every planned alert's jobs have run."""
        while True:
            await self.idle.wait()
            await asyncio.sleep(0)
            if self._active == 0 and self.queue.empty() and not self._plans:
                return

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking jobs. Running shard jobs finish the batches they have in flight and hand their
        shard back (lease released); one still running after ``grace_s`` is cancelled (its lease is
        released as it unwinds). Shards handed back, or never started, stay pending in Redis: another
        process's reaper or this one's next start takes them up."""
        self.stopping = True
        for t in [*self._plans, *([self._reaper] if self._reaper else [])]:
            t.cancel()
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=grace_s)
        tasks = self._workers + list(self._plans) + ([self._reaper] if self._reaper else [])
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers = []
        await self._hand_back()

    async def _hand_back(self) -> None:
        """Unmark the shards still in the local queue, so no reaper waits on this process for them."""
        left = []
        while not self.queue.empty():
            _, _, alert_id, shard, _ = self.queue.get_nowait()
            left.append(keys.shard_queued(shard, alert_id))
        if left:
            try:
                pipe = self.engine.redis.pipeline(transaction=False)
                for key in left:           # one key per command: they live in different slots
                    pipe.delete(key)
                await pipe.execute()
            except Exception:           # Redis already gone: the markers expire on their own
                log.warning("could not hand back %d queued shard jobs; they are taken up when their "
                            "markers expire or at the next start", len(left))

"""Fan-out: the planner cuts an alert into shard jobs; a shard job delivers its slice.

The planner resolves each shard's audience and writes it as that shard's
delivery-state string (``targeted`` / ``suppressed`` bytes) in one SET NX, so a
re-plan after a crash changes nothing, and hands the shard to the job runner.

A shard job holds the shard's lease, reads the states back, groups the
subscribers still to send by (next usable channel, language), renders each
group once, and sends batches of the channel's size with bounded concurrency.
Each batch is a few bulk Redis steps, never a round trip per subscriber:

    claim (targeted → sending, lease renewed, lifecycle read)
      → circuit and rate limit of the provider
      → send, retrying transient failures in place (short waits) or putting
        them on the retry schedule (long waits)
      → record (sent / failover / queued / expired), counters, receipts map

A subscriber whose channel failed permanently, was gone, ran out of attempts,
or whose provider's circuit is open fails over to their next channel in the
same job. The same ``Engine.run_shard`` runs in the embedded asyncio pool and
in RQ workers.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import numpy as np

from channels.base import Channel, Recipient
from subscribers import columns as C
from subscribers.store import SubscriberStore

from . import keys
from .alerts import STOPPED, AlertRecord, AlertStore, Lifecycle, fans_out
from .circuit import Permit
from .delivery import State, Transitions, count, states
from .history import FailoverHistory
from .lifecycle import LifecycleControl, amendment
from .leases import Leases
from .lua import Lua
from .lru import BoundedCache
from .render import Renderer
from .settings import Settings
from .targeting import Target, resolve_shard, target_for
from .send_stages import EMPTY, BatchContext, RetryPolicy, SendPath, ShardReport, ShardRun
from .via import Via

log = logging.getLogger(__name__)

SET_IF_ABSENT = "return redis.call('SET', KEYS[1], ARGV[1], 'NX') and 1 or 0"


class Guard:
    """What a send passes through before it goes out: the provider's circuit and rate limit.
    This one lets everything through; ``dispatcher.guard.RedisGuard`` shares both across workers."""

    async def admit(self, channel: Channel, n: int) -> Permit:
        """Before a batch: may it go (circuit), and wait until n more fit the provider's quota."""
        return Permit.ALLOWED

    async def take(self, channel: Channel, n: int) -> None:
        """Before a retry: wait until n more fit the quota."""
        return None

    def queue_record(self, pipe, channel: Channel, successes: int, failures: int, probe: bool = False) -> None:
        """Count a batch's outcome towards the provider's circuit (in the caller's pipeline)."""


@dataclass
class Batch:
    channel: str
    lang: int
    offsets: np.ndarray


class Engine:
    """Everything one process needs to plan and run shard jobs."""

    def __init__(self, redis, settings: Settings, channels: dict[str, Channel],
                 submit: Callable[[int, int, str], Awaitable[None] | None] | None = None,
                 clock: Callable[[], float] = time.time, preempt: Callable[[str], Awaitable[bool]] | None = None,
                 guard: Guard | None = None):
        self.redis = redis
        self.settings = settings
        self.size = settings.shard_size
        self.alerts = AlertStore(redis)
        self.subscribers = SubscriberStore(redis, settings.shard_size)
        self.renderer = Renderer(settings.sms_signature, settings.sms_max_parts)
        self.transitions = Transitions(redis)
        self.leases = Leases(redis, settings.lease_s)
        self.channels = channels
        #: Hands a shard job to the runner (embedded pool or RQ).
        self.submit = submit
        #: Asks "is work of a higher lane than this one waiting?" between batches.
        self.preempt = preempt
        self.guard = guard or Guard()
        self.clock = clock
        self._targets: BoundedCache[int, Target] = BoundedCache(1024)
        self._set_if_absent = Lua(redis, SET_IF_ABSENT)
        self.history = FailoverHistory(redis)
        self.lifecycle = LifecycleControl(redis, self.alerts, self.transitions, settings.shard_size,
                                          settings.lease_s, self.subscribers.shard_count)
        self.send_path = SendPath(redis, size=self.size, guard=self.guard, leases=self.leases,
                                  transitions=self.transitions, history=self.history, subscribers=self.subscribers,
                                  policy=RetryPolicy(settings, lambda: self.clock()), clock=lambda: self.clock())

    def via(self, name: str) -> Via:
        """The chain channel ``name`` with the adapter serving it."""
        return Via(name, C.CHANNEL_IDS.get(name, 0), self.channels[name])

    # -- planning ----------------------------------------------------------
    def target(self, rec: AlertRecord) -> Target:
        if rec.id not in self._targets:
            self._targets[rec.id] = target_for(rec)
        return self._targets[rec.id]

    async def plan(self, alert_id: int) -> int:
        """Resolve every shard's audience, record it, and submit one job per shard with audience.

        Returns the number of subscribers targeted. Safe to call again after a crash."""
        rec = await self.alerts.get(alert_id)
        if rec.lifecycle is not Lifecycle.SENDING or not fans_out(rec.alert):
            return 0
        await self.redis.sadd(keys.FANOUT_PENDING, alert_id)
        await self._amend(rec)
        target = await asyncio.to_thread(self.target, rec)     # CPU: thousands of geocodes, polygons
        nshards = await self.subscribers.shard_count()
        webhook = asyncio.ensure_future(self._forward(rec)) if "webhook" in self.channels else None
        total = 0
        for shard in range(nshards):        # shard by shard: the first job starts after the first shard
            total += await self._plan_shard(rec, target, shard)
        await self.redis.hset(keys.alert(alert_id), mapping={"planned": 1})
        if webhook:
            await webhook
        await self._finish_if_done(alert_id)
        return total

    async def _amend(self, rec: AlertRecord) -> None:
        """Stop what this alert supersedes or cancels, and let their batches in flight be recorded,
        before planning it (idempotent: a re-plan after a crash does it again harmlessly)."""
        for ref in rec.amends:
            stop_as = amendment(rec, await self.alerts.get(ref))
            if stop_as is not None:
                await self.stop(ref, stop_as, by=rec.issuer)

    async def _plan_shard(self, rec: AlertRecord, target: Target, shard: int) -> int:
        targeted, suppressed = await resolve_shard(self.redis, shard, target, self.size, self.clock())
        if len(targeted) == 0 and len(suppressed) == 0:
            return 0
        st = np.zeros(self.size, dtype=np.uint8)
        st[suppressed] = State.SUPPRESSED
        st[targeted] = State.TARGETED
        created = await self._set_if_absent(keys=[keys.delivery_state(shard, rec.id)], args=[st.tobytes()])
        pipe = self.redis.pipeline(transaction=False)
        if created:
            count(pipe, rec.id, "all", State.TARGETED, len(targeted))
            count(pipe, rec.id, "all", State.SUPPRESSED, len(suppressed))
            pipe.hincrby(keys.alert(rec.id), "targeted", len(targeted))
        if len(targeted):
            pipe.sadd(keys.alert_shards(rec.id), shard)
        await pipe.execute()
        if len(targeted):
            await self.enqueue(rec.id, shard, rec.lane)
        return len(targeted)

    async def enqueue(self, alert_id: int, shard: int, lane: str, hold_s: float | None = None) -> None:
        """Hand a shard job to the runner and mark it queued, so the reaper leaves it alone.
        With ``hold_s`` the job is only marked (it waits on the retry schedule that long)."""
        ttl = int(hold_s + 60) if hold_s is not None else 86_400
        await self.redis.set(keys.shard_queued(shard, alert_id), 1, ex=ttl)
        if hold_s is None and self.submit is not None:
            r = self.submit(alert_id, shard, lane)
            if asyncio.iscoroutine(r):
                await r

    async def _forward(self, rec: AlertRecord) -> None:
        ch = self.channels["webhook"]
        urls = getattr(ch, "urls", ())
        if not urls:
            return
        notice = self.renderer.notice(rec, "webhook", self.settings.webhook_language)
        results = await ch.send(notice, [Recipient(0, u) for u in urls])
        pipe = self.redis.pipeline(transaction=False)
        count(pipe, rec.id, "webhook", State.SENT, sum(r.ok for r in results))
        count(pipe, rec.id, "webhook", State.FAILED, sum(not r.ok for r in results))
        await pipe.execute()

    # -- one shard ---------------------------------------------------------
    async def run_shard(self, alert_id: int, shard: int) -> ShardReport:
        """Deliver every subscriber of one shard still to send; safe to run again, and safe to run
        twice at once (the second finds the shard's lease held and returns)."""
        if not await self.leases.acquire(shard, alert_id):
            # Another worker holds it (this was a duplicate queue entry): it finishes the shard, or
            # the reaper queues it again if that worker dies. This entry is consumed either way.
            await self.redis.delete(keys.shard_queued(shard, alert_id))
            return ShardReport(shard, busy=True)
        keeper = asyncio.ensure_future(self.leases.keep(shard, alert_id))
        try:
            await self.redis.delete(keys.shard_queued(shard, alert_id))
            return await self._run_shard(alert_id, shard)
        finally:
            keeper.cancel()
            await self.leases.release(shard, alert_id)

    async def _run_shard(self, alert_id: int, shard: int) -> ShardReport:
        report = ShardReport(shard)
        rec = await self.alerts.get(alert_id)
        run = ShardRun(rec.lane)
        if rec.lifecycle in STOPPED or rec.lifecycle is Lifecycle.DONE and not await self._reopened(rec, shard):
            await self._finish_shard(alert_id, shard)
            return report
        if rec.expires_at is not None and self.clock() >= rec.expires_at:
            report.expired = await self.stop_shard(alert_id, shard, State.EXPIRED)
            await self.alerts.set_lifecycle(alert_id, Lifecycle.EXPIRED, only_from=(Lifecycle.SENDING,))
            await self._finish_shard(alert_id, shard)
            return report
        wanted = (State.TARGETED, State.QUEUED, State.FAILOVER)
        for _ in range(C.MAX_CHAIN + 1):
            # Later rounds pick up subscribers that failed reports moved on while this job ran.
            if not await self._deliver(rec, shard, wanted, report, run) or run.halt is not None:
                break
            wanted = (State.FAILOVER,)
        if run.halt == "yield":
            report.yielded = True
            await self.leases.release(shard, alert_id)
            await self.enqueue(alert_id, shard, rec.lane)
        elif run.halt is None and run.queued_until is not None:
            await self._schedule_retry(rec, shard, run.queued_until)
        elif run.halt != "lost":
            await self._finish_shard(alert_id, shard)
        return report

    async def _deliver(self, rec: AlertRecord, shard: int, wanted: tuple[State, ...], report: ShardReport,
                       run: ShardRun) -> int:
        """One pass over the shard: everyone in a ``wanted`` state goes down their chain. Returns how
        many it took on."""
        alert_id = rec.id
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.delivery_state(shard, alert_id))
        pipe.get(keys.delivery_channel(shard, alert_id))
        pipe.get(keys.column(shard, C.CHAIN.name))
        pipe.get(keys.column(shard, C.LANGUAGE.name))
        raw_state, raw_used, raw_chain, raw_lang = await pipe.execute()
        st = states(raw_state, self.size)
        stale = np.flatnonzero(st == State.SENDING)
        if len(stale):
            # Claimed by a run that died mid-batch (we hold the lease, so nobody else is sending):
            # they go again; those the provider had already accepted are the only possible duplicates.
            await self.transitions.apply(self.redis, shard, alert_id, State.QUEUED, stale, allowed=(State.SENDING,))
            st[stale] = State.QUEUED
            report.reclaimed += len(stale)
        chain = C.decode(C.CHAIN, raw_chain, self.size)
        langs = C.decode(C.LANGUAGE, raw_lang, self.size)
        position = self._positions(st, states(raw_used, self.size), chain)
        todo = np.flatnonzero(np.isin(st, wanted))
        taken = len(todo)
        while len(todo) and run.halt is None:
            batches, exhausted = await self._group(shard, todo, chain, langs, position)
            if len(exhausted):
                moved = await self.transitions.apply(self.redis, shard, alert_id, State.FAILED, exhausted,
                                                     allowed=(State.TARGETED, State.QUEUED, State.FAILOVER))
                await self._count(rec, "all", State.FAILED, len(moved))
                report.failed += len(moved)
            failed_over = await self._send_groups(rec, shard, batches, report, run)
            position[failed_over] += 1
            todo = failed_over
        return taken

    @staticmethod
    def _positions(st: np.ndarray, used: np.ndarray, chain: np.ndarray) -> np.ndarray:
        """Where on its chain each subscriber resumes: the channel it was queued on, the one after the
        channel it failed over from, or the first."""
        position = np.zeros(len(st), dtype=np.int8)
        for i in range(C.MAX_CHAIN):
            on_i = ((chain >> (4 * i)) & 0xF) == used
            position[(st == State.QUEUED) & on_i & (used > 0)] = i
            position[(st == State.FAILOVER) & on_i & (used > 0)] = i + 1
        return position

    async def _reopened(self, rec: AlertRecord, shard: int) -> bool:
        """A done alert whose receipts ran late gets this shard's failovers sent."""
        st = states(await self.redis.get(keys.delivery_state(shard, rec.id)), self.size)
        return bool((st == State.FAILOVER).any() or (st == State.QUEUED).any())

    async def _group(self, shard: int, offsets: np.ndarray, chain: np.ndarray, langs: np.ndarray,
                     position: np.ndarray) -> tuple[list[Batch], np.ndarray]:
        """Group subscribers by their next channel enabled here and their language. A subscriber's
        chain lists only channels it has an endpoint for (registration and pruning keep it so);
        the endpoints themselves are read batch by batch, with the claim."""
        batches: list[Batch] = []
        pending = offsets
        exhausted = []
        while len(pending):
            ids = (chain[pending] >> (4 * position[pending].astype(np.uint16))) & 0xF
            done = (ids == 0) | (position[pending] >= C.MAX_CHAIN)
            exhausted.append(pending[done])
            pending, ids = pending[~done], ids[~done]
            skip = []
            for cid in np.unique(ids):
                name = C.CHANNEL_NAMES.get(int(cid))
                group = pending[ids == cid]
                if name not in self.channels:
                    skip.append(group)
                    continue
                for lang in np.unique(langs[group]):
                    batches.append(Batch(name, int(lang), group[langs[group] == lang]))
            pending = np.concatenate(skip) if skip else EMPTY
            position[pending] += 1
        # in-app first: it is instant, and it is the channel every subscriber has
        batches.sort(key=lambda b: b.channel != "inapp")
        return batches, np.concatenate(exhausted) if exhausted else EMPTY

    async def _send_groups(self, rec: AlertRecord, shard: int, groups: list[Batch],
                           report: ShardReport, run: ShardRun) -> np.ndarray:
        failed_over: list[np.ndarray] = []

        async def run_group(g: Batch) -> None:
            channel = self.channels[g.channel]
            notice = self.renderer.notice(rec, g.channel, C.LANGUAGES[g.lang])
            size = max(1, min(channel.max_batch, self.settings.send_chunk))
            sem = asyncio.Semaphore(max(1, channel.max_in_flight))

            async def one(i: int) -> None:
                async with sem:
                    if run.halt is None and self.preempt is not None and await self.preempt(run.lane):
                        run.halt = "yield"
                    if run.halt is not None:
                        return
                    out = await self._send_batch(rec, shard, g.channel, notice, g.offsets[i:i + size], report, run)
                    if len(out):
                        failed_over.append(out)

            await asyncio.gather(*(one(i) for i in range(0, len(g.offsets), size)))

        await asyncio.gather(*(run_group(g) for g in groups))
        return np.sort(np.concatenate(failed_over)) if failed_over else EMPTY

    async def _send_batch(self, rec: AlertRecord, shard: int, via: str, notice, offsets: np.ndarray,
                          report: ShardReport, run: ShardRun) -> np.ndarray:
        """One batch through the send stages (``dispatcher.send_stages``) on the subscribers' channel
        ``via``; returns the offsets failing over to their next channel."""
        ctx = BatchContext(rec, shard, self.via(via), notice, offsets, report, run)
        return await self.send_path.run(ctx)

    async def _schedule_retry(self, rec: AlertRecord, shard: int, due: float) -> None:
        """Put this shard's queued sends on the retry schedule, or fail them over when it has been
        put off too often."""
        rounds = await self.redis.hincrby(keys.retry_rounds(rec.id), shard, 1)
        if rounds > self.settings.max_retry_rounds:
            st = states(await self.redis.get(keys.delivery_state(shard, rec.id)), self.size)
            queued = np.flatnonzero(st == State.QUEUED)
            moved = await self.transitions.apply(self.redis, shard, rec.id, State.FAILOVER, queued,
                                                 allowed=(State.QUEUED,))
            await self._count(rec, "all", State.FAILOVER, len(moved))
            await self.enqueue(rec.id, shard, rec.lane)
            return
        await self.enqueue(rec.id, shard, rec.lane, hold_s=max(0.0, due - self.clock()))
        await self.redis.zadd(keys.RETRY_SCHEDULE, {f"{rec.id}:{shard}": due})

    async def _count(self, rec: AlertRecord, channel: str, state: State, n: int) -> None:
        if n:
            pipe = self.redis.pipeline(transaction=False)
            count(pipe, rec.id, channel, state, n, (self.clock() - rec.accepted_at) * 1000)
            await pipe.execute()

    # -- lifecycle (dispatcher.lifecycle) ----------------------------------
    async def stop(self, alert_id: int, lifecycle: Lifecycle, by: str) -> int:
        return await self.lifecycle.stop(alert_id, lifecycle, by)

    async def stop_shard(self, alert_id: int, shard: int, state: State) -> int:
        return await self.lifecycle.stop_shard(alert_id, shard, state)

    async def settled(self, alert_id: int, nshards: int, timeout_s: float | None = None) -> bool:
        return await self.lifecycle.settled(alert_id, nshards, timeout_s)

    async def _finish_shard(self, alert_id: int, shard: int) -> None:
        await self.lifecycle.finish_shard(alert_id, shard)

    async def _finish_if_done(self, alert_id: int) -> None:
        await self.lifecycle.finish_if_done(alert_id)

    async def reopen(self, alert_id: int, shard: int) -> None:
        """Send a finished shard again (late receipts made some subscribers fail over)."""
        if await self.lifecycle.reopen(alert_id, shard):
            rec = await self.alerts.get(alert_id)
            await self.enqueue(alert_id, shard, rec.lane)

    async def reap(self) -> int:
        from .reaper import reap
        return await reap(self)

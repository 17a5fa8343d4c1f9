"""Fan-out: the planner cuts an alert into shard jobs; a shard job delivers its slice.

The planner resolves each shard's audience and writes it as that shard's
delivery-state string (``targeted`` / ``suppressed`` bytes) in one SET NX, so a
re-plan after a crash changes nothing, and hands the shard to the job runner.
A shard job reads the states back, groups the still-targeted subscribers by
(first usable channel, language), renders each group once, and sends batches
of the channel's size with bounded concurrency: claim (``targeted → sending``),
send, record (``sent`` / ``failover`` / ``failed``) — each a bulk Redis step,
never a round trip per subscriber. The same ``Engine.run_shard`` runs in the
embedded asyncio pool and in RQ workers.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np
import orjson
from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt

from channels.base import Channel, Outcome, Recipient, Result
from subscribers import columns as C
from subscribers.store import SubscriberStore

from . import keys
from .alerts import STOPPED, AlertRecord, AlertStore, Lifecycle, fans_out
from .delivery import State, Transitions, count, states
from .render import Renderer
from .settings import Settings
from .targeting import Target, resolve_shard, target_for

log = logging.getLogger(__name__)

SET_IF_ABSENT = "return redis.call('SET', KEYS[1], ARGV[1], 'NX') and 1 or 0"
#: Renew a lease only while we still own it (1), else report it lost (0).
RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class _Retryable(Exception):
    def __init__(self, delay: float | None):
        self.delay = delay


@dataclass
class Batch:
    channel: str
    lang: int
    offsets: np.ndarray
    endpoints: list[str]


@dataclass
class _Run:
    """One shard job's hold on its shard: its lease, and why it stopped early (if it did)."""

    owner: str
    lane: str
    #: None while running; "stopped" (cancelled / superseded / expired), "yield" (a higher lane is
    #: waiting: the job re-queues itself), "lost" (the lease expired: another worker took over).
    halt: str | None = None


@dataclass
class ShardReport:
    shard: int
    busy: bool = False      #: another worker holds this shard's lease
    yielded: bool = False   #: paused for a higher lane; re-queued
    sent: int = 0
    failed: int = 0
    failover: int = 0
    cancelled: int = 0
    expired: int = 0
    reclaimed: int = 0      #: claims of a dead run sent again
    by_channel: dict[str, int] = field(default_factory=dict)


class Engine:
    """Everything one process needs to plan and run shard jobs."""

    def __init__(self, redis, settings: Settings, channels: dict[str, Channel],
                 submit: Callable[[int, int, str], Awaitable[None] | None] | None = None,
                 max_attempts: int = 4, clock: Callable[[], float] = time.time,
                 preempt: Callable[[str], Awaitable[bool]] | None = None, lease_s: float | None = None):
        self.redis = redis
        self.settings = settings
        self.size = settings.shard_size
        self.alerts = AlertStore(redis)
        self.subscribers = SubscriberStore(redis, settings.shard_size)
        self.renderer = Renderer(settings.sms_signature)
        self.transitions = Transitions(redis)
        self.channels = channels
        self.submit = submit
        self.max_attempts = max_attempts
        self.clock = clock
        self._targets: dict[int, Target] = {}
        self._set_if_absent = redis.register_script(SET_IF_ABSENT)
        self._renew = redis.register_script(RENEW_LEASE)
        self._release = redis.register_script(RELEASE_LEASE)
        #: Asks "is work of a higher lane than this one waiting?" between batches.
        self.preempt = preempt
        self.lease_ms = int((settings.lease_s if lease_s is None else lease_s) * 1000)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

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
        target = self.target(rec)
        nshards = await self.subscribers.shard_count()
        sem = asyncio.Semaphore(4)
        webhook = asyncio.ensure_future(self._forward(rec)) if "webhook" in self.channels else None

        async def one(shard: int) -> int:
            async with sem:
                return await self._plan_shard(rec, target, shard)

        total = sum(await asyncio.gather(*(one(s) for s in range(nshards))))
        await self.redis.hset(keys.alert(alert_id), mapping={"planned": 1})
        if webhook:
            await webhook
        await self._finish_if_done(alert_id)
        return total

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

    async def enqueue(self, alert_id: int, shard: int, lane: str) -> None:
        """Hand a shard job to the runner, marking it queued (the reaper re-queues lost ones)."""
        if self.submit is None:
            return
        await self.redis.set(keys.shard_queued(shard, alert_id), 1, ex=86_400)
        r = self.submit(alert_id, shard, lane)
        if asyncio.iscoroutine(r):
            await r

    async def reap(self) -> int:
        """Re-queue shard jobs that are pending but neither queued nor held (their worker died),
        re-plan alerts whose planning never finished, and expire alerts past their expiry."""
        requeued = 0
        for raw in await self.redis.smembers(keys.FANOUT_PENDING):
            alert_id = int(raw)
            try:
                rec = await self.alerts.get(alert_id)
            except Exception:
                continue
            if rec.expires_at is not None and self.clock() >= rec.expires_at and rec.lifecycle is Lifecycle.SENDING:
                await self.stop(alert_id, Lifecycle.EXPIRED, by="expiry")
                continue
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(keys.alert(alert_id), "planned")
            pipe.smembers(keys.alert_shards(alert_id))
            planned, shards = await pipe.execute()
            if not planned and self.clock() - rec.accepted_at > self.lease_ms / 1000:
                await self.plan(alert_id)
                continue
            shards = sorted(int(x) for x in shards)
            pipe = self.redis.pipeline(transaction=False)
            for shard in shards:
                pipe.exists(keys.shard_lease(shard, alert_id))
                pipe.exists(keys.shard_queued(shard, alert_id))
            found = await pipe.execute()
            for i, shard in enumerate(shards):
                if not found[2 * i] and not found[2 * i + 1]:
                    await self.enqueue(alert_id, shard, rec.lane)
                    requeued += 1
        return requeued

    async def _forward(self, rec: AlertRecord) -> None:
        ch = self.channels["webhook"]
        urls = getattr(ch, "urls", ())
        if not urls:
            return
        notice = self.renderer.notice(rec, "webhook", "en")
        results = await ch.send(notice, [Recipient(0, u) for u in urls])
        pipe = self.redis.pipeline(transaction=False)
        count(pipe, rec.id, "webhook", State.SENT, sum(r.ok for r in results))
        count(pipe, rec.id, "webhook", State.FAILED, sum(not r.ok for r in results))
        await pipe.execute()

    # -- one shard ---------------------------------------------------------
    async def run_shard(self, alert_id: int, shard: int) -> ShardReport:
        """Deliver every still-targeted subscriber of one shard; safe to run again, and safe to run
        twice at once (the second finds the shard's lease held and returns)."""
        lease = keys.shard_lease(shard, alert_id)
        if not await self.redis.set(lease, self.owner, nx=True, px=self.lease_ms):
            return ShardReport(shard, busy=True)
        await self.redis.delete(keys.shard_queued(shard, alert_id))
        try:
            return await self._run_shard(alert_id, shard)
        finally:
            await self._release(keys=[lease], args=[self.owner])

    async def _run_shard(self, alert_id: int, shard: int) -> ShardReport:
        report = ShardReport(shard)
        rec = await self.alerts.get(alert_id)
        run = _Run(self.owner, rec.lane)
        if rec.lifecycle in STOPPED or rec.lifecycle is Lifecycle.DONE:
            await self._finish_shard(alert_id, shard)
            return report
        if rec.expires_at is not None and self.clock() >= rec.expires_at:
            report.expired = await self.stop_shard(alert_id, shard, State.EXPIRED)
            await self.alerts.set_lifecycle(alert_id, Lifecycle.EXPIRED, only_from=(Lifecycle.SENDING,))
            await self._finish_shard(alert_id, shard)
            return report
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.delivery_state(shard, alert_id))
        pipe.get(keys.column(shard, C.CHAIN.name))
        pipe.get(keys.column(shard, C.LANGUAGE.name))
        raw_state, raw_chain, raw_lang = await pipe.execute()
        st = states(raw_state, self.size)
        stale = np.flatnonzero(st == State.SENDING)
        if len(stale):
            # Claimed by a run that died mid-batch (we hold the lease, so nobody else is sending):
            # send again. Those the provider had already accepted are the only possible duplicates.
            await self.transitions.apply(self.redis, shard, alert_id, State.TARGETED, stale, allowed=(State.SENDING,))
            st[stale] = State.TARGETED
            report.reclaimed = len(stale)
        todo = np.flatnonzero((st == State.TARGETED) | (st == State.FAILOVER))
        chain = C.decode(C.CHAIN, raw_chain, self.size)
        langs = C.decode(C.LANGUAGE, raw_lang, self.size)
        position = np.zeros(self.size, dtype=np.int8)   # how far along its chain each subscriber is
        while len(todo):
            batches, exhausted = await self._group(shard, todo, chain, langs, position)
            if len(exhausted):
                moved = await self.transitions.apply(self.redis, shard, alert_id, State.FAILED, exhausted,
                                                     allowed=(State.TARGETED, State.FAILOVER))
                await self._count(alert_id, "all", State.FAILED, len(moved), rec)
                report.failed += len(moved)
            failed_over = await self._send_groups(rec, shard, batches, report, run)
            if run.halt is not None:
                break
            position[failed_over] += 1
            todo = failed_over
        if run.halt == "yield":
            report.yielded = True
            await self._release(keys=[keys.shard_lease(shard, alert_id)], args=[self.owner])
            await self.enqueue(alert_id, shard, rec.lane)
        elif run.halt != "lost":
            await self._finish_shard(alert_id, shard)
        return report

    async def _group(self, shard: int, offsets: np.ndarray, chain: np.ndarray, langs: np.ndarray,
                     position: np.ndarray) -> tuple[list[Batch], np.ndarray]:
        """Group subscribers by their next usable channel (enabled here, with an endpoint) and language."""
        batches: list[Batch] = []
        pending = offsets
        exhausted = []
        while len(pending):
            ids = (chain[pending] >> (4 * position[pending].astype(np.uint16))) & 0xF
            done = (ids == 0) | (position[pending] >= C.MAX_CHAIN)
            exhausted.append(pending[done])
            pending, ids = pending[~done], ids[~done]
            retry = []
            for cid in np.unique(ids):
                name = C.CHANNEL_NAMES.get(int(cid))
                group = pending[ids == cid]
                if name not in self.channels:
                    retry.append(group)
                    continue
                if name == "inapp":
                    eps = [""] * len(group)
                else:
                    raw = await self.redis.hmget(keys.endpoints(shard, name), group.tolist())
                    have = np.array([e is not None for e in raw], dtype=bool)
                    retry.append(group[~have])
                    group = group[have]
                    eps = [e.decode() for e in raw if e is not None]
                eps_arr = np.array(eps, dtype=object)
                for lang in np.unique(langs[group]):
                    sel = langs[group] == lang
                    batches.append(Batch(name, int(lang), group[sel], list(eps_arr[sel])))
            pending = np.concatenate(retry) if retry else np.zeros(0, dtype=np.int64)
            position[pending] += 1
        return batches, np.concatenate(exhausted) if exhausted else np.zeros(0, dtype=np.int64)

    async def _send_groups(self, rec: AlertRecord, shard: int, groups: list[Batch],
                           report: ShardReport, run: _Run) -> np.ndarray:
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
                    offs, eps = g.offsets[i:i + size], g.endpoints[i:i + size]
                    out = await self._send_batch(rec, shard, channel, notice, offs, eps, report, run)
                    if len(out):
                        failed_over.append(out)

            await asyncio.gather(*(one(i) for i in range(0, len(g.offsets), size)))

        await asyncio.gather(*(run_group(g) for g in groups))
        return np.sort(np.concatenate(failed_over)) if failed_over else np.zeros(0, dtype=np.int64)

    async def _send_batch(self, rec: AlertRecord, shard: int, channel: Channel, notice, offsets: np.ndarray,
                          endpoints: list[str], report: ShardReport, run: _Run) -> np.ndarray:
        """Claim, send (retrying transient failures in place), record. Returns offsets failing over.
        The claim renews the shard's lease and reads the alert's lifecycle in the same round trip."""
        alert_id, cid = rec.id, C.CHANNEL_IDS.get(channel.name, 0)
        lease = keys.shard_lease(shard, alert_id)
        pipe = self.redis.pipeline(transaction=False)
        await self._renew(keys=[lease], args=[self.owner, self.lease_ms], client=pipe)
        pipe.hget(keys.alert(alert_id), "lifecycle")
        await self.transitions.queue(pipe, shard, alert_id, State.SENDING, offsets, channel_id=cid)
        held, lifecycle, packed = await pipe.execute()
        claimed = np.frombuffer(packed or b"", dtype="<u2").astype(np.int64)
        stopped = lifecycle is not None and Lifecycle(lifecycle.decode()) in STOPPED
        if not held or stopped:
            back = State.CANCELLED if stopped else State.TARGETED
            moved = await self.transitions.apply(self.redis, shard, alert_id, back, claimed, allowed=(State.SENDING,))
            if stopped:
                await self._count(alert_id, channel.name, State.CANCELLED, len(moved), rec)
                report.cancelled += len(moved)
            run.halt = "stopped" if stopped else "lost"
            return np.zeros(0, dtype=np.int64)
        if not len(claimed):
            return np.zeros(0, dtype=np.int64)
        ep_of = dict(zip(offsets.tolist(), endpoints))
        base = shard * self.size
        pending = {int(o): Recipient(base + int(o), ep_of[int(o)]) for o in claimed}
        results: dict[int, Result] = {}
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.max_attempts), retry=retry_if_exception_type(_Retryable),
                    wait=self._wait(rec), reraise=False):
                with attempt:
                    if rec.expires_at is not None and self.clock() >= rec.expires_at:
                        break
                    offs = list(pending)
                    answers = await channel.send(notice, [pending[o] for o in offs])
                    retry_delays = []
                    for o, res in zip(offs, answers):
                        if res.outcome is Outcome.RETRY:
                            retry_delays.append(res.retry_after_s or 0.0)
                            results[o] = res
                        else:
                            results[o] = res
                            del pending[o]
                    if pending:
                        raise _Retryable(max(retry_delays) if retry_delays else None)
        except RetryError:
            pass
        return await self._record(rec, shard, channel, results, pending, report)

    def _wait(self, rec: AlertRecord):
        """Full-jitter exponential backoff, at least the provider's Retry-After, never past expiry."""
        def wait(retry_state) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            backoff = random.uniform(0, min(5.0, 0.1 * 2 ** retry_state.attempt_number))
            delay = max(backoff, getattr(exc, "delay", None) or 0.0)
            if rec.expires_at is not None:
                delay = min(delay, max(0.0, rec.expires_at - self.clock()))
            return delay
        return wait

    async def _record(self, rec: AlertRecord, shard: int, channel: Channel, results: dict[int, Result],
                      still_retrying: dict, report: ShardReport) -> np.ndarray:
        alert_id, cid = rec.id, C.CHANNEL_IDS.get(channel.name, 0)
        accepted = np.array(sorted(o for o, r in results.items() if r.ok and o not in still_retrying), dtype=np.int64)
        gone = sorted(o for o, r in results.items() if r.outcome is Outcome.GONE)
        over = np.array(sorted(o for o, r in results.items() if not r.ok), dtype=np.int64)
        pipe = self.redis.pipeline(transaction=False)
        await self.transitions.queue(pipe, shard, alert_id, State.SENT, accepted, channel_id=cid)
        await self.transitions.queue(pipe, shard, alert_id, State.FAILOVER, over)
        expired = np.array(sorted(o for o in still_retrying if o not in results), dtype=np.int64)
        await self.transitions.queue(pipe, shard, alert_id, State.EXPIRED, expired)
        if channel.has_receipts and channel.name != "inapp":
            ttl = int(max(channel.receipt_timeout_s * 10, 3600))
            base = shard * self.size
            for o in accepted.tolist():
                pid = results[o].provider_id
                if pid:
                    pipe.set(keys.provider_message(channel.name, pid), f"{alert_id}:{base + o}", ex=ttl)
        moved_sent, moved_over, moved_expired, *_ = await pipe.execute()
        n_sent, n_over = len(moved_sent) // 2, len(moved_over) // 2
        latency_ms = (self.clock() - rec.accepted_at) * 1000
        pipe = self.redis.pipeline(transaction=False)
        count(pipe, alert_id, channel.name, State.TARGETED, len(results))
        count(pipe, alert_id, channel.name, State.SENT, n_sent, latency_ms)
        count(pipe, alert_id, channel.name, State.FAILOVER, n_over)
        count(pipe, alert_id, "all", State.EXPIRED, len(moved_expired) // 2)
        reasons: dict[str, int] = {}
        for r in results.values():
            if not r.ok:
                reasons[f"{channel.name}:{r.reason.value}"] = reasons.get(f"{channel.name}:{r.reason.value}", 0) + 1
        for k, v in reasons.items():
            pipe.hincrby(keys.counters(alert_id), f"reason:{k}", v)
        pipe.publish(keys.alert_events(alert_id), orjson.dumps({"shard": shard, "channel": channel.name,
                                                                "sent": n_sent, "failover": n_over}))
        await pipe.execute()
        report.sent += n_sent
        report.failover += n_over
        report.by_channel[channel.name] = report.by_channel.get(channel.name, 0) + n_sent
        base = shard * self.size
        for o in gone:
            await self.subscribers.remove_endpoint(base + o, channel.name)
        return over

    async def _count(self, alert_id: int, channel: str, state: State, n: int, rec: AlertRecord) -> None:
        if n:
            pipe = self.redis.pipeline(transaction=False)
            count(pipe, alert_id, channel, state, n, (self.clock() - rec.accepted_at) * 1000)
            await pipe.execute()

    # -- stopping ----------------------------------------------------------
    async def stop_shard(self, alert_id: int, shard: int, state: State) -> int:
        """Move every pending subscriber of one shard to ``cancelled`` / ``expired``."""
        raw = await self.redis.get(keys.delivery_state(shard, alert_id))
        st = states(raw, self.size)
        pending = np.flatnonzero(np.isin(st, [State.TARGETED, State.QUEUED, State.FAILOVER]))
        moved = await self.transitions.apply(self.redis, shard, alert_id, state, pending)
        if len(moved):
            pipe = self.redis.pipeline(transaction=False)
            count(pipe, alert_id, "all", state, len(moved))
            await pipe.execute()
        return len(moved)

    async def stop(self, alert_id: int, lifecycle: Lifecycle, by: str) -> int:
        """Cancel / supersede / expire an alert: no further sends, pending ones marked."""
        await self.alerts.set_lifecycle(alert_id, lifecycle, by=by)
        state = State.EXPIRED if lifecycle is Lifecycle.EXPIRED else State.CANCELLED
        shards = [int(s) for s in await self.redis.smembers(keys.alert_shards(alert_id))]
        nshards = await self.subscribers.shard_count()
        total = 0
        for shard in range(nshards) if not shards else shards:
            total += await self.stop_shard(alert_id, shard, state)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.alert_shards(alert_id))
        pipe.srem(keys.FANOUT_PENDING, alert_id)
        await pipe.execute()
        return total

    async def _finish_shard(self, alert_id: int, shard: int) -> None:
        await self.redis.srem(keys.alert_shards(alert_id), shard)
        await self._finish_if_done(alert_id)

    async def _finish_if_done(self, alert_id: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.scard(keys.alert_shards(alert_id))
        pipe.hget(keys.alert(alert_id), "planned")
        left, planned = await pipe.execute()
        if left == 0 and planned:
            await self.alerts.set_lifecycle(alert_id, Lifecycle.DONE, only_from=(Lifecycle.SENDING,))
            await self.redis.srem(keys.FANOUT_PENDING, alert_id)
            await self.redis.publish(keys.alert_events(alert_id), b'{"done":true}')

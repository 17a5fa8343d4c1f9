"""One batch's send path as stages composed as data: Guard → Claim → Send → Route → Record.

Each stage takes the typed ``BatchContext``, does one thing, and says whether the
batch goes on (``SendPath.stages`` is the list; a test can run any stage alone
with a fake clock and a fake sleep):

- **Guard**: the provider's circuit permit and its quota's wait (shared by every
  worker through Redis). It comes before the claim: a cancel during the wait stops
  the batch, and the claim, which renews the shard's lease, comes right before the send.
- **Claim**: ``targeted/queued/failover → sending`` for the batch, the lease renewed and
  the alert's lifecycle read in one script (``dispatcher.batch_scripts.CLAIM``), the
  endpoints loaded by one HMGET, in one round trip. A stopped alert (its batch is
  cancelled) or a lost lease ends the batch (and the shard job).
- **Send**: the adapter's answers, transient failures retried under one
  ``RetryPolicy`` (short waits in place, long ones put on the retry schedule).
- **Route**: every subscriber's answer becomes accepted / failover / retry later /
  expired (``route``: a pure function).
- **Record**: the states and their counters in one script (``batch_scripts.RECORD``),
  receipt correlation, circuit counts and failover history in the same round trip;
  gone endpoints pruned.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Awaitable, Callable

import numpy as np
from tenacity import wait_random_exponential

from channels.base import Notice, Outcome, Reason, Result

from . import keys, latency
from .alerts import STOPPED, AlertRecord, Lifecycle
from .circuit import Permit
from .batch_scripts import GROUPS, BatchScripts
from .cost import SMS_CHANNELS, queue_incurred, units_per_message
from .delivery import State, count
from .metrics import timed_send
from .settings import Settings
from .via import Via

log = logging.getLogger(__name__)

#: Full-jitter exponential backoff between attempts (s), before any Retry-After.
BACKOFF = wait_random_exponential(multiplier=0.2, max=60)
SEVERE = ("Severe", "Extreme")
EMPTY = np.zeros(0, dtype=np.int64)
#: Group bits of ``batch_scripts.GROUPS``.
SENT, OVER, EXPIRED, QUEUED = (1 << i for i in range(len(GROUPS)))
CIRCUIT_OPEN = Result(Outcome.PERMANENT, Reason.CIRCUIT_OPEN)
ENDPOINT_REMOVED = Result(Outcome.PERMANENT, Reason.INVALID_ENDPOINT, detail="endpoint removed")


@dataclass
class ShardRun:
    """One shard job's hold on its shard and why it stopped early, if it did."""

    lane: str
    #: None while running; "stopped" (cancelled / superseded / expired), "yield" (a higher lane is
    #: waiting: the job re-queues itself), "lost" (the lease ran out: another worker took over).
    halt: str | None = None
    queued_until: float | None = None     #: some sends wait on the retry schedule until then
    lease: str = ""                       #: the token of this job's hold on the shard's lease


@dataclass
class ShardReport:
    shard: int
    busy: bool = False      #: another worker holds this shard's lease
    yielded: bool = False   #: paused for a higher lane; re-queued
    sent: int = 0
    failed: int = 0
    failover: int = 0
    queued: int = 0         #: put off to the retry schedule
    cancelled: int = 0
    expired: int = 0
    suppressed: int = 0     #: held back by the organisation's hard cost budget
    reclaimed: int = 0      #: claims of a dead run, sent again
    by_channel: dict[str, int] = field(default_factory=dict)


@dataclass
class BatchContext:
    """Everything one batch carries through the stages."""

    rec: AlertRecord
    shard: int
    via: Via
    notice: Notice
    asked: np.ndarray                     #: offsets the shard job handed in
    report: ShardReport
    run: ShardRun
    permit: Permit = Permit.ALLOWED
    offs: list[int] = field(default_factory=list)          #: offsets claimed
    ids: list[int] = field(default_factory=list)           #: their subscriber ids
    endpoints: list[str] = field(default_factory=list)
    outcome: list[Result | None] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)       #: indexes whose last answer was "retry"
    queue_at: float | None = None                          #: retry on the schedule at this time
    circuit: tuple[int, int] = (0, 0)                      #: (successes, failures) not yet counted
    failed_over: np.ndarray = field(default_factory=lambda: EMPTY)
    #: Notices differing per subscriber (shelter guidance): ``which[i]`` indexes ``variants`` for
    #: ``asked[i]``; empty: everyone gets ``notice``.
    variants: tuple[Notice, ...] = ()
    which: np.ndarray | None = None
    claimed_which: np.ndarray | None = None                #: ``which`` of the claimed offsets


@dataclass
class Routing:
    """Where each claimed subscriber of a batch goes (offsets)."""

    accepted: list[int]
    over: list[int]          #: to the next channel: permanent, gone, out of attempts, circuit open
    queued: list[int]        #: on the retry schedule
    expired: list[int]
    gone: list[int]          #: endpoints the provider says are gone (pruned)
    reasons: dict[str, int]  #: "reason:<channel>:<reason>" → count
    over_by_reason: dict[str, list[int]] = field(default_factory=dict)  #: reason → offsets failing over


def route(ctx: BatchContext, now: float) -> Routing:
    """Every claimed subscriber's answer as accepted / failover / retry later / expired (pure)."""
    expired_now = ctx.rec.expires_at is not None and now >= ctx.rec.expires_at
    later = set(ctx.pending) if (ctx.queue_at is not None or expired_now) else set()
    accepted, over, waiting, unsent, gone = [], [], [], [], []
    reasons: dict[str, int] = {}
    over_by_reason: dict[str, list[int]] = {}
    for i, (o, res) in enumerate(zip(ctx.offs, ctx.outcome)):
        if res is None:
            unsent.append(o)
            continue
        if res.outcome is Outcome.ACCEPTED:
            accepted.append(o)
            continue
        if i in later:
            waiting.append(o)
        else:
            over.append(o)
            over_by_reason.setdefault(res.reason.value, []).append(o)
        if res.outcome is Outcome.GONE:
            gone.append(o)
        k = f"reason:{ctx.via.name}:{res.reason.value}"
        reasons[k] = reasons.get(k, 0) + 1
    expired = sorted(unsent + waiting) if expired_now else unsent
    return Routing(accepted, over, [] if expired_now else waiting, expired, gone, reasons, over_by_reason)


class RetryPolicy:
    """The one retry policy: attempts per channel, full-jitter backoff honouring Retry-After, short
    waits in place and long ones on the retry schedule, nothing past the alert's expiry."""

    def __init__(self, settings: Settings, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, backoff=BACKOFF):
        self.settings, self.clock, self.sleep, self.backoff = settings, clock, sleep, backoff

    def attempts(self, via: Via) -> int:
        return self.settings.attempts_for(via.name)

    def expired(self, rec: AlertRecord, after_s: float = 0.0) -> bool:
        return rec.expires_at is not None and self.clock() + after_s >= rec.expires_at

    async def wait(self, ctx: BatchContext, attempt: int, retry_after_s: float) -> bool:
        """Before attempt ``attempt + 1``: wait in place (True), or give up for now (False) with
        ``ctx.queue_at`` set when the wait goes to the retry schedule."""
        delay = max(self.backoff(SimpleNamespace(attempt_number=attempt)), retry_after_s)
        if self.expired(ctx.rec, delay):
            return False
        if delay > self.settings.retry_in_place_max_s:
            ctx.queue_at = self.clock() + delay
            return False
        await self.sleep(delay)
        return True


class SendPath:
    """The stages, composed as data, and what they need (each its own seam for tests)."""

    def __init__(self, redis, *, size: int, guard, leases, transitions, history, subscribers,
                 policy: RetryPolicy, clock: Callable[[], float]):
        self.redis, self.size, self.guard, self.leases = redis, size, guard, leases
        self.transitions, self.history, self.subscribers = transitions, history, subscribers
        self.policy, self.clock = policy, clock
        self.scripts = BatchScripts(redis)
        self.stages: tuple[Callable[[BatchContext], Awaitable[bool]], ...] = (
            self.guard_stage, self.claim, self.send, self.record)

    async def run(self, ctx: BatchContext) -> np.ndarray:
        """The batch through every stage; returns the offsets failing over to their next channel."""
        for stage in self.stages:
            if not await stage(ctx):
                break
        return ctx.failed_over

    async def guard_stage(self, ctx: BatchContext) -> bool:
        if ctx.via.guarded:
            ctx.permit = await self.guard.admit(ctx.via.adapter, len(ctx.asked))
        return True

    async def claim(self, ctx: BatchContext) -> bool:
        rec, shard, v = ctx.rec, ctx.shard, ctx.via
        # One script: no lifecycle flip lands between reading it and claiming (a cancel's answer means
        # that nothing claimed after it goes out).
        pipe = self.redis.pipeline(transaction=False)
        self.scripts.queue_claim(pipe, [keys.shard_lease(shard, rec.id), keys.alert(rec.id),
                                        keys.delivery_state(shard, rec.id), keys.delivery_channel(shard, rec.id)],
                                 ctx.run.lease, self.leases.ms, v.id, ctx.asked)
        if v.guarded:
            pipe.hmget(keys.endpoints(shard, v.name), ctx.asked.tolist())
        reply, *eps = await pipe.execute()
        got = self.scripts.claimed(reply)
        if got.stopped or not got.held:
            await self._stopped(ctx, got.offsets, got.stopped)
            return False
        claimed = got.offsets
        if not len(claimed):
            return False
        ctx.offs = claimed.tolist()
        ctx.ids = (claimed + shard * self.size).tolist()
        ctx.endpoints = self._claimed_endpoints(ctx, eps[0] if eps else None)
        if ctx.variants and ctx.which is not None:
            if len(ctx.offs) == len(ctx.asked):
                ctx.claimed_which = ctx.which
            else:
                by_offset = dict(zip(ctx.asked.tolist(), ctx.which.tolist()))
                ctx.claimed_which = np.array([by_offset[o] for o in ctx.offs], dtype=np.int64)
        ctx.outcome = [ENDPOINT_REMOVED if v.guarded and not e else None for e in ctx.endpoints]
        ctx.pending = [i for i, o in enumerate(ctx.outcome) if o is None]
        return True

    def _claimed_endpoints(self, ctx: BatchContext, raw: list | None) -> list[str]:
        if raw is None:
            return [""] * len(ctx.offs)
        every = [e.decode() if e else "" for e in raw]
        if len(ctx.offs) == len(ctx.asked):
            return every
        by_offset = dict(zip(ctx.asked.tolist(), every))
        return [by_offset[o] for o in ctx.offs]

    async def _stopped(self, ctx: BatchContext, cancelled: np.ndarray, stopped: bool) -> None:
        """The alert was stopped (the claim cancelled the batch instead) or the lease lost (nothing claimed:
        the batch stays for the lease's new holder)."""
        if stopped and len(cancelled):
            pipe = self.redis.pipeline(transaction=False)
            count(pipe, ctx.rec.id, ctx.via.name, State.CANCELLED, len(cancelled),
                  (self.clock() - ctx.rec.accepted_at) * 1000)
            await pipe.execute()
            ctx.report.cancelled += len(cancelled)
        ctx.run.halt = "stopped" if stopped else "lost"

    async def send(self, ctx: BatchContext) -> bool:
        if ctx.permit is Permit.DENIED:
            ctx.outcome, ctx.pending = [CIRCUIT_OPEN] * len(ctx.offs), []
            return True
        attempts = self.policy.attempts(ctx.via)
        for attempt in range(1, attempts + 1):
            if self.policy.expired(ctx.rec):
                break
            if ctx.via.guarded and attempt > 1:
                await self.guard.take(ctx.via.adapter, len(ctx.pending))
            retry_after = await self._attempt(ctx)
            if not ctx.pending or attempt == attempts:
                break
            await self._count_attempt(ctx)
            if not await self.policy.wait(ctx, attempt, retry_after):
                break
        return True

    async def _attempt(self, ctx: BatchContext) -> float:
        """One request for the pending subscribers; returns the longest Retry-After asked."""
        pending = ctx.pending
        if ctx.claimed_which is not None:
            answers = await self._send_variants(ctx, pending)
        elif len(pending) == len(ctx.offs):
            answers = await timed_send(ctx.via.adapter, ctx.notice, ctx.ids, ctx.endpoints)
        else:
            answers = await timed_send(ctx.via.adapter, ctx.notice, [ctx.ids[i] for i in pending],
                                       [ctx.endpoints[i] for i in pending])
        retry, retry_after = [], 0.0
        for i, res in zip(pending, answers):
            ctx.outcome[i] = res
            if res.outcome is Outcome.RETRY:
                retry.append(i)
                retry_after = max(retry_after, res.retry_after_s or 0.0)
        # The circuit counts requests, not recipients: this attempt failed if most of it must be
        # retried (a provider that refuses tokens is up; one that times out is not).
        ctx.circuit = (0, 1) if 2 * len(retry) > len(pending) else (1, 0)
        ctx.pending = retry
        return retry_after

    @staticmethod
    async def _send_variants(ctx: BatchContext, pending: list[int]) -> list[Result]:
        """One request per distinct notice among the pending subscribers, all at once; answers in
        ``pending`` order."""
        at = np.asarray(pending, dtype=np.int64)
        which = ctx.claimed_which[at]
        groups = [at[which == v] for v in np.unique(which).tolist()]
        variants = [ctx.variants[int(ctx.claimed_which[g[0]])] for g in groups]
        replies = await asyncio.gather(*(
            timed_send(ctx.via.adapter, n, [ctx.ids[i] for i in g.tolist()], [ctx.endpoints[i] for i in g.tolist()])
            for n, g in zip(variants, groups)))
        answers: dict[int, Result] = {}
        for g, reply in zip(groups, replies):
            answers.update(zip(g.tolist(), reply))
        return [answers[i] for i in pending]

    async def _count_attempt(self, ctx: BatchContext) -> None:
        """Count an attempt towards the circuit before retrying (the last one goes with the record)."""
        if not ctx.via.guarded:
            return
        pipe = self.redis.pipeline(transaction=False)
        self.guard.queue_record(pipe, ctx.via.adapter, *ctx.circuit, probe=ctx.permit is Permit.PROBE)
        await pipe.execute()
        ctx.permit, ctx.circuit = Permit.ALLOWED, (0, 0)

    async def record(self, ctx: BatchContext) -> bool:
        """Route the answers and write them: the states and the counters that count them change in one
        script, or not at all (a process dying mid-write leaves the claims, which the next run sends
        again). Every offset here was claimed under this run's lease: each transition moves its list."""
        r = route(ctx, self.clock())
        pipe = self.redis.pipeline(transaction=False)
        self._queue_receipts(pipe, ctx, r.accepted)       # before the states: a receipt may come at once
        if ctx.via.guarded and (ctx.circuit[0] or ctx.circuit[1]):
            self.guard.queue_record(pipe, ctx.via.adapter, *ctx.circuit, probe=ctx.permit is Permit.PROBE)
        at = len(pipe.command_stack)
        groups = (r.accepted, r.over, r.expired, r.queued)
        self.scripts.queue_record(pipe, keys.delivery_state(ctx.shard, ctx.rec.id), groups,
                                  [keys.counters(ctx.rec.id), keys.TOTALS, keys.latency(ctx.rec.id),
                                   keys.LATENCY_TOTALS], self._counters(ctx, r))
        self.history.queue_by_reason(pipe, ctx.shard, ctx.rec.id, ctx.via.name, r.over_by_reason)
        queue_incurred(pipe, ctx.rec.id, ctx.rec.org, ctx.via.name, self._units(ctx, r), self.clock())
        moved = (await pipe.execute())[at]
        want = [len(g) for g in groups]
        if list(moved) != want:
            log.error("alert %s shard %s: recorded %s but moved %s; its lease was lost mid-batch",
                      ctx.rec.id, ctx.shard, want, list(moved))
        self._report(ctx, r)
        if r.gone:
            await self.subscribers.remove_endpoints(ctx.shard, r.gone, ctx.via.name)
        ctx.failed_over = np.array(r.over, dtype=np.int64)
        return True

    def _queue_receipts(self, pipe, ctx: BatchContext, accepted: list[int]) -> None:
        """Provider message id → "<alert>:<subscriber>" for receipts, and the receipt-timeout check."""
        v, rec = ctx.via, ctx.rec
        if not (v.adapter.has_receipts and v.guarded and accepted):
            return
        base = ctx.shard * self.size
        by_offset = dict(zip(ctx.offs, ctx.outcome))
        mapping = {by_offset[o].provider_id: f"{rec.id}:{base + o}" for o in accepted if by_offset[o].provider_id}
        if mapping:
            key = keys.provider_messages(v.provider, int(self.clock() // 86_400))
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, 3 * 86_400)
        if rec.alert.severity() in SEVERE:
            pipe.zadd(keys.RECEIPT_CHECKS, {f"{rec.id}:{ctx.shard}:{v.id}": self.clock() + v.adapter.receipt_timeout_s})

    def _counters(self, ctx: BatchContext, r: Routing) -> list[tuple]:
        """The record's counters (``batch_scripts.RECORD``), each by how many moved: per channel targeted
        (everyone not put off), sent (with its latency), failover, queued; expired over all channels;
        the failure reasons."""
        name = ctx.via.name
        f = latency.field(name, State.SENT.label, (self.clock() - ctx.rec.accepted_at) * 1000)
        out: list[tuple] = []
        for bits, channel, state in ((SENT | OVER | EXPIRED, name, State.TARGETED), (SENT, name, State.SENT),
                                     (OVER, name, State.FAILOVER), (QUEUED, name, State.QUEUED),
                                     (EXPIRED, "all", State.EXPIRED)):
            out += [(bits, 0, f"{channel}:{state.label}"), (bits, 1, f"{channel}:{state.label}")]
        out += [(SENT, 2, f), (SENT, 3, f)]
        out += [(0, 0, k, n) for k, n in r.reasons.items()]
        return out

    @staticmethod
    def _units(ctx: BatchContext, r: Routing) -> int:
        """Cost units of the accepted sends: messages, or SMS segments (per distinct text, not per subscriber)."""
        name, n = ctx.via.name, len(r.accepted)
        if name not in SMS_CHANNELS or not n:
            return n
        if ctx.claimed_which is None:
            return n * units_per_message(name, ctx.notice.body)
        accepted = np.isin(np.asarray(ctx.offs), r.accepted)
        per_variant = np.bincount(ctx.claimed_which[accepted], minlength=len(ctx.variants))
        return sum(k * units_per_message(name, ctx.variants[v].body) for v, k in enumerate(per_variant.tolist()) if k)

    @staticmethod
    def _report(ctx: BatchContext, r: Routing) -> None:
        rep = ctx.report
        rep.sent += len(r.accepted)
        rep.failover += len(r.over)
        rep.queued += len(r.queued)
        rep.expired += len(r.expired)
        if r.accepted:
            rep.by_channel[ctx.via.name] = rep.by_channel.get(ctx.via.name, 0) + len(r.accepted)
        if r.queued:
            ctx.run.queued_until = max(ctx.run.queued_until or 0.0, ctx.queue_at or 0.0)

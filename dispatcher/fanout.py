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
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Awaitable, Callable

import numpy as np
import orjson
from tenacity import wait_random_exponential

from channels.base import Channel, Outcome, Reason, Recipient, Result
from subscribers import columns as C
from subscribers.store import SubscriberStore

from . import keys
from .alerts import STOPPED, AlertRecord, AlertStore, Lifecycle, fans_out
from .circuit import Permit
from .delivery import State, Transitions, count, states
from .leases import Leases
from .lua import Lua
from .metrics import timed_send
from .lru import BoundedCache
from .render import Renderer
from .settings import Settings
from .targeting import Target, resolve_shard, target_for

log = logging.getLogger(__name__)

SET_IF_ABSENT = "return redis.call('SET', KEYS[1], ARGV[1], 'NX') and 1 or 0"
#: Note the channel each subscriber failed over from (offsets packed as uint16); a rare path.
NOTE_FAILOVER = """
for i = 1, #ARGV[2] - 1, 2 do
  local lo, hi = string.byte(ARGV[2], i, i + 1)
  local f = tostring(lo + hi * 256)
  local prev = redis.call('HGET', KEYS[1], f)
  redis.call('HSET', KEYS[1], f, prev and (prev .. ',' .. ARGV[1]) or ARGV[1])
end
return 1
"""
#: Endpoints of a batch (offsets packed as uint16), newline-joined, "" where none: the batch costs one
#: argument to pack instead of one per subscriber (the fan-out process is the busier side).
ENDPOINTS = """
local fields = {}
for i = 1, #ARGV[1] - 1, 2 do
  local lo, hi = string.byte(ARGV[1], i, i + 1)
  fields[#fields + 1] = lo + hi * 256
end
-- one HMGET per 4,000 offsets (Lua's unpack limit), not one HGET per subscriber
local out = {}
for j = 1, #fields, 4000 do
  local got = redis.call('HMGET', KEYS[1], unpack(fields, j, math.min(j + 3999, #fields)))
  for k = 1, #got do out[#out + 1] = got[k] or '' end
end
return table.concat(out, '\\n')
"""
#: Full-jitter exponential backoff between attempts (s), before any Retry-After.
BACKOFF = wait_random_exponential(multiplier=0.2, max=60)
SEVERE = ("Severe", "Extreme")
EMPTY = np.zeros(0, dtype=np.int64)
CIRCUIT_OPEN = Result(Outcome.PERMANENT, Reason.CIRCUIT_OPEN)
ENDPOINT_REMOVED = Result(Outcome.PERMANENT, Reason.INVALID_ENDPOINT, detail="endpoint removed")


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


@dataclass
class _Run:
    """One shard job's hold on its shard and why it stopped early, if it did."""

    lane: str
    #: None while running; "stopped" (cancelled / superseded / expired), "yield" (a higher lane is
    #: waiting: the job re-queues itself), "lost" (the lease ran out: another worker took over).
    halt: str | None = None
    queued_until: float | None = None     #: some sends wait on the retry schedule until then


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
    reclaimed: int = 0      #: claims of a dead run, sent again
    by_channel: dict[str, int] = field(default_factory=dict)


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
        self.renderer = Renderer(settings.sms_signature)
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
        self._note_failover = Lua(redis, NOTE_FAILOVER)
        self._endpoints = Lua(redis, ENDPOINTS)

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
        webhook = asyncio.ensure_future(self._forward(rec)) if "webhook" in self.channels else None
        total = 0
        for shard in range(nshards):        # shard by shard: the first job starts after the first shard
            total += await self._plan_shard(rec, target, shard)
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
        run = _Run(rec.lane)
        if rec.lifecycle in STOPPED or rec.lifecycle is Lifecycle.DONE and not await self._reopened(rec, shard):
            await self._finish_shard(alert_id, shard)
            return report
        if rec.expires_at is not None and self.clock() >= rec.expires_at:
            report.expired = await self.stop_shard(alert_id, shard, State.EXPIRED)
            await self.alerts.set_lifecycle(alert_id, Lifecycle.EXPIRED, only_from=(Lifecycle.SENDING,))
            await self._finish_shard(alert_id, shard)
            return report
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
            report.reclaimed = len(stale)
        chain = C.decode(C.CHAIN, raw_chain, self.size)
        langs = C.decode(C.LANGUAGE, raw_lang, self.size)
        position = self._positions(st, states(raw_used, self.size), chain)
        todo = np.flatnonzero(np.isin(st, (State.TARGETED, State.QUEUED, State.FAILOVER)))
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
        if run.halt == "yield":
            report.yielded = True
            await self.leases.release(shard, alert_id)
            await self.enqueue(alert_id, shard, rec.lane)
        elif run.halt is None and run.queued_until is not None:
            await self._schedule_retry(rec, shard, run.queued_until)
        elif run.halt != "lost":
            await self._finish_shard(alert_id, shard)
        return report

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
                    out = await self._send_batch(rec, shard, g.channel, notice, g.offsets[i:i + size], report, run)
                    if len(out):
                        failed_over.append(out)

            await asyncio.gather(*(one(i) for i in range(0, len(g.offsets), size)))

        await asyncio.gather(*(run_group(g) for g in groups))
        return np.sort(np.concatenate(failed_over)) if failed_over else EMPTY

    async def _send_batch(self, rec: AlertRecord, shard: int, via: str, notice, offsets: np.ndarray,
                          report: ShardReport, run: _Run) -> np.ndarray:
        """Claim, send, record one batch on the subscribers' channel ``via`` (served by its adapter,
        e.g. "sms" by the SMPP adapter). Returns the offsets failing over to their next channel."""
        channel = self.channels[via]
        alert_id, cid = rec.id, C.CHANNEL_IDS.get(channel.name, 0)
        guarded = channel.name != "inapp"
        # The circuit's permit and the quota's wait come before the claim: a cancel during the wait
        # stops the batch, and the claim (which renews the lease) comes right before the send.
        permit = await self.guard.admit(channel, len(offsets)) if guarded else Permit.ALLOWED
        pipe = self.redis.pipeline(transaction=False)
        self.leases.renew(pipe, shard, alert_id)
        pipe.hget(keys.alert(alert_id), "lifecycle")
        self.transitions.queue(pipe, shard, alert_id, State.SENDING, offsets, channel_id=cid)
        if guarded:
            self._endpoints.queue(pipe, [keys.endpoints(shard, via)], [np.asarray(offsets, dtype="<u2").tobytes()])
        held, lifecycle, packed, *eps = await pipe.execute()
        claimed = np.frombuffer(packed or b"", dtype="<u2").astype(np.int64)
        stopped = lifecycle is not None and Lifecycle(lifecycle.decode()) in STOPPED
        if not held or stopped:
            back = State.CANCELLED if stopped else State.QUEUED
            moved = await self.transitions.apply(self.redis, shard, alert_id, back, claimed, allowed=(State.SENDING,))
            if stopped:
                await self._count(rec, channel.name, State.CANCELLED, len(moved))
                report.cancelled += len(moved)
            run.halt = "stopped" if stopped else "lost"
            return EMPTY
        if not len(claimed):
            return EMPTY
        offs = claimed.tolist()
        if permit is Permit.DENIED:
            return await self._record(rec, shard, channel, offs, [CIRCUIT_OPEN] * len(offs), [], None, report, run,
                                      via=via)
        ids = (claimed + shard * self.size).tolist()
        if not guarded:
            endpoints = [""] * len(offs)
        else:
            every = eps[0].decode().split("\n")
            endpoints = every if len(offs) == len(offsets) else [dict(zip(offsets.tolist(), every))[o] for o in offs]
        outcome: list[Result | None] = [None] * len(offs)
        if guarded and "" in endpoints:            # removed since the chain was read
            for i, e in enumerate(endpoints):
                if not e:
                    outcome[i] = ENDPOINT_REMOVED
        pending = [i for i in range(len(offs)) if outcome[i] is None]
        last_counts = (0, 0)
        attempts = self.settings.attempts_for(channel.name)
        queue_at: float | None = None
        for attempt in range(1, attempts + 1):
            if rec.expires_at is not None and self.clock() >= rec.expires_at:
                break
            if guarded and attempt > 1:
                await self.guard.take(channel, len(pending))
            if len(pending) == len(offs):
                answers = await timed_send(channel, notice, ids, endpoints)
            else:
                answers = await timed_send(channel, notice, [ids[i] for i in pending], [endpoints[i] for i in pending])
            retry, retry_after = [], 0.0
            for i, res in zip(pending, answers):
                outcome[i] = res
                if res.outcome is Outcome.RETRY:
                    retry.append(i)
                    retry_after = max(retry_after, res.retry_after_s or 0.0)
            # The circuit counts requests, not recipients: this attempt failed if most of it must be
            # retried (a provider that refuses tokens is up; one that times out is not).
            failed = 2 * len(retry) > len(pending)
            pending = retry
            last_counts = (0, 1) if failed else (1, 0)
            if not pending or attempt == attempts:
                break
            if guarded:       # the last attempt's outcome is counted with the batch's record
                pipe = self.redis.pipeline(transaction=False)
                self.guard.queue_record(pipe, channel, *last_counts, probe=permit is Permit.PROBE)
                await pipe.execute()
                permit, last_counts = Permit.ALLOWED, (0, 0)
            delay = max(BACKOFF(SimpleNamespace(attempt_number=attempt)), retry_after)
            if rec.expires_at is not None and self.clock() + delay >= rec.expires_at:
                break
            if delay > self.settings.retry_in_place_max_s:
                queue_at = self.clock() + delay
                break
            await asyncio.sleep(delay)
        return await self._record(rec, shard, channel, offs, outcome, pending, queue_at, report, run, via=via,
                                  guard_counts=(*last_counts, permit is Permit.PROBE) if guarded else None)

    async def _record(self, rec: AlertRecord, shard: int, channel: Channel, offs: list[int],
                      outcome: list[Result | None], pending: list[int], queue_at: float | None,
                      report: ShardReport, run: _Run, guard_counts: tuple[int, int, bool] | None = None,
                      via: str = "") -> np.ndarray:
        """Write a batch's outcome: sent, failover (permanent, gone, out of attempts, circuit open),
        queued on the retry schedule (a long wait), or expired."""
        alert_id, cid = rec.id, C.CHANNEL_IDS.get(channel.name, 0)
        expired_now = rec.expires_at is not None and self.clock() >= rec.expires_at
        later = set(pending) if (queue_at is not None or expired_now) else set()
        accepted, over, waiting, unsent, gone = [], [], [], [], []
        reasons: dict[str, int] = {}
        for i, (o, res) in enumerate(zip(offs, outcome)):
            if res is None:
                unsent.append(o)
                continue
            if res.outcome is Outcome.ACCEPTED:
                accepted.append(o)
                continue
            (waiting if i in later else over).append(o)
            if res.outcome is Outcome.GONE:
                gone.append(o)
            k = f"reason:{channel.name}:{res.reason.value}"
            reasons[k] = reasons.get(k, 0) + 1
        expired = sorted(unsent + waiting) if expired_now else unsent
        queued = [] if expired_now else waiting
        # One MULTI: the states and the counters that count them change together or not at all (a
        # process dying mid-write leaves the claims, which the next run sends again). Every offset here
        # was claimed by this run under its lease, so each transition moves exactly its list.
        n_sent, n_over, n_queued = len(accepted), len(over), len(queued)
        pipe = self.redis.pipeline(transaction=True)
        self.transitions.queue(pipe, shard, alert_id, State.SENT, np.array(accepted), channel_id=cid)
        self.transitions.queue(pipe, shard, alert_id, State.FAILOVER, np.array(over))
        self.transitions.queue(pipe, shard, alert_id, State.EXPIRED, np.array(expired))
        self.transitions.queue(pipe, shard, alert_id, State.QUEUED, np.array(queued))
        if channel.has_receipts and channel.name != "inapp" and accepted:
            base = shard * self.size
            by_id = dict(zip(offs, outcome))
            mapping = {by_id[o].provider_id: f"{alert_id}:{base + o}" for o in accepted if by_id[o].provider_id}
            if mapping:
                key = keys.provider_messages(channel.name, int(self.clock() // 86_400))
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, 3 * 86_400)
            if rec.alert.severity() in SEVERE:
                pipe.zadd(keys.RECEIPT_CHECKS, {f"{alert_id}:{shard}:{cid}": self.clock() + channel.receipt_timeout_s})
        if guard_counts is not None and (guard_counts[0] or guard_counts[1]):
            self.guard.queue_record(pipe, channel, guard_counts[0], guard_counts[1], probe=guard_counts[2])
        latency_ms = (self.clock() - rec.accepted_at) * 1000
        count(pipe, alert_id, channel.name, State.TARGETED, len(offs) - n_queued)
        count(pipe, alert_id, channel.name, State.SENT, n_sent, latency_ms)
        count(pipe, alert_id, channel.name, State.FAILOVER, n_over)
        count(pipe, alert_id, channel.name, State.QUEUED, n_queued)
        count(pipe, alert_id, "all", State.EXPIRED, len(expired))
        for k, v in reasons.items():
            pipe.hincrby(keys.counters(alert_id), k, v)
        if n_over:
            self._note_failover.queue(pipe, [keys.failed_channels(shard, alert_id)],
                                      [channel.name, np.array(over, dtype="<u2").tobytes()])
        pipe.publish(keys.alert_events(alert_id), orjson.dumps({"shard": shard, "channel": channel.name,
                                                                "sent": n_sent, "failover": n_over}))
        replies = await pipe.execute()
        moved = [len(r) // 2 for r in replies[:4]]
        if moved != [n_sent, n_over, len(expired), n_queued]:
            log.error("alert %s shard %s: recorded %s but moved %s; its lease was lost mid-batch",
                      alert_id, shard, [n_sent, n_over, len(expired), n_queued], moved)
        report.sent += n_sent
        report.failover += n_over
        report.queued += n_queued
        report.expired += len(expired)
        if n_sent:
            report.by_channel[channel.name] = report.by_channel.get(channel.name, 0) + n_sent
        if n_queued:
            run.queued_until = max(run.queued_until or 0.0, queue_at or 0.0)
        if gone:
            await self.subscribers.remove_endpoints(shard, gone, via or channel.name)
        return np.array(over, dtype=np.int64)

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

    # -- stopping ----------------------------------------------------------
    async def stop_shard(self, alert_id: int, shard: int, state: State) -> int:
        """Move every pending subscriber of one shard to ``cancelled`` / ``expired``."""
        st = states(await self.redis.get(keys.delivery_state(shard, alert_id)), self.size)
        pending = np.flatnonzero(np.isin(st, [State.TARGETED, State.QUEUED, State.FAILOVER]))
        moved = await self.transitions.apply(self.redis, shard, alert_id, state, pending)
        if len(moved):
            pipe = self.redis.pipeline(transaction=False)
            count(pipe, alert_id, "all", state, len(moved))
            await pipe.execute()
        return len(moved)

    async def stop(self, alert_id: int, lifecycle: Lifecycle, by: str) -> int:
        """Cancel / supersede / expire an alert: no further sends (running jobs stop within one
        batch), pending ones marked, its retries dropped."""
        await self.alerts.set_lifecycle(alert_id, lifecycle, by=by)
        state = State.EXPIRED if lifecycle is Lifecycle.EXPIRED else State.CANCELLED
        nshards = await self.subscribers.shard_count()
        total = 0
        for shard in range(nshards):
            total += await self.stop_shard(alert_id, shard, state)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.alert_shards(alert_id))
        pipe.srem(keys.FANOUT_PENDING, alert_id)
        for shard in range(nshards):
            pipe.zrem(keys.RETRY_SCHEDULE, f"{alert_id}:{shard}")
        await pipe.execute()
        await self.settled(alert_id, nshards)
        return total

    async def settled(self, alert_id: int, nshards: int, timeout_s: float | None = None) -> bool:
        """Wait until no shard job of the alert holds its lease: batches in flight when it was stopped
        have been recorded (so a Cancel planned next sees everyone they reached). Bounded by the
        lease, which a dead worker's job loses."""
        deadline = time.monotonic() + (2 * self.settings.lease_s if timeout_s is None else timeout_s)
        while time.monotonic() < deadline:
            pipe = self.redis.pipeline(transaction=False)
            for shard in range(nshards):
                pipe.exists(keys.shard_lease(shard, alert_id))
            if not any(await pipe.execute()):
                return True
            await asyncio.sleep(0.02)
        return False

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

    async def reopen(self, alert_id: int, shard: int) -> None:
        """Send a finished shard again (late receipts made some subscribers fail over)."""
        rec = await self.alerts.get(alert_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(keys.alert_shards(alert_id), shard)
        pipe.sadd(keys.FANOUT_PENDING, alert_id)
        await pipe.execute()
        await self.alerts.set_lifecycle(alert_id, Lifecycle.SENDING, by="receipt-timeout",
                                        only_from=(Lifecycle.DONE,))
        await self.enqueue(alert_id, shard, rec.lane)

    async def reap(self) -> int:
        from .reaper import reap
        return await reap(self)

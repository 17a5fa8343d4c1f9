"""The shard runner: one shard job delivers its slice of an alert.

A job holds the shard's lease, reads the states back, groups the subscribers
still to send by (next usable channel of their chain, language), renders each
group once, and sends batches of the channel's size with bounded concurrency
through the send stages (``dispatcher.send_stages``). A subscriber whose channel
failed over goes on to its next channel in the same job; between batches the job
yields to a higher lane. The same ``run_shard`` runs in the embedded asyncio pool
and in RQ workers.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from subscribers import columns as C

from . import keys
from .alerts import STOPPED, AlertRecord, Lifecycle
from .delivery import State, count, states
from .cost import BUDGET_REASON, SMS_CHANNELS, over_hard_budget
from .render import KIND
from .send_stages import EMPTY, BatchContext, ShardReport, ShardRun
from .shelter_guidance import ShardGuide


@dataclass
class Batch:
    channel: str
    lang: int
    offsets: np.ndarray
    #: Per offset its shelter guidance key (``ShardGuide.keys``; -1: none), offsets ordered by key.
    guide_keys: np.ndarray | None = None
    guide: ShardGuide | None = None


class ShardRunning:
    """The shard runner's part of the engine (``dispatcher.fanout.Engine`` composes it)."""

    async def run_shard(self, alert_id: int, shard: int) -> ShardReport:
        """Deliver every subscriber of one shard still to send; safe to run again, and safe to run
        twice at once (the second finds the shard's lease held and returns)."""
        token = await self.leases.acquire(shard, alert_id)
        if token is None:
            # Another worker holds it (this was a duplicate queue entry): it finishes the shard, or
            # the reaper queues it again if that worker dies. This entry is consumed either way.
            await self.redis.delete(keys.shard_queued(shard, alert_id))
            return ShardReport(shard, busy=True)
        keeper = asyncio.ensure_future(self.leases.keep(shard, alert_id, token))
        try:
            await self.redis.delete(keys.shard_queued(shard, alert_id))
            report = await self._run_shard(alert_id, shard, token)
        finally:
            keeper.cancel()
            await self.leases.release(shard, alert_id, token)
        if report.yielded:          # queued again only once the lease is free
            await self.enqueue(alert_id, shard, (await self.alerts.get(alert_id)).lane)
        return report

    async def _run_shard(self, alert_id: int, shard: int, lease: str = "") -> ShardReport:
        report = ShardReport(shard)
        rec = await self.alerts.get(alert_id)
        run = ShardRun(rec.lane, lease=lease)
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
        guide = await ShardGuide.load(self.redis, self.shelters, shard, todo, rec.alert) if len(todo) else None
        while len(todo) and run.halt is None:
            batches, exhausted = await self._group(shard, todo, chain, langs, position)
            if guide is not None:
                self._guide(batches, guide)
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

    def _guide(self, batches: list[Batch], guide: ShardGuide) -> None:
        """Give push and SMS batches their subscribers' shelter guidance keys, ordered by key so a
        chunk holds few distinct texts; a channel that sends one text per request gets the shelter's
        name and address only (distance and direction would split its requests per subscriber)."""
        for b in batches:
            if KIND[b.channel] not in ("push", "sms"):
                continue
            k = guide.keys(b.offsets, named_only=self.channels[b.channel].shared_text)
            if not (k >= 0).any():
                continue
            order = np.argsort(k, kind="stable")
            b.offsets, b.guide_keys, b.guide = b.offsets[order], k[order], guide   # chunks re-sort by offset

    def _variants(self, rec: AlertRecord, g: Batch, base) -> tuple[tuple, np.ndarray | None]:
        """The distinct notices of a guided batch and, per offset, which one it gets."""
        if g.guide_keys is None or g.guide is None:
            return (), None
        lang = C.LANGUAGES[g.lang]
        distinct, which = np.unique(g.guide_keys, return_inverse=True)
        notices = tuple(base if k < 0 else self.renderer.guided(rec, g.channel, lang, g.guide.line(int(k), lang))
                        for k in distinct.tolist())
        return notices, which.reshape(-1)

    async def _send_groups(self, rec: AlertRecord, shard: int, groups: list[Batch],
                           report: ShardReport, run: ShardRun) -> np.ndarray:
        failed_over: list[np.ndarray] = []

        async def run_group(g: Batch) -> None:
            if g.channel in SMS_CHANNELS and await self._held_by_budget(rec, shard, g.offsets, report):
                return
            channel = self.channels[g.channel]
            notice = self.renderer.notice(rec, g.channel, C.LANGUAGES[g.lang])
            variants, which = self._variants(rec, g, notice)
            size = max(1, min(channel.max_batch, self.settings.send_chunk))
            sem = asyncio.Semaphore(max(1, channel.max_in_flight))

            async def one(i: int) -> None:
                async with sem:
                    if run.halt is None and self.preempt is not None and await self.preempt(run.lane):
                        run.halt = "yield"
                    if run.halt is not None:
                        return
                    chunk, picks = g.offsets[i:i + size], None
                    if which is not None:       # ordered by guidance to fill chunks; sent in offset order
                        order = np.argsort(chunk, kind="stable")
                        chunk, picks = chunk[order], which[i:i + size][order]
                    out = await self._send_batch(rec, shard, g.channel, notice, chunk, report, run, variants, picks)
                    if len(out):
                        failed_over.append(out)

            await asyncio.gather(*(one(i) for i in range(0, len(g.offsets), size)))

        await asyncio.gather(*(run_group(g) for g in groups))
        return np.sort(np.concatenate(failed_over)) if failed_over else EMPTY

    async def _held_by_budget(self, rec: AlertRecord, shard: int, offsets: np.ndarray, report: ShardReport) -> bool:
        """SMS past its organisation's hard monthly budget is not sent (top-tier alerts excepted): the
        subscribers end suppressed, reason ``budget``."""
        if not await over_hard_budget(self.redis, self.settings, rec.alert, rec.org, self.clock()):
            return False
        moved = await self.transitions.apply(self.redis, shard, rec.id, State.SUPPRESSED, np.sort(offsets),
                                             allowed=(State.TARGETED, State.QUEUED, State.FAILOVER))
        if len(moved):
            pipe = self.redis.pipeline(transaction=False)
            count(pipe, rec.id, "all", State.SUPPRESSED, len(moved))
            pipe.hincrby(keys.counters(rec.id), f"reason:sms:{BUDGET_REASON}", len(moved))
            await pipe.execute()
        report.suppressed += len(moved)
        return True

    async def _send_batch(self, rec: AlertRecord, shard: int, via: str, notice, offsets: np.ndarray,
                          report: ShardReport, run: ShardRun, variants: tuple = (),
                          which: np.ndarray | None = None) -> np.ndarray:
        """One batch through the send stages (``dispatcher.send_stages``) on the subscribers' channel
        ``via``; returns the offsets failing over to their next channel."""
        ctx = BatchContext(rec, shard, self.via(via), notice, offsets, report, run, variants=variants, which=which)
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

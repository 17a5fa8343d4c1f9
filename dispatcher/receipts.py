"""Provider receipts (SMS callbacks, SMPP deliver_sm) moved into delivery states in bulk.

A send that a provider accepted left ``provider message id → "<alert>:<subscriber>"``
in Redis with a TTL; a receipt is looked up there, and receipts are grouped by
(alert, shard, outcome) so one Lua call moves each group.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Awaitable, Callable, Sequence

import numpy as np

from channels.base import Receipt, ReceiptStatus

from . import keys
from subscribers import columns as C

from .alerts import STOPPED, AlertStore
from .delivery import State, Transitions, count, states
from .history import FailoverHistory
from .via import chain_name, has_next

log = logging.getLogger(__name__)
TO_STATE = {ReceiptStatus.DELIVERED: State.DELIVERED, ReceiptStatus.FAILED: State.FAILED}


class ReceiptSink:
    """Receipts can overtake the send they report on (the provider answers the callback before our
    record of its message id is written); those are held and tried again for ``early_window_s``."""

    def __init__(self, redis, shard_size: int, flush_s: float = 0.05, early_window_s: float = 60.0):
        self.redis = redis
        self.size = shard_size
        self.flush_s = flush_s
        self.alerts = AlertStore(redis)
        self.transitions = Transitions(redis)
        self._buffer: list[Receipt] = []
        self._task: asyncio.Task | None = None
        self.early_window_s = early_window_s
        self._early: list[tuple[float, Receipt]] = []
        self._early_task: asyncio.Task | None = None
        self.recorded = 0
        self.history = FailoverHistory(redis)
        #: Called with (alert id, shard) when failed reports moved subscribers to their next channel
        #: (the engine's ``reopen``: the shard job runs again and sends them on).
        self.on_failover: Callable[[int, int], Awaitable[None]] | None = None
        self.unmatched = 0

    def add(self, receipt: Receipt) -> None:
        """Queue one receipt (for callers that cannot await, e.g. an SMPP read loop)."""
        self._buffer.append(receipt)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_s)
        batch, self._buffer = self._buffer, []
        try:
            await self.ingest(batch)
        except Exception:
            log.exception("recording %d receipts failed", len(batch))

    async def drain(self) -> None:
        while self._task is not None and not self._task.done():
            await self._task

    async def close(self) -> None:
        await self.drain()
        if self._early_task is not None:
            self._early_task.cancel()
            await asyncio.gather(self._early_task, return_exceptions=True)

    async def lookup(self, receipts: Sequence[Receipt], days: int = 3) -> list[bytes | None]:
        """"<alert>:<subscriber>" for each receipt's message (None if unknown), looking in the hashes of
        the last ``days`` days, today's first."""
        today = int(time.time() // 86_400)
        found: list[bytes | None] = [None] * len(receipts)
        missing = list(range(len(receipts)))
        for day in range(today, today - days, -1):      # most receipts come the same day
            by_channel: dict[str, list[int]] = defaultdict(list)
            for i in missing:
                by_channel[receipts[i].channel].append(i)
            pipe = self.redis.pipeline(transaction=False)
            for channel, idx in by_channel.items():
                pipe.hmget(keys.provider_messages(channel, day), [receipts[i].provider_id for i in idx])
            for idx, hits in zip(by_channel.values(), await pipe.execute()):
                for i, hit in zip(idx, hits):
                    found[i] = hit
            missing = [i for i in missing if found[i] is None]
            if not missing:
                break
        return found

    async def ingest(self, receipts: Sequence[Receipt]) -> int:
        """Record receipts; duplicates and late ones change nothing. Returns how many moved a state."""
        if not receipts:
            return 0
        return await self._apply(receipts, await self.lookup(receipts))

    async def _apply(self, receipts: Sequence[Receipt], found: Sequence[bytes | None]) -> int:
        """Move the looked-up receipts' subscribers in two round trips (every group's transition,
        then every group's counters); hold the ones whose send is not recorded yet."""
        groups: dict[tuple[int, int, State, str], list[int]] = defaultdict(list)
        now = time.time()
        for r, hit in zip(receipts, found):
            if hit is None:
                self._hold(r, now)
                continue
            alert_id, sid = (int(x) for x in hit.split(b":"))
            shard, off = divmod(sid, self.size)
            groups[(alert_id, shard, TO_STATE[r.status], chain_name(r.channel))].append(off)
        if not groups:
            return 0
        failed_over = 0
        for (alert_id, shard, state, channel), offs in groups.items():
            if state is State.FAILED:      # the next channel of the chain takes over, where there is one
                n, groups[(alert_id, shard, state, channel)] = await self._fail_over(
                    alert_id, shard, channel, np.unique(np.array(offs)), now)
                failed_over += n
        pipe = self.redis.pipeline(transaction=False)
        for (alert_id, shard, state, _), offs in groups.items():
            self.transitions.queue(pipe, shard, alert_id, state, np.unique(np.array(offs)))
        moved = [len(packed or b"") // 2 for packed in await pipe.execute()]
        pipe = self.redis.pipeline(transaction=False)
        for (alert_id, _, state, channel), n in zip(groups, moved):
            if n:
                rec = await self.alerts.get(alert_id)
                count(pipe, alert_id, channel, state, n, (now - rec.accepted_at) * 1000)
        if any(moved):
            await pipe.execute()
        self.recorded += sum(moved) + failed_over
        return sum(moved) + failed_over

    async def _fail_over(self, alert_id: int, shard: int, channel: str, offs: np.ndarray,
                         now: float) -> tuple[int, np.ndarray]:
        """A failed delivery report moves the subscriber to the next channel of its chain, like a failed
        send does, while the alert is live. Returns (how many failed over, the offsets left to fail)."""
        rec = await self.alerts.get(alert_id)
        if rec.lifecycle in STOPPED or (rec.expires_at is not None and now >= rec.expires_at):
            return 0, offs
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.delivery_channel(shard, alert_id))
        pipe.get(keys.column(shard, C.CHAIN.name))
        raw_used, raw_chain = await pipe.execute()
        used = states(raw_used, self.size)[offs]
        nxt = has_next(C.decode(C.CHAIN, raw_chain, self.size)[offs], used)
        moved = await self.transitions.apply(self.redis, shard, alert_id, State.FAILOVER, offs[nxt],
                                             allowed=(State.SENT,))
        if not len(moved):
            return 0, offs
        pipe = self.redis.pipeline(transaction=False)
        count(pipe, alert_id, channel, State.FAILOVER, len(moved), (now - rec.accepted_at) * 1000)
        pipe.hincrby(keys.counters(alert_id), f"reason:{channel}:receipt_failed", len(moved))
        self.history.queue(pipe, shard, alert_id, channel, moved, "receipt_failed")
        await pipe.execute()
        if self.on_failover is not None:
            await self.on_failover(alert_id, shard)
        return len(moved), np.setdiff1d(offs, moved)

    def _hold(self, receipt: Receipt, now: float, first_seen: float | None = None) -> None:
        self._early.append((first_seen or now, receipt))
        if self._early_task is None or self._early_task.done():
            self._early_task = asyncio.ensure_future(self._retry_early())

    async def _retry_early(self) -> None:
        while self._early:
            await asyncio.sleep(0.25)
            held, self._early = self._early, []
            now = time.time()
            keep = [(t, r) for t, r in held if now - t < self.early_window_s]
            self.unmatched += len(held) - len(keep)
            if not keep:
                continue
            try:
                # A held receipt's send is being recorded now: today's hash (or yesterday's, at midnight).
                found = await self.lookup([r for _, r in keep], days=2)
            except Exception:
                log.exception("looking up %d held receipts failed; keeping them", len(keep))
                self._early.extend(keep)
                continue
            ready = [(r, hit) for (t, r), hit in zip(keep, found) if hit is not None]
            self._early.extend((t, r) for (t, r), hit in zip(keep, found) if hit is None)
            if ready:
                try:
                    await self._apply([r for r, _ in ready], [hit for _, hit in ready])
                except Exception:
                    log.exception("recording %d early receipts failed", len(ready))

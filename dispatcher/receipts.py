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
from typing import Sequence

import numpy as np

from channels.base import Receipt, ReceiptStatus

from . import keys
from .alerts import AlertStore
from .delivery import State, Transitions, count

log = logging.getLogger(__name__)
TO_STATE = {ReceiptStatus.DELIVERED: State.DELIVERED, ReceiptStatus.FAILED: State.FAILED}


class ReceiptSink:
    def __init__(self, redis, shard_size: int, flush_s: float = 0.05):
        self.redis = redis
        self.size = shard_size
        self.flush_s = flush_s
        self.alerts = AlertStore(redis)
        self.transitions = Transitions(redis)
        self._buffer: list[Receipt] = []
        self._task: asyncio.Task | None = None
        self.recorded = 0
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

    async def ingest(self, receipts: Sequence[Receipt]) -> int:
        """Record receipts; duplicates and late ones change nothing. Returns how many moved a state."""
        if not receipts:
            return 0
        found = await self.redis.mget([keys.provider_message(r.channel, r.provider_id) for r in receipts])
        groups: dict[tuple[int, int, State, str], list[int]] = defaultdict(list)
        for r, hit in zip(receipts, found):
            if hit is None:
                self.unmatched += 1
                continue
            alert_id, sid = (int(x) for x in hit.split(b":"))
            shard, off = divmod(sid, self.size)
            groups[(alert_id, shard, TO_STATE[r.status], r.channel)].append(off)
        moved_total = 0
        now = time.time()
        for (alert_id, shard, state, channel), offs in groups.items():
            moved = await self.transitions.apply(self.redis, shard, alert_id, state, np.unique(np.array(offs)))
            if len(moved):
                rec = await self.alerts.get(alert_id)
                pipe = self.redis.pipeline(transaction=False)
                count(pipe, alert_id, channel, state, len(moved), (now - rec.accepted_at) * 1000)
                await pipe.execute()
                moved_total += len(moved)
        self.recorded += moved_total
        return moved_total

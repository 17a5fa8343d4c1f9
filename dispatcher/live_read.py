"""One read of everything the live dashboard shows, for every open dashboard at once.

A reading is two round trips whatever the number of alerts: which alerts (the fan-outs still
pending and the most recent ones), then each one's counters, latency histogram and lifecycle, and,
for those still moving, the delivery-state strings the district map is counted from
(``dispatcher.districts``).
"""
from __future__ import annotations

from typing import Any

from . import keys
from .alerts import AlertStore
from .districts import DistrictIndex, queue_states
from .stats import queue_alert_stats, stats_from

#: The columns of a channel's progress bar, in order.
PROGRESS = ("targeted", "sent", "delivered", "read", "confirmed", "failover", "failed")


class LiveReader:
    def __init__(self, redis, size: int, recent: int = 8, districts: DistrictIndex | None = None):
        self.redis, self.size, self.recent = redis, size, recent
        self.alerts = AlertStore(redis)
        self.districts = districts or DistrictIndex(redis, size)
        self._about: dict[int, dict[str, Any]] = {}
        #: Counters of each alert when its districts were last counted (unchanged → counted again never).
        self._counted: dict[int, tuple[dict, dict]] = {}
        self._totals: dict[int, dict] = {}

    async def read(self, with_districts: bool = True) -> dict[int, dict[str, Any]]:
        """{alert id: row} for the pending fan-outs and the ``recent`` latest alerts."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.smembers(keys.FANOUT_PENDING)
        pipe.zrevrange(keys.ALERT_INDEX, 0, self.recent - 1)
        pipe.get(keys.SUBSCRIBER_SEQ)
        pending_raw, recent_raw, seq = await pipe.execute()
        pending = {int(x) for x in pending_raw}
        ids = sorted(pending | {int(x) for x in recent_raw}, reverse=True)
        nshards = (int(seq or 0) + self.size - 1) // self.size
        counting = [a for a in ids if with_districts and (a in pending or self._stale(a))]
        pipe = self.redis.pipeline(transaction=False)
        for a in ids:
            queue_alert_stats(pipe, a)
            pipe.hget(keys.alert(a), "lifecycle")
        for a in counting:
            queue_states(pipe, a, nshards)
        replies = await pipe.execute()
        rows = {}
        for i, a in enumerate(ids):
            counts, hist, targeted, lifecycle = replies[4 * i: 4 * i + 4]
            if lifecycle is None:
                continue
            rows[a] = await self._row(a, stats_from(counts, hist, targeted), lifecycle.decode(), a in pending)
            self._totals[a] = rows[a]["totals"]
        await self._count_districts(rows, counting, replies[4 * len(ids):], nshards)
        return rows

    def _stale(self, alert_id: int) -> bool:
        """Never counted, or its counters moved since (a late receipt, a retry): count it again."""
        counted = self._counted.get(alert_id)
        return counted is None or counted[0] != self._totals.get(alert_id)

    async def _row(self, alert_id: int, stats: dict, lifecycle: str, pending: bool) -> dict[str, Any]:
        if alert_id not in self._about:
            s = (await self.alerts.get(alert_id)).summary()
            self._about[alert_id] = {k: s[k] for k in ("identifier", "headline", "event", "severity", "msgType",
                                                      "status", "accepted_at", "sender")}
        return {
            "id": alert_id, **self._about[alert_id], "lifecycle": lifecycle, "pending": pending,
            "targeted": stats["targeted"],
            "totals": {c: stats["totals"].get(c, 0) for c in PROGRESS},
            "channels": {ch: {c: row.get(c, 0) for c in PROGRESS} for ch, row in stats["channels"].items()},
            "latency_ms": {k: stats["latency_ms"][k] for k in ("sent", "delivered", "confirmed")},
            "failures": stats["failure_reasons"],
            "districts": self._counted.get(alert_id, ({}, {}))[1],
        }

    async def _count_districts(self, rows: dict, counting: list[int], raw_states: list, nshards: int) -> None:
        for gone in set(self._about) - set(rows):
            for cache in (self._counted, self._totals, self._about):
                cache.pop(gone, None)
        if not counting:
            return
        await self.districts.shards(nshards)
        for j, a in enumerate(counting):
            if a not in rows:
                continue
            reach = self.districts.reach(raw_states[j * nshards:(j + 1) * nshards])
            self._counted[a] = (rows[a]["totals"], reach)
            rows[a]["districts"] = reach

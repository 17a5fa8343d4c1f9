"""The live dashboard's hub: one reading per tick, shared by every open dashboard of this process.

Every ``tick_s`` the hub reads the alerts once (``dispatcher.live_read``), works out what changed
since the last tick, and hands the same encoded ``tick`` event to every connected dashboard, so
twenty dashboards cost what one does. A dashboard that connects gets a ``snapshot`` event first
(every alert in full and the sends-per-second history), then only deltas:

- ``alerts``: per alert, only the sections that changed (lifecycle, totals, a channel's progress,
  latency, failures, the districts whose counts moved); a new alert comes whole;
- ``removed``: alerts no longer shown;
- ``rates``: sends per second per channel of each alert since the last tick.

The hub keeps reading with nobody connected (without the district map), so a dashboard opened in
the middle of a fan-out still draws its last minutes. A dashboard that falls ``queue_max`` events
behind is dropped; its browser reconnects and starts again from a snapshot.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

import orjson

from .errors import TooManyRequests

log = logging.getLogger(__name__)
#: Sections of an alert's row compared as a whole from tick to tick.
SECTIONS = ("lifecycle", "pending", "targeted", "totals", "latency_ms", "failures")


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def delta(old: dict[int, dict], new: dict[int, dict]) -> tuple[dict[str, dict], list[int]]:
    """What changed from ``old`` to ``new`` (alert id → row): changed sections, new alerts whole."""
    changed: dict[str, dict] = {}
    for a, row in new.items():
        prev = old.get(a)
        if prev is None:
            changed[str(a)] = row
            continue
        d = {k: row[k] for k in SECTIONS if row[k] != prev[k]}
        chans = {ch: v for ch, v in row["channels"].items() if prev["channels"].get(ch) != v}
        dist = {code: v for code, v in row["districts"].items() if prev["districts"].get(code) != v}
        if chans:
            d["channels"] = chans
        if dist:
            d["districts"] = dist
        if d:
            changed[str(a)] = d
    return changed, sorted(set(old) - set(new))


class Listener:
    """One open dashboard: the encoded events waiting for it (None: it fell behind and must go)."""

    def __init__(self, queue_max: int):
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queue_max + 1)
        self.queue_max = queue_max

    def offer(self, event: bytes) -> bool:
        if self.queue.qsize() >= self.queue_max:
            self.queue.put_nowait(None)
            return False
        self.queue.put_nowait(event)
        return True


class LiveHub:
    def __init__(self, reader, *, tick_s: float = 0.5, history_s: float = 300.0, max_listeners: int = 100,
                 queue_max: int = 64, clock: Callable[[], float] = time.time):
        self.reader, self.tick_s, self.max_listeners, self.queue_max = reader, tick_s, max_listeners, queue_max
        self.clock = clock
        self.listeners: set[Listener] = set()
        self.rows: dict[int, dict] = {}
        self.series: dict[int, deque] = {}
        self.history_s = history_s
        self._points = max(2, int(history_s / tick_s))
        self._last_sent: dict[int, tuple[float, dict[str, int]]] = {}
        self._task: asyncio.Task | None = None
        self.ticks = 0

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for listener in list(self.listeners):
            listener.queue.put_nowait(None)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the live dashboard failed; trying again")
            await asyncio.sleep(max(0.0, self.tick_s - (time.monotonic() - started)))

    async def tick(self) -> None:
        """Read once, and hand every dashboard what changed."""
        rows = await self.reader.read(with_districts=bool(self.listeners))
        now = self.clock()
        if not self.listeners:          # nobody sees the map: keep the last one counted
            for a, row in rows.items():
                if a in self.rows:
                    row["districts"] = self.rows[a]["districts"]
        rates = self._rates(rows, now)
        changed, removed = delta(self.rows, rows)
        self.rows = rows
        self.ticks += 1
        if self.listeners:
            event = sse("tick", {"t": round(now, 3), "alerts": changed, "removed": removed, "rates": rates})
            for listener in list(self.listeners):
                if not listener.offer(event):
                    self.listeners.discard(listener)

    def _rates(self, rows: dict[int, dict], now: float) -> dict[str, dict[str, float]]:
        """Sends per second per channel since the last tick, kept as each alert's history."""
        out: dict[str, dict[str, float]] = {}
        for a, row in rows.items():
            sent = {ch: v["sent"] for ch, v in row["channels"].items()}
            prev = self._last_sent.get(a)
            if prev is None and now - row["accepted_at"] < self.history_s:
                prev = (row["accepted_at"], {})      # first seen: what it sent since it was accepted
            self._last_sent[a] = (now, sent)
            if prev is None or now <= prev[0]:
                continue
            dt = now - prev[0]
            point = {ch: round(max(0, n - prev[1].get(ch, 0)) / dt, 1) for ch, n in sent.items()}
            if row["pending"] or any(point.values()):
                self.series.setdefault(a, deque(maxlen=self._points)).append([round(now, 3), point])
                out[str(a)] = point
        for gone in set(self._last_sent) - set(rows):
            self._last_sent.pop(gone, None)
            self.series.pop(gone, None)
        return out

    def sending_per_s(self) -> dict[str, float]:
        """Sends per second per channel over every alert, at the last tick."""
        out: dict[str, float] = {}
        for s in self.series.values():
            if s and s[-1][0] >= self.clock() - 3 * self.tick_s:
                for ch, rate in s[-1][1].items():
                    out[ch] = round(out.get(ch, 0.0) + rate, 1)
        return out

    def connect(self) -> Listener:
        """A new dashboard: its first event is the snapshot (429 past ``max_listeners``)."""
        if len(self.listeners) >= self.max_listeners:
            raise TooManyRequests(f"at most {self.max_listeners} live dashboards at once on this server",
                                  retry_after_s=10, errors=[{"field": "stream", "message": "too many dashboards"}])
        listener = Listener(self.queue_max)
        listener.offer(self.snapshot())
        self.listeners.add(listener)
        return listener

    def disconnect(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def snapshot(self) -> bytes:
        return sse("snapshot", {"t": round(self.clock(), 3), "tick_s": self.tick_s,
                                "alerts": {str(a): row for a, row in self.rows.items()},
                                "series": {str(a): list(s) for a, s in self.series.items()}})

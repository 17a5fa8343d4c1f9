"""Share reached per district: targeted vs reached subscribers of an alert by their home district.

Nothing extra is written while sending: a subscriber's district is the 6-digit prefix of its first
region code (the ``reg0`` column), and what happened to it is its byte in the alert's delivery-state
strings. The district of every offset is read once per shard and kept (``DistrictIndex``, refreshed
every ``refresh_s``: subscribers move rarely), so a reading costs one GET of each shard's state
string (one byte per subscriber) and a ``bincount``.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from subscribers import columns as C

from . import keys
from .delivery import REACHED, State

_REACHED = np.zeros(256, dtype=bool)
_REACHED[[int(s) for s in REACHED]] = True
_TARGETED = np.ones(256, dtype=bool)
_TARGETED[[int(State.NONE), int(State.SUPPRESSED)]] = False


class DistrictIndex:
    """Each shard's offsets as indexes into one list of district codes, read from Redis now and then."""

    def __init__(self, redis, size: int, refresh_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.redis, self.size, self.refresh_s, self.clock = redis, size, refresh_s, clock
        self.codes: list[str] = []
        self._code_ix: dict[int, int] = {}
        self._shards: list[np.ndarray] = []
        self._read_at: float | None = None

    async def shards(self, nshards: int) -> list[np.ndarray]:
        stale = self._read_at is None or self.clock() - self._read_at >= self.refresh_s
        if stale or len(self._shards) < nshards:
            await self._read(nshards)
        return self._shards

    async def _read(self, nshards: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(nshards):
            pipe.get(keys.column(shard, C.REGIONS[0].name))
        out = []
        for raw in await pipe.execute():
            district = C.decode(C.REGIONS[0], raw, self.size) // 1_000_000
            uniq, inverse = np.unique(district, return_inverse=True)
            lookup = np.array([self._index(int(d)) for d in uniq], dtype=np.int32)
            out.append(lookup[inverse])
        self._shards, self._read_at = out, self.clock()

    def _index(self, district: int) -> int:
        if district not in self._code_ix:
            self._code_ix[district] = len(self.codes)
            self.codes.append(str(district) if district else "")
        return self._code_ix[district]

    def reach(self, raw_states: list[bytes | None]) -> dict[str, list[int]]:
        """{district code: [targeted, reached]} from the alert's state string of each shard."""
        k = len(self.codes)
        targeted, reached = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
        for raw, ix in zip(raw_states, self._shards):
            if not raw:
                continue
            st = np.frombuffer(raw, dtype=np.uint8, count=min(len(raw), self.size))
            where = ix[: len(st)]
            targeted += np.bincount(where[_TARGETED[st]], minlength=k)
            reached += np.bincount(where[_REACHED[st]], minlength=k)
        return {code: [int(targeted[i]), int(reached[i])] for i, code in enumerate(self.codes)
                if code and targeted[i]}


def queue_states(pipe, alert_id: int, nshards: int) -> None:
    """Queue the GETs ``DistrictIndex.reach`` reads (one per shard) in the caller's pipeline."""
    for shard in range(nshards):
        pipe.get(keys.delivery_state(shard, alert_id))

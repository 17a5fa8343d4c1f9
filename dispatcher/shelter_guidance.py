"""Shelter guidance for a shard's subscribers: the hook the render step calls for Shelter/Evacuate alerts.

``shard_guidance`` takes one shard's offsets and returns, per offset, the line naming the
subscriber's nearest open shelter of a fitting kind ("nearest shelter: …, 1.2 km north-east"),
or None for subscribers without a location (or with no fitting open shelter). It reads the
shard's coordinate column once and computes every distance with numpy (``dispatcher.nearest``).

``ShardGuide`` is what the fan-out uses: one shard job finds every located subscriber's nearest
shelter once, then each batch asks for its subscribers' guidance keys (identical key, identical
text), so push and SMS bodies are rendered once per distinct line, not once per subscriber.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from subscribers import geo

from . import cap, keys
from .nearest import guidance, nearest
from .nearest import prefix as nearest_prefix
from .nearest import suffix as nearest_suffix
from .shelter_index import ShelterIndex
from .shelters import ShelterArrays, ShelterStore, kinds_for, wants_shelter


def coordinates(column: bytes | None, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(located mask, lat, lon) of ``offsets`` from a shard's coordinate column."""
    offsets = np.asarray(offsets, dtype=np.int64)
    raw = np.frombuffer(column or b"", dtype="<i4").reshape(-1, 2)
    inside = offsets < len(raw)
    pairs = np.full((len(offsets), 2), geo.NO_COORD, dtype=np.int64)
    pairs[inside] = raw[offsets[inside]]
    located = (pairs[:, 0] != geo.NO_COORD) & ~((pairs[:, 0] == 0) & (pairs[:, 1] == 0))
    return located, pairs[:, 0] / geo.COORD_SCALE, pairs[:, 1] / geo.COORD_SCALE


async def shard_guidance(redis, shelters: ShelterStore, shard: int, offsets: np.ndarray, alert: cap.Alert,
                         lang: str, *, with_address: bool = True) -> list[str | None]:
    """Per offset, the guidance line for its subscriber in ``lang`` (None: no location or no shelter)."""
    if not wants_shelter(alert):
        return [None] * len(offsets)
    located, lat, lon = coordinates(await redis.get(keys.geo_coords(shard)), offsets)
    out: list[str | None] = [None] * len(offsets)
    if not located.any():
        return out
    arrays = await shelters.arrays()
    found = nearest(lat[located], lon[located], arrays, 1, kinds_for(alert))
    for row, text in zip(np.flatnonzero(located).tolist(), guidance(found, arrays, lang, with_address)):
        out[row] = text
    return out


#: Low bits of a guidance key: (metres << 3 | octant) of the way to the shelter, or NAMED_ONLY.
WAY_BITS = 27
NAMED_ONLY = (1 << WAY_BITS) - 1
MAX_METRES = (1 << (WAY_BITS - 3)) - 2


def ways(km: np.ndarray, bearing: np.ndarray) -> np.ndarray:
    """(rounded metres << 3 | compass octant) per distance: 50 m steps under 1 km, 100 m above."""
    metres = np.where(km < 1.0, np.round(km * 20) * 50, np.round(km * 10) * 100)
    octant = (((bearing + 22.5) % 360) // 45).astype(np.int64)
    return (np.minimum(metres, MAX_METRES).astype(np.int64) << 3) | octant


def named_line(shelter, lang: str) -> str:
    """The guidance line naming a shelter and its address (for text shared by many recipients)."""
    name, address = shelter.display_name(lang), shelter.display_address(lang)
    if lang.startswith("en"):
        return f"nearest shelter: {name} ({address})" if address else f"nearest shelter: {name}"
    return f"最近避难场所：{name}（{address}）" if address else f"最近避难场所：{name}"


@dataclass
class ShardGuide:
    """The nearest open shelter of every located subscriber a shard job sends to, found once per pass.

    A subscriber's guidance is an integer key (shelter index << WAY_BITS | way): grouping a batch by key
    groups it by identical text, and each distinct key is formatted once (``line``). The way (distance
    and direction) is measured only when a channel asks for it."""
    offsets: np.ndarray    #: sorted offsets that have a shelter
    index: np.ndarray      #: their nearest shelter (index into ``grid.arrays.shelters``)
    lat: np.ndarray
    lon: np.ndarray
    grid: ShelterIndex
    _way: np.ndarray | None = field(default=None, repr=False)      #: their ``ways``, once measured
    _parts: dict = field(default_factory=dict, repr=False)           #: formatted line parts

    @property
    def arrays(self) -> ShelterArrays:
        return self.grid.arrays

    @classmethod
    async def load(cls, redis, shelters: ShelterStore, shard: int, offsets: np.ndarray,
                   alert: cap.Alert) -> "ShardGuide | None":
        """None when the alert sends nobody to a shelter or nobody here has one."""
        if alert.msg_type == "Cancel" or not wants_shelter(alert) or not len(offsets):
            return None
        offsets = np.sort(np.asarray(offsets, dtype=np.int64))
        located, lat, lon = coordinates(await redis.get(keys.geo_coords(shard)), offsets)
        if not located.any():
            return None
        grid = await shelters.index(kinds_for(alert))
        if grid is None:
            return None
        return cls(offsets[located], grid.nearest(lat[located], lon[located]), lat[located], lon[located], grid)

    @property
    def way(self) -> np.ndarray:
        if self._way is None:
            self._way = ways(*self.grid.measure(self.lat, self.lon, self.index))
        return self._way

    def keys(self, offsets: np.ndarray, named_only: bool = False) -> np.ndarray:
        """Per offset its guidance key, -1 for none; ``named_only`` drops the distance and direction (a
        channel that sends one text per request groups by shelter alone)."""
        offsets = np.asarray(offsets, dtype=np.int64)
        out = np.full(len(offsets), -1, dtype=np.int64)
        if not len(self.offsets) or not len(offsets):
            return out
        pos = np.minimum(np.searchsorted(self.offsets, offsets), len(self.offsets) - 1)
        hit = self.offsets[pos] == offsets
        way = NAMED_ONLY if named_only else self.way[pos[hit]]
        out[hit] = (self.index[pos[hit]] << WAY_BITS) | way
        return out

    def line(self, key: int, lang: str) -> str:
        """The text of one guidance key in ``lang`` (each shelter's part and each way's part formatted once)."""
        index, way = key >> WAY_BITS, key & NAMED_ONLY
        if way == NAMED_ONLY:
            return named_line(self.arrays.shelters[index], lang)
        head = self._parts.get((index, lang))
        if head is None:
            head = self._parts[(index, lang)] = nearest_prefix(self.arrays.shelters[index].display_name(lang), lang)
        tail = self._parts.get((-way - 1, lang))
        if tail is None:
            tail = self._parts[(-way - 1, lang)] = nearest_suffix((way >> 3) / 1000.0, (way & 7) * 45.0, lang)
        return head + tail

"""Shelter guidance for a shard's subscribers: the hook the render step calls for Shelter/Evacuate alerts.

``shard_guidance`` takes one shard's offsets and returns, per offset, the line naming the
subscriber's nearest open shelter of a fitting kind ("nearest shelter: …, 1.2 km north-east"),
or None for subscribers without a location (or with no fitting open shelter). It reads the
shard's coordinate column once and computes every distance with numpy (``dispatcher.nearest``).
"""
from __future__ import annotations

import numpy as np

from subscribers import geo

from . import cap, keys
from .nearest import guidance, nearest
from .shelters import ShelterStore, kinds_for, wants_shelter


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

"""Nearest open shelters for many subscribers at once, with numpy.

``nearest`` takes the positions of a shard's located subscribers (arrays, not objects) and the
registry's ``ShelterArrays``, and returns for each subscriber the indices of its N nearest open
shelters of a fitting kind, with great-circle distances and initial bearings. It works a block
of subscribers at a time (a block × shelters distance matrix, then ``argpartition`` for the N
smallest), so memory stays bounded and no Python code runs per subscriber.

``guidance`` turns the nearest shelter of each subscriber into a line of text per language
("nearest shelter: …, 1.2 km north-east"), formatting each distinct (shelter, distance,
direction) once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .geo_targeting import haversine_km
from .shelters import ShelterArrays

#: Subscribers per block: the distance matrix of a block is BLOCK × shelters float64s.
BLOCK = 8192
DIRECTIONS = {
    "en": ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"),
    "zh-CN": ("北", "东北", "东", "东南", "南", "西南", "西", "西北"),
}


@dataclass
class Nearest:
    """Row i: subscriber i's nearest shelters, nearest first; index -1 (and distance inf) pads."""
    index: np.ndarray     #: (M, N) int64 indices into ShelterArrays.shelters
    km: np.ndarray        #: (M, N) float64 great-circle distances
    bearing: np.ndarray   #: (M, N) float64 initial bearings, degrees clockwise from north


def bearing_deg(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Initial great-circle bearing from point 1 to point 2, in [0, 360)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return (np.degrees(np.arctan2(y, x)) + 360.0) % 360.0


def direction(bearing, lang: str = "en") -> str:
    """Eight-point compass name of a bearing."""
    return DIRECTIONS["en" if lang.startswith("en") else "zh-CN"][int(((float(bearing) + 22.5) % 360) // 45)]


def nearest(lat: np.ndarray, lon: np.ndarray, shelters: ShelterArrays, n: int = 3,
            kinds: Iterable[str] = ()) -> Nearest:
    """The ``n`` nearest open shelters fit for ``kinds`` to each (lat, lon)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    m = len(lat)
    index = np.full((m, n), -1, dtype=np.int64)
    km = np.full((m, n), np.inf)
    candidates = shelters.fitting(kinds)
    k = min(n, len(candidates))
    if m and k:
        slat, slon = shelters.lat[candidates], shelters.lon[candidates]
        for start in range(0, m, BLOCK):
            stop = min(start + BLOCK, m)
            d = haversine_km(lat[start:stop, None], lon[start:stop, None], slat[None, :], slon[None, :])
            part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < len(candidates) else np.tile(
                np.arange(len(candidates)), (stop - start, 1))
            pd = np.take_along_axis(d, part, axis=1)
            order = np.argsort(pd, axis=1, kind="stable")
            index[start:stop, :k] = candidates[np.take_along_axis(part, order, axis=1)]
            km[start:stop, :k] = np.take_along_axis(pd, order, axis=1)
    found = index >= 0
    bearing = np.full((m, n), np.nan)
    if found.any():
        rows = np.nonzero(found)
        bearing[rows] = bearing_deg(lat[rows[0]], lon[rows[0]], shelters.lat[index[rows]], shelters.lon[index[rows]])
    return Nearest(index, km, bearing)


def distance_text(km: float, lang: str) -> str:
    if km < 1.0:
        metres = int(round(km * 1000 / 50.0) * 50)
        return f"{metres} m" if lang.startswith("en") else f"{metres}米"
    return f"{km:.1f} km" if lang.startswith("en") else f"{km:.1f}公里"


def line(name: str, km: float, bearing: float, lang: str) -> str:
    """One short line of guidance to a shelter."""
    if lang.startswith("en"):
        return f"nearest shelter: {name}, {distance_text(km, lang)} {direction(bearing, lang)}"
    return f"最近避难场所：{name}，向{direction(bearing, lang)}{distance_text(km, lang)}"


def guidance(found: Nearest, shelters: ShelterArrays, lang: str, with_address: bool = True) -> list[str | None]:
    """Per subscriber, the line for its nearest shelter (None when it has none); each distinct
    (shelter, rounded distance, direction) is formatted once."""
    first = found.index[:, 0] if found.index.size else np.empty(0, dtype=np.int64)
    has = first >= 0
    out: list[str | None] = [None] * len(first)
    if not has.any():
        return out
    rounded = np.where(found.km[has, 0] < 1.0, np.round(found.km[has, 0] * 20) / 20, np.round(found.km[has, 0], 1))
    octant = (((found.bearing[has, 0] + 22.5) % 360) // 45).astype(np.int64)
    keys = np.stack([first[has], np.round(rounded * 1000).astype(np.int64), octant], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    texts = []
    for shelter_i, metres, octa in uniq.tolist():
        s = shelters.shelters[shelter_i]
        name = s.display_name(lang)
        if with_address:
            name += (f" ({s.display_address(lang)})" if lang.startswith("en") else f"（{s.display_address(lang)}）")
        texts.append(line(name, metres / 1000.0, octa * 45.0, lang))
    rows = np.flatnonzero(has)
    for row, u in zip(rows.tolist(), inverse.reshape(-1).tolist()):
        out[row] = texts[u]
    return out

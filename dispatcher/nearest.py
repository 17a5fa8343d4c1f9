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
#: Candidates beyond N re-measured exactly after the planar ranking (guards near-ties).
REFINE = 3
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


def _smallest(d2: np.ndarray, kk: int) -> np.ndarray:
    """Columns of the kk smallest values per row (unordered); a few argmins beat argpartition for small kk."""
    rows, cols = d2.shape
    if kk >= cols:
        return np.broadcast_to(np.arange(cols), d2.shape)
    if kk > 8:
        return np.argpartition(d2, kk - 1, axis=1)[:, :kk]
    out = np.empty((rows, kk), dtype=np.int64)
    every = np.arange(rows)
    for j in range(kk):
        out[:, j] = d2.argmin(axis=1)
        d2[every, out[:, j]] = np.inf
    return out


def _block(lat, lon, slat, slon, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(candidate columns, km) of the k nearest for one block: ranked on a local plane (longitudes
    scaled by each subscriber's cos(latitude)), the best k + REFINE re-measured on the sphere."""
    scale = np.cos(np.radians(lat)).astype(np.float32)[:, None]
    dx = (lon.astype(np.float32)[:, None] - slon.astype(np.float32)[None, :]) * scale
    dy = lat.astype(np.float32)[:, None] - slat.astype(np.float32)[None, :]
    d2 = dx * dx + dy * dy
    kk = min(k + REFINE, len(slat))
    part = _smallest(d2, kk)
    exact = haversine_km(lat[:, None], lon[:, None], slat[part], slon[part])
    order = np.argsort(exact, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(exact, order, axis=1)


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
            cols, dist = _block(lat[start:stop], lon[start:stop], slat, slon, k)
            index[start:stop, :k] = candidates[cols]
            km[start:stop, :k] = dist
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


def prefix(name: str, lang: str) -> str:
    return f"nearest shelter: {name}, " if lang.startswith("en") else f"最近避难场所：{name}，"


def suffix(km: float, bearing: float, lang: str) -> str:
    if lang.startswith("en"):
        return f"{distance_text(km, lang)} {direction(bearing, lang)}"
    return f"向{direction(bearing, lang)}{distance_text(km, lang)}"


def line(name: str, km: float, bearing: float, lang: str) -> str:
    """One short line of guidance to a shelter."""
    return prefix(name, lang) + suffix(km, bearing, lang)


def _names(shelters: ShelterArrays, which: np.ndarray, lang: str, with_address: bool) -> np.ndarray:
    out = np.empty(len(which), dtype=object)
    for i, idx in enumerate(which.tolist()):
        s = shelters.shelters[idx]
        name = s.display_name(lang)
        if with_address:
            name += f" ({s.display_address(lang)})" if lang.startswith("en") else f"（{s.display_address(lang)}）"
        out[i] = prefix(name, lang)
    return out


def guidance(found: Nearest, shelters: ShelterArrays, lang: str, with_address: bool = True) -> list[str | None]:
    """Per subscriber, the line for its nearest shelter (None when it has none). Each shelter's part and
    each distinct (rounded distance, direction) part is formatted once; numpy joins them."""
    first = found.index[:, 0] if found.index.size else np.empty(0, dtype=np.int64)
    has = first >= 0
    out = np.full(len(first), None, dtype=object)
    if not has.any():
        return out.tolist()
    km = found.km[has, 0]
    metres = np.where(km < 1.0, np.round(km * 20) * 50, np.round(km * 10) * 100).astype(np.int64)
    octant = (((found.bearing[has, 0] + 22.5) % 360) // 45).astype(np.int64)
    which, by_shelter = np.unique(first[has], return_inverse=True)
    ways, by_way = np.unique((np.minimum(metres, 2**40) << 3) | octant, return_inverse=True)
    suffixes = np.array([suffix((w >> 3) / 1000.0, (w & 7) * 45.0, lang) for w in ways.tolist()], dtype=object)
    out[has] = _names(shelters, which, lang, with_address)[by_shelter.reshape(-1)] + suffixes[by_way.reshape(-1)]
    return out.tolist()

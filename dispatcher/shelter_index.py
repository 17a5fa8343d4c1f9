"""A precomputed grid over the shelters: the nearest open shelter of a shard's subscribers in a few
numpy steps, without measuring every subscriber against every shelter.

The grid covers the shelters' area with a margin, in cells of ``CELL_DEG`` degrees. Each cell keeps
the few shelters that can be nearest to some point inside it: those whose distance from the cell's
centre is at most the nearest one's plus the cell's diagonal (any point of the cell is within half a
diagonal of the centre, so no other shelter can win there). A query looks up each subscriber's cell,
ranks that cell's candidates on a local plane (longitudes scaled by cos(latitude)), and measures the
winner on the sphere. Subscribers outside the grid are measured against every candidate.

Built once per (registry version, kinds) and kept by ``ShelterStore.index``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geo_targeting import haversine_km
from .nearest import bearing_deg
from .shelters import ShelterArrays

CELL_DEG = 0.02
MARGIN_DEG = 0.3
#: Slack on the candidate bound, for the plane's approximation of the sphere.
SLACK = 1.02
#: A runner-up whose squared plane distance is within this factor of the best is measured on the sphere.
NEAR_TIE = 1.01


@dataclass
class ShelterIndex:
    arrays: ShelterArrays
    candidates: np.ndarray       #: the open, fitting shelters (indices into arrays.shelters)
    lat0: float
    lon0: float
    rows: int
    cols: int
    cells: np.ndarray            #: (rows * cols, K) indices into arrays.shelters, -1 pads
    cell_lat: np.ndarray         #: (rows * cols, K) float32 latitudes of those shelters (pads: far away)
    cell_lon: np.ndarray

    @classmethod
    def build(cls, arrays: ShelterArrays, candidates: np.ndarray) -> "ShelterIndex":
        slat, slon = arrays.lat[candidates], arrays.lon[candidates]
        lat0, lon0 = float(slat.min()) - MARGIN_DEG, float(slon.min()) - MARGIN_DEG
        rows = int(np.ceil((float(slat.max()) + MARGIN_DEG - lat0) / CELL_DEG))
        cols = int(np.ceil((float(slon.max()) + MARGIN_DEG - lon0) / CELL_DEG))
        clat = lat0 + (np.arange(rows) + 0.5) * CELL_DEG
        clon = lon0 + (np.arange(cols) + 0.5) * CELL_DEG
        lat = np.repeat(clat, cols)[:, None]
        lon = np.tile(clon, rows)[:, None]
        scale = np.cos(np.radians(lat))
        d = np.hypot((slon[None, :] - lon) * scale, slat[None, :] - lat)
        diagonal = np.hypot(CELL_DEG * scale, CELL_DEG)
        fits = d <= (d.min(axis=1, keepdims=True) + diagonal) * SLACK
        k = int(fits.sum(axis=1).max())
        ranked = np.argsort(np.where(fits, d, np.inf), axis=1)[:, :k]
        cells = np.where(np.take_along_axis(fits, ranked, axis=1), candidates[ranked], -1)
        far = np.float32(1e6)
        cell_lat = np.where(cells >= 0, arrays.lat[np.maximum(cells, 0)], far).astype(np.float32)
        cell_lon = np.where(cells >= 0, arrays.lon[np.maximum(cells, 0)], far).astype(np.float32)
        return cls(arrays, candidates, lat0, lon0, rows, cols, cells, cell_lat, cell_lon)

    def nearest(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The index of the nearest candidate to each point."""
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        row = np.floor((lat - self.lat0) / CELL_DEG).astype(np.int64)
        col = np.floor((lon - self.lon0) / CELL_DEG).astype(np.int64)
        inside = (row >= 0) & (row < self.rows) & (col >= 0) & (col < self.cols)
        best = np.full(len(lat), -1, dtype=np.int64)
        if inside.any():
            best[inside] = self._ranked(lat[inside], lon[inside], row[inside] * self.cols + col[inside])
        if (~inside).any():
            best[~inside] = _brute(lat[~inside], lon[~inside], self.arrays, self.candidates)
        return best

    def measure(self, lat: np.ndarray, lon: np.ndarray, best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(km, bearing) from each point to its shelter ``best`` (on the sphere)."""
        slat, slon = self.arrays.lat[best], self.arrays.lon[best]
        return haversine_km(lat, lon, slat, slon), bearing_deg(lat, lon, slat, slon)

    def _ranked(self, lat: np.ndarray, lon: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """The plane's best candidate of each point (float32, the cell's candidates only); where the
        runner-up is within NEAR_TIE of it, the nearer of the two on the sphere (over tens of km the
        plane may swap near-ties)."""
        cand = self.cells[cell]
        scale = np.cos(np.radians(lat)).astype(np.float32)[:, None]
        dx = (self.cell_lon[cell] - lon.astype(np.float32)[:, None]) * scale
        dy = self.cell_lat[cell] - lat.astype(np.float32)[:, None]
        d2 = dx * dx + dy * dy
        rows = np.arange(len(lat))
        first = d2.argmin(axis=1)
        best = cand[rows, first]
        if cand.shape[1] == 1:
            return best
        nearest_d2 = d2[rows, first]
        d2[rows, first] = np.inf
        second = d2.argmin(axis=1)
        tie = (d2[rows, second] <= nearest_d2 * NEAR_TIE) & (cand[rows, second] >= 0)
        if tie.any():
            a, b = best[tie], cand[rows[tie], second[tie]]
            la, lo = lat[tie], lon[tie]
            da = haversine_km(la, lo, self.arrays.lat[a], self.arrays.lon[a])
            db = haversine_km(la, lo, self.arrays.lat[b], self.arrays.lon[b])
            best[tie] = np.where(db < da, b, a)
        return best


def _brute(lat: np.ndarray, lon: np.ndarray, arrays: ShelterArrays, candidates: np.ndarray) -> np.ndarray:
    """The nearest candidate by great-circle distance to every candidate (points outside the grid)."""
    d = haversine_km(lat[:, None], lon[:, None], arrays.lat[candidates][None, :], arrays.lon[candidates][None, :])
    return candidates[d.argmin(axis=1)]

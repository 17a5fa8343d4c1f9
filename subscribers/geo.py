"""The location index: who is where, per shard, for polygon and circle alerts.

Layout (keys in ``dispatcher.keys``), per shard ``s``:

* ``geo_cell(s, cell)`` — a set of offsets per occupied H3 cell, for every resolution in
  ``RESOLUTIONS``. Offsets are < 32,768, so Redis keeps each set as an intset of 2 bytes a
  member (``set-max-intset-entries`` is the shard size).
* ``geo_coords(s)`` — one column string, 8 bytes per offset: little-endian int32 latitude and
  longitude in 1e-7 degrees (about 1 cm; more exact than float32, which is ~0.7 m at 116°E,
  at the same size). Written with SETRANGE; read whole (256 KB a full shard) by one GET when
  a boundary cell must be checked point by point.

Every stored position is first rounded to 1e-7 degree and the cells are computed from the
rounded value, so the sets, the column and ``remove_location`` always agree.

Why this shape — measured with ``python -m loadtest.bench_geo --subscribers 1000000
--resolutions R`` (embedded redis-server 6.2 on the 2-core development machine, 31 shards,
the north-east-quarter polygon of ``dispatcher/samples/rainstorm_polygon.xml``, 247,621 of
1,000,000 subscribers matched, every run equal to a brute-force exact test of all points):

===========  =================  ===============  =======  ===============================
indexed      resolve ms         index bytes      plan ms  cells read per shard
resolutions  (median of 5)      per subscriber             (whole + checked)
===========  =================  ===============  =======  ===============================
5            277                10.6             3        15 + 25
**6**        **203**            **12.8**         8        151 + 73
7            300 (226-414)      27.9             48       1227 + 164
5, 7         205                30.3             48       819 + 164
6, 8         296 (before the    65.5             170      2686 + 455
             SUNION grouping)
===========  =================  ===============  =======  ===============================

Resolution 6 alone (cells of ~36 km²) is the smallest index that meets the 300 ms target
with room to spare: 2 bytes per member plus ~3 bytes of per-key overhead per subscriber,
plus 8 bytes of coordinates. Finer levels multiply the number of keys (a key costs ~100
bytes of Redis overhead, and at these densities most fine cells hold a handful of a shard's
subscribers) without making resolution faster: the time goes into moving the matched
offsets, which every choice must do, while the extra boundary candidates of a coarse cell
are cheap to check (one GET of the column, vectorised point-in-polygon). A second, finer
level is supported (``resolutions=(5, 7)``) for deployments where the measurement differs.

Coordinates as a column (8 bytes an offset, 256 KB a full shard) against a hash offset →
packed pair, measured on the embedded server with a full shard and 3,000 boundary offsets:
the hash costs 79 bytes an entry; reading it is HMGET 2.0 ms, against 0.24 ms for one GET of
the whole column and 20 ms for 3,000 pipelined GETRANGEs of it.
"""
from __future__ import annotations

import math
import struct
from numbers import Real
from typing import Any, Sequence

import h3
import h3.api.basic_int as h3i
import numpy as np

from dispatcher import keys

#: H3 resolutions indexed, coarse to fine; chosen by measurement (module docstring).
RESOLUTIONS: tuple[int, ...] = (6,)
#: Stored coordinates are int32 in units of 1e-7 degree.
COORD_SCALE = 10_000_000
#: Bytes per offset in the coordinate column (int32 lat, int32 lon).
COORD_BYTES = 8
#: Written over a removed location (never a valid coordinate).
NO_COORD = -(2**31)
_PACK = struct.Struct("<ii")
_REMOVED = _PACK.pack(NO_COORD, NO_COORD)
#: Commands sent per pipeline flush during bulk import.
_BULK_FLUSH_COMMANDS = 4_000


def validate_location(lat: Any, lon: Any) -> tuple[float, float]:
    """Check a subscriber's location; errors name the field so the API can report them."""
    return _coordinate("location.lat", lat, 90.0), _coordinate("location.lon", lon, 180.0)


def _coordinate(field: str, value: Any, limit: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise ValueError(f"{field} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise ValueError(f"{field} must be a number between {-limit:g} and {limit:g}, got {value!r}")
    return number


def quantize(lat: float, lon: float) -> tuple[int, int]:
    """The stored form of a position: int 1e-7 degrees (round half to even, like numpy)."""
    return round(lat * COORD_SCALE), round(lon * COORD_SCALE)


def cells_for(lat: float, lon: float, resolutions: Sequence[int] = RESOLUTIONS) -> list[str]:
    """The H3 cells a position is indexed under, one per resolution (from the stored form)."""
    qlat, qlon = quantize(lat, lon)
    return [h3.latlng_to_cell(qlat / COORD_SCALE, qlon / COORD_SCALE, r) for r in resolutions]


def _check_offset(offset: int) -> int:
    offset = int(offset)
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return offset


def add_location(
    pipe: Any, shard: int, offset: int, lat: float, lon: float, *, resolutions: Sequence[int] = RESOLUTIONS
) -> None:
    """Queue the commands indexing one subscriber's location on ``pipe`` (sync or async pipeline)."""
    lat, lon = validate_location(lat, lon)
    offset = _check_offset(offset)
    for cell in cells_for(lat, lon, resolutions):
        pipe.sadd(keys.geo_cell(shard, cell), offset)
    pipe.setrange(keys.geo_coords(shard), offset * COORD_BYTES, _PACK.pack(*quantize(lat, lon)))


def remove_location(
    pipe: Any, shard: int, offset: int, lat: float, lon: float, *, resolutions: Sequence[int] = RESOLUTIONS
) -> None:
    """Queue the commands un-indexing the location previously stored for this subscriber.

    The cells are recomputed from (lat, lon), so pass exactly what was stored. The coordinates
    are overwritten with a marker, so a deleted location does not linger; queue
    ``remove_location`` before ``add_location`` when moving a subscriber in one MULTI.
    """
    lat, lon = validate_location(lat, lon)
    offset = _check_offset(offset)
    for cell in cells_for(lat, lon, resolutions):
        pipe.srem(keys.geo_cell(shard, cell), offset)
    pipe.setrange(keys.geo_coords(shard), offset * COORD_BYTES, _REMOVED)


def _validate_arrays(lats: np.ndarray, lons: np.ndarray) -> None:
    for field, values, limit in (("location.lat", lats, 90.0), ("location.lon", lons, 180.0)):
        bad = ~(np.isfinite(values) & (np.abs(values) <= limit))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{field} must be a number between {-limit:g} and {limit:g}, got {values[i]!r} (row {i})"
            )


def _cell_groups(qlat: np.ndarray, qlon: np.ndarray, resolution: int):
    """Yield (cell, row indices) for every cell the rows fall in."""
    lats = (qlat / COORD_SCALE).tolist()
    lons = (qlon / COORD_SCALE).tolist()
    to_cell = h3i.latlng_to_cell
    cells = np.fromiter((to_cell(a, b, resolution) for a, b in zip(lats, lons)), dtype=np.uint64, count=len(lats))
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for start, end in zip(starts.tolist(), ends.tolist()):
        yield format(int(sorted_cells[start]), "x"), order[start:end]


async def bulk_add(
    redis_aio: Any,
    shard: int,
    offsets: np.ndarray,
    lats: np.ndarray,
    lons: np.ndarray,
    *,
    resolutions: Sequence[int] = RESOLUTIONS,
) -> None:
    """Index many new subscribers of one shard: one SADD per cell, one SETRANGE per run of offsets.

    For import of subscribers without a previous location (nothing is removed); offsets must
    be unique within the call.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    if not (offsets.shape == lats.shape == lons.shape) or offsets.ndim != 1:
        raise ValueError("offsets, lats and lons must be 1-D arrays of the same length")
    if len(offsets) == 0:
        return
    _validate_arrays(lats, lons)
    if offsets.min() < 0:
        raise ValueError("offsets must be >= 0")
    order = np.argsort(offsets, kind="stable")
    offsets, lats, lons = offsets[order], lats[order], lons[order]
    if (np.diff(offsets) == 0).any():
        raise ValueError("offsets must be unique within one bulk_add call")
    qlat = np.rint(lats * COORD_SCALE).astype("<i4")
    qlon = np.rint(lons * COORD_SCALE).astype("<i4")

    pipe = redis_aio.pipeline(transaction=False)
    queued = 0

    async def flush_if_full() -> None:
        nonlocal queued
        queued += 1
        if queued >= _BULK_FLUSH_COMMANDS:
            await pipe.execute()
            queued = 0

    for resolution in resolutions:
        for cell, rows in _cell_groups(qlat, qlon, resolution):
            pipe.sadd(keys.geo_cell(shard, cell), *offsets[rows].tolist())
            await flush_if_full()

    packed = np.empty((len(offsets), 2), dtype="<i4")
    packed[:, 0], packed[:, 1] = qlat, qlon
    run_starts = np.flatnonzero(np.r_[True, np.diff(offsets) != 1])
    run_ends = np.r_[run_starts[1:], len(offsets)]
    column = keys.geo_coords(shard)
    for start, end in zip(run_starts.tolist(), run_ends.tolist()):
        pipe.setrange(column, int(offsets[start]) * COORD_BYTES, packed[start:end].tobytes())
        await flush_if_full()
    await pipe.execute()

"""The location index against a real Redis: what add/remove/bulk_add leave in it."""
from __future__ import annotations

import math
import struct

import h3
import numpy as np
import pytest

from dispatcher import keys
from subscribers import geo


def _members(redis_sync, shard: int, cell: str) -> set[int]:
    return {int(m) for m in redis_sync.smembers(keys.geo_cell(shard, cell))}


def _stored(redis_sync, shard: int, offset: int) -> tuple[int, int]:
    raw = redis_sync.getrange(keys.geo_coords(shard), offset * 8, offset * 8 + 7)
    return struct.unpack("<ii", raw)


@pytest.mark.parametrize(
    "lat, lon, field",
    [
        (90.0001, 116.4, "location.lat"),
        (-91, 116.4, "location.lat"),
        (39.9, 180.5, "location.lon"),
        (39.9, -181, "location.lon"),
        (math.nan, 116.4, "location.lat"),
        (39.9, math.inf, "location.lon"),
        ("39.9", 116.4, "location.lat"),
        (39.9, None, "location.lon"),
        (True, 116.4, "location.lat"),
        (39.9, [116.4], "location.lon"),
    ],
)
def test_validate_location_names_the_bad_field(lat, lon, field):
    with pytest.raises(ValueError, match=field):
        geo.validate_location(lat, lon)


@pytest.mark.parametrize(
    "lat, lon", [(39.9, 116.4), (90, 180), (-90, -180), (0, 0), (np.float32(40.5), np.int64(117))]
)
def test_validate_location_accepts_numbers_in_range(lat, lon):
    assert geo.validate_location(lat, lon) == (float(lat), float(lon))


def test_add_location_indexes_cell_and_exact_coordinates(redis_sync):
    pipe = redis_sync.pipeline()
    geo.add_location(pipe, 3, 1234, 39.9123456, 116.4654321)
    pipe.execute()

    cell = h3.latlng_to_cell(39.9123456, 116.4654321, geo.RESOLUTIONS[0])
    assert _members(redis_sync, 3, cell) == {1234}
    assert _stored(redis_sync, 3, 1234) == (399123456, 1164654321)
    assert redis_sync.object("encoding", keys.geo_cell(3, cell)) == b"intset"
    # nothing leaks into another shard
    assert redis_sync.keys(keys.geo_cell(4, "*")) == []


def test_remove_location_clears_membership_and_coordinates(redis_sync):
    pipe = redis_sync.pipeline()
    geo.add_location(pipe, 0, 7, 40.13, 116.65)
    geo.add_location(pipe, 0, 8, 40.13, 116.65)
    pipe.execute()
    cell = geo.cells_for(40.13, 116.65)[0]

    pipe = redis_sync.pipeline()
    geo.remove_location(pipe, 0, 7, 40.13, 116.65)
    pipe.execute()

    assert _members(redis_sync, 0, cell) == {8}
    assert _stored(redis_sync, 0, 7) == (geo.NO_COORD, geo.NO_COORD)
    assert _stored(redis_sync, 0, 8) == (401300000, 1166500000)


def test_move_in_one_multi(redis_sync):
    pipe = redis_sync.pipeline()
    geo.add_location(pipe, 1, 42, 39.93, 116.42)
    pipe.execute()
    old_cell = geo.cells_for(39.93, 116.42)[0]
    new_cell = geo.cells_for(40.46, 115.97)[0]
    assert old_cell != new_cell

    pipe = redis_sync.pipeline(transaction=True)
    geo.remove_location(pipe, 1, 42, 39.93, 116.42)
    geo.add_location(pipe, 1, 42, 40.46, 115.97)
    pipe.execute()

    assert _members(redis_sync, 1, old_cell) == set()
    assert _members(redis_sync, 1, new_cell) == {42}
    assert _stored(redis_sync, 1, 42) == (404600000, 1159700000)


def test_two_resolutions_index_each_level_independently(redis_sync):
    pipe = redis_sync.pipeline()
    geo.add_location(pipe, 0, 5, 39.96, 116.30, resolutions=(5, 7))
    pipe.execute()
    coarse = h3.latlng_to_cell(39.96, 116.30, 5)
    fine = h3.latlng_to_cell(39.96, 116.30, 7)
    assert _members(redis_sync, 0, coarse) == {5}
    assert _members(redis_sync, 0, fine) == {5}


async def test_bulk_add_matches_one_by_one(redis_aio, redis_sync):
    rng = np.random.default_rng(7)
    offsets = rng.choice(32768, size=500, replace=False)
    offsets[:50] = np.arange(100, 150)  # a contiguous run, written with one SETRANGE
    offsets = np.unique(offsets)
    rng.shuffle(offsets)
    lats = rng.uniform(39.44, 41.06, len(offsets))
    lons = rng.uniform(115.42, 117.51, len(offsets))

    await geo.bulk_add(redis_aio, 2, offsets, lats, lons)
    bulk = {k: redis_sync.smembers(k) for k in redis_sync.keys(keys.geo_cell(2, "*"))}
    bulk_column = redis_sync.get(keys.geo_coords(2))

    redis_sync.flushall()
    pipe = redis_sync.pipeline(transaction=False)
    for offset, lat, lon in zip(offsets.tolist(), lats.tolist(), lons.tolist()):
        geo.add_location(pipe, 2, offset, lat, lon)
    pipe.execute()
    single = {k: redis_sync.smembers(k) for k in redis_sync.keys(keys.geo_cell(2, "*"))}

    assert bulk == single
    assert bulk_column == redis_sync.get(keys.geo_coords(2))
    assert sum(len(m) for m in bulk.values()) == len(offsets)


@pytest.mark.parametrize(
    "lats, lons, message",
    [
        ([39.9, 95.0], [116.4, 116.4], "location.lat"),
        ([39.9, 39.9], [116.4, np.nan], "location.lon"),
    ],
)
async def test_bulk_add_rejects_bad_rows(redis_aio, redis_sync, lats, lons, message):
    with pytest.raises(ValueError, match=f"{message}.*row 1"):
        await geo.bulk_add(redis_aio, 0, np.array([1, 2]), np.array(lats), np.array(lons))
    assert redis_sync.dbsize() == 0


async def test_bulk_add_rejects_duplicate_offsets(redis_aio):
    with pytest.raises(ValueError, match="unique"):
        await geo.bulk_add(redis_aio, 0, np.array([3, 3]), np.array([39.9, 39.9]), np.array([116.4, 116.5]))

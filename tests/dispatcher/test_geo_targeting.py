"""Polygon and circle targeting against a real Redis: nobody outside alerted, nobody inside missed."""
from __future__ import annotations

import math
from pathlib import Path

import defusedxml.ElementTree as ET
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from dispatcher.geo_targeting import plan_area, resolve_shard
from loadtest import bench_geo
from subscribers import geo

SHARD_SIZE = 32_768
EPS = 1e-5  # degrees either side of an edge (about 1 m)
R_KM = 6371.0088

SAMPLE = Path(__file__).resolve().parents[2] / "dispatcher" / "samples" / "rainstorm_polygon.xml"


def _destination(lat: float, lon: float, bearing_deg: float, km: float) -> tuple[float, float]:
    """Spherical destination point, written out independently of the code under test."""
    p1, l1, b, d = math.radians(lat), math.radians(lon), math.radians(bearing_deg), km / R_KM
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def _haversine(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * R_KM * math.asin(math.sqrt(a))


async def _locate(redis_aio, points: dict[int, tuple[float, float]], resolutions=geo.RESOLUTIONS) -> None:
    pipe = redis_aio.pipeline(transaction=False)
    for subscriber, (lat, lon) in points.items():
        geo.add_location(pipe, subscriber // SHARD_SIZE, subscriber % SHARD_SIZE, lat, lon, resolutions=resolutions)
    await pipe.execute()


async def _audience(redis_aio, plan, subscribers) -> set[int]:
    found = set()
    for shard in sorted({s // SHARD_SIZE for s in subscribers}):
        offsets = await resolve_shard(redis_aio, shard, plan)
        assert offsets.dtype == np.int32
        assert np.all(np.diff(offsets) > 0), "sorted and unique"
        found |= {shard * SHARD_SIZE + int(o) for o in offsets}
    return found


async def _check(redis_aio, plan, inside: list, outside: list) -> None:
    points = {i: p for i, p in enumerate(inside + outside)}
    await _locate(redis_aio, points)
    assert await _audience(redis_aio, plan, points) == set(range(len(inside)))


# A 0.4° x 0.5° box (about 44 x 43 km): big enough to hold whole interior cells.
BOX = [(39.8, 116.2), (40.2, 116.2), (40.2, 116.7), (39.8, 116.7), (39.8, 116.2)]


async def test_box_edges_within_a_metre(redis_aio):
    plan = plan_area([BOX], [])
    assert plan.whole_cells and plan.check_cells
    inside, outside = [(40.0, 116.45)], []  # the centre, in an interior cell
    for lon in (116.2 + EPS, 116.33, 116.45, 116.61, 116.7 - EPS):
        inside += [(40.2 - EPS, lon), (39.8 + EPS, lon)]
        outside += [(40.2 + EPS, lon), (39.8 - EPS, lon)]
    for lat in (39.8 + EPS, 39.93, 40.07, 40.2 - EPS):
        inside += [(lat, 116.2 + EPS), (lat, 116.7 - EPS)]
        outside += [(lat, 116.2 - EPS), (lat, 116.7 + EPS)]
    inside += [(40.2, 116.45), (39.8, 116.2)]  # on an edge and on a corner: inside
    outside += [(40.2 + EPS, 116.7 + EPS), (39.8 - EPS, 116.2 - EPS)]
    await _check(redis_aio, plan, inside, outside)


async def test_sloped_edges_of_the_sample_polygon(redis_aio):
    ring = bench_geo.QUARTER_POLYGON
    plan = plan_area([ring], [])
    # the ring runs clockwise in (lon, lat): the left-hand normal points outward
    inside, outside = [], []
    for (lat1, lon1), (lat2, lon2) in zip(ring, ring[1:]):
        for t in (0.25, 0.5, 0.75):
            lat, lon = lat1 + t * (lat2 - lat1), lon1 + t * (lon2 - lon1)
            dx, dy = lon2 - lon1, lat2 - lat1
            norm = math.hypot(dx, dy)
            nx, ny = -dy / norm, dx / norm  # left of the direction of travel
            outside.append((lat + ny * EPS, lon + nx * EPS))
            inside.append((lat - ny * EPS, lon - nx * EPS))
    assert not Polygon([(lon, lat) for lat, lon in ring]).exterior.is_ccw
    await _check(redis_aio, plan, inside, outside)


async def test_concave_polygon_notch_is_outside(redis_aio):
    # an L: a bar along the bottom and one up the left; the top-right notch is outside
    ell = [(39.8, 116.2), (40.2, 116.2), (40.2, 116.35), (39.95, 116.35), (39.95, 116.6), (39.8, 116.6), (39.8, 116.2)]
    plan = plan_area([ell], [])
    inside = [
        (39.85, 116.5),  # bottom bar
        (40.1, 116.25),  # left bar
        (39.95 - EPS, 116.35 + EPS),  # just under the inner corner
        (39.95 + EPS, 116.35 - EPS),  # just left of the inner corner
        (39.95, 116.35),  # the inner corner itself
        (39.95 - EPS, 116.5),
    ]
    outside = [
        (40.1, 116.5),  # in the notch
        (40.19, 116.59),  # deep in the notch's corner
        (39.95 + EPS, 116.35 + EPS),  # just inside the notch at the inner corner
        (39.95 + EPS, 116.5),
        (40.1, 116.35 + EPS),
    ]
    await _check(redis_aio, plan, inside, outside)


async def test_circle_radius_boundary_by_haversine(redis_aio):
    lat0, lon0, r = 39.95, 116.40, 10.0
    plan = plan_area([], [(lat0, lon0, r)])
    assert plan.whole_cells and plan.check_cells
    inside, outside = [(lat0, lon0), _destination(lat0, lon0, 200, 0.5 * r)], []
    for bearing in range(0, 360, 3):
        near, far = _destination(lat0, lon0, bearing, 0.999 * r), _destination(lat0, lon0, bearing, 1.001 * r)
        assert _haversine(lat0, lon0, *near) == pytest.approx(9.99, abs=1e-9)
        assert _haversine(lat0, lon0, *far) == pytest.approx(10.01, abs=1e-9)
        inside.append(near)
        outside.append(far)
    # a planar buffer in degrees would get these wrong: 10 km east is ~0.117° of longitude
    outside.append((lat0, lon0 + 10.01 / (111.195 * math.cos(math.radians(lat0)))))
    inside.append((lat0, lon0 + 9.99 / (111.195 * math.cos(math.radians(lat0)))))
    await _check(redis_aio, plan, inside, outside)


async def test_multi_polygon_union(redis_aio):
    west = [(39.80, 116.10), (39.90, 116.10), (39.90, 116.20), (39.80, 116.20), (39.80, 116.10)]
    east = [(39.80, 116.50), (39.90, 116.50), (39.90, 116.60), (39.80, 116.60), (39.80, 116.50)]
    overlapping = [(39.85, 116.55), (39.95, 116.55), (39.95, 116.65), (39.85, 116.65), (39.85, 116.55)]
    plan = plan_area([west, east, overlapping], [])
    inside = [(39.85, 116.15), (39.85, 116.55), (39.93, 116.63), (39.88, 116.58), (39.95 - EPS, 116.65 - EPS)]
    outside = [(39.85, 116.35), (39.93, 116.52), (39.95 + EPS, 116.6), (39.85, 116.65 + EPS), (39.90 + EPS, 116.15)]
    await _check(redis_aio, plan, inside, outside)


async def test_polygon_and_circle_union(redis_aio):
    box = [(40.10, 116.60), (40.20, 116.60), (40.20, 116.70), (40.10, 116.70), (40.10, 116.60)]
    circle = (39.99, 116.31, 5.0)
    plan = plan_area([box], [circle])
    inside = [(40.15, 116.65), _destination(39.99, 116.31, 30, 4.99), (39.99, 116.31)]
    outside = [(40.05, 116.45), _destination(39.99, 116.31, 30, 5.01), (40.20 + EPS, 116.65)]
    await _check(redis_aio, plan, inside, outside)


async def test_subscriber_moved_in_and_out(redis_aio):
    plan = plan_area([BOX], [])
    subscriber = 3 * SHARD_SIZE + 77
    shard, offset = divmod(subscriber, SHARD_SIZE)
    home, away = (40.2 - EPS, 116.5), (40.2 + EPS, 116.5)

    async def move(old, new):
        pipe = redis_aio.pipeline(transaction=True)
        if old:
            geo.remove_location(pipe, shard, offset, *old)
        if new:
            geo.add_location(pipe, shard, offset, *new)
        await pipe.execute()

    await move(None, away)
    assert await _audience(redis_aio, plan, [subscriber]) == set()
    await move(away, home)
    assert await _audience(redis_aio, plan, [subscriber]) == {subscriber}
    await move(home, (40.0, 116.45))  # deep inside, an interior cell
    assert await _audience(redis_aio, plan, [subscriber]) == {subscriber}
    await move((40.0, 116.45), None)  # location deleted
    assert await _audience(redis_aio, plan, [subscriber]) == set()


async def test_subscribers_over_several_shards(redis_aio):
    plan = plan_area([BOX], [])
    points = {
        5: (40.0, 116.45),
        SHARD_SIZE + 7: (39.8 + EPS, 116.3),
        3 * SHARD_SIZE + 100: (40.1, 116.69),
        3 * SHARD_SIZE + 101: (40.1, 116.71),  # outside
        10 * SHARD_SIZE + SHARD_SIZE - 1: (39.9, 116.25),
        10 * SHARD_SIZE: (41.0, 117.0),  # outside
    }
    await _locate(redis_aio, points)
    assert await _audience(redis_aio, plan, points) == {5, SHARD_SIZE + 7, 3 * SHARD_SIZE + 100, 11 * SHARD_SIZE - 1}
    offsets = await resolve_shard(redis_aio, 3, plan)
    assert offsets.tolist() == [100]
    assert (await resolve_shard(redis_aio, 4, plan)).tolist() == []  # a shard with nobody located


@pytest.mark.parametrize("resolutions", [geo.RESOLUTIONS, (5, 7)])
async def test_random_points_agree_with_an_independent_exact_test(redis_aio, resolutions):
    rng = np.random.default_rng(11)
    n = 6_000
    lats = rng.uniform(39.44, 41.06, n)
    lons = rng.uniform(115.42, 117.51, n)
    ring = bench_geo.QUARTER_POLYGON
    circle = (39.99, 116.31, 5.0)
    for shard in range(3):
        part = slice(shard * 2_000, (shard + 1) * 2_000)
        offsets = rng.choice(SHARD_SIZE, size=2_000, replace=False)
        await geo.bulk_add(redis_aio, shard, offsets, lats[part], lons[part], resolutions=resolutions)
        expected_polygon = shapely.intersects_xy(Polygon([(lo, la) for la, lo in ring]), lons[part], lats[part])
        expected_circle = np.array([_haversine(circle[0], circle[1], a, b) <= circle[2] for a, b in zip(lats[part], lons[part])])
        expected = np.sort(offsets[expected_polygon | expected_circle])
        plan = plan_area([ring], [circle], resolutions=resolutions)
        found = await resolve_shard(redis_aio, shard, plan)
        assert found.tolist() == expected.tolist()
        assert len(found) > 100


def test_plan_rejects_and_empties():
    assert plan_area([], []).is_empty
    with pytest.raises(ValueError, match="polygon 0"):
        plan_area([[(39.9, 116.4), (40.0, 116.5), (39.9, 116.4)]], [])
    with pytest.raises(ValueError, match="circle 0"):
        plan_area([], [(39.9, 116.4, -1)])


async def test_empty_plan_resolves_to_nobody(redis_aio):
    await _locate(redis_aio, {1: (40.0, 116.4)})
    assert (await resolve_shard(redis_aio, 0, plan_area([], []))).tolist() == []


def test_sample_alert_area():
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    root = ET.parse(SAMPLE).getroot()
    assert [e.text for e in root.findall("cap:info/cap:language", ns)] == ["zh-CN", "en-US"]
    assert root.findtext("cap:sent", namespaces=ns) == "2026-07-30T15:00:00+08:00"
    for area in root.findall("cap:info/cap:area", ns):
        ring = [tuple(map(float, p.split(","))) for p in area.findtext("cap:polygon", namespaces=ns).split()]
        assert len(ring) >= 4 and ring[0] == ring[-1]
        assert ring == bench_geo.QUARTER_POLYGON
        assert Polygon([(lon, lat) for lat, lon in ring]).is_valid
        centre, radius = area.findtext("cap:circle", namespaces=ns).split()
        assert plan_area([ring], [(*map(float, centre.split(",")), float(radius))]).whole_cells


async def test_benchmark_run_is_exact_on_a_small_population(store, redis_sync):
    redis_sync.set("someone-else", "1")
    scratch = store.sync(db=15)
    scratch.flushdb()
    result = await bench_geo.run(4_000 + SHARD_SIZE, store.url, runs=1, db=15)
    assert result["matches_brute_force"] is True
    assert result["shards"] == 2 and result["matched"] > 0
    assert set(result) >= {"polygon_resolve_ms", "matched", "geo_index_bytes_per_subscriber"}
    assert scratch.dbsize() == 0  # cleaned up after itself
    assert redis_sync.keys() == [b"someone-else"]  # and left database 0 alone
    scratch.close()


async def test_benchmark_refuses_a_busy_database(store, redis_sync):
    redis_sync.set("someone-else", "1")
    with pytest.raises(RuntimeError, match="not empty"):
        await bench_geo.run(100, store.url, runs=1, db=0)

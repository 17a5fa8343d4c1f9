"""Bounding-box scopes check the whole shape: a polygon with corners in two boxes cannot cover
the gap between them, and a circle is checked as the area it covers at its latitude."""
from __future__ import annotations

import pytest

from dispatcher.api import context as ctx
from dispatcher.scopes import allowed_region, circle_shape
from tests.factories import cap_json

WEST_BOX = "bbox:39.8,116.2,40.0,116.4"
EAST_BOX = "bbox:39.8,116.6,40.0,116.8"
#: An L: the south box spans two degrees of longitude, the north box one; the notch is north-east.
SOUTH = "bbox:39.0,116.0,40.0,118.0"
NORTH = "bbox:40.0,116.0,41.0,117.0"


def ring(south, west, north, east):
    return [(south, west), (south, east), (north, east), (north, west), (south, west)]


@pytest.mark.parametrize("scopes,shape,allowed", [
    # corners in both boxes, middle over the gap between them
    ((WEST_BOX, EAST_BOX), dict(polygons=[ring(39.85, 116.3, 39.95, 116.7)]), False),
    ((WEST_BOX, EAST_BOX), dict(polygons=[ring(39.85, 116.25, 39.95, 116.35), ring(39.85, 116.65, 39.95, 116.75)]),
     True),
    # the union of touching boxes is one region
    ((SOUTH, NORTH), dict(polygons=[ring(39.5, 116.2, 40.5, 116.8)]), True),
    # a circle whose north, south, east and west points are inside but whose north-east bulges into the notch
    ((SOUTH, NORTH), dict(circles=[(40.0, 116.95, 10)]), False),
    ((SOUTH, NORTH), dict(circles=[(40.0, 116.5, 10)]), True),
    # a triangle whose corners are in the L but whose hypotenuse cuts the notch
    ((SOUTH, NORTH), dict(polygons=[[(39.5, 116.5), (39.5, 117.9), (40.9, 116.5), (39.5, 116.5)]]), False),
])
async def test_the_whole_shape_must_lie_within_the_issuers_boxes(api, scopes, shape, allowed):
    key = await api.app[ctx.KEYS].create("geo", "issuer", list(scopes))
    status, body = await api.publish(cap_json(codes=(), **shape), who=key)
    assert status == (202 if allowed else 403), body
    if not allowed:
        assert "outside the bounding boxes" in body["error"] and "area[0]" in body["errors"][0]["path"]


@pytest.mark.parametrize("lat", [0.0, 40.0, 60.0, 75.0])
def test_a_circle_covers_its_geodesic_radius_at_every_latitude(lat):
    """50 km east and west is a wider span of longitude the further from the equator."""
    import math
    shape = circle_shape(lat, 10.0, 50.0)
    west, south, east, north = shape.bounds
    km_per_degree_lat = math.pi * 6371.0088 / 180
    assert (north - lat) * km_per_degree_lat == pytest.approx(50.0, rel=0.01)
    km_per_degree_lon = km_per_degree_lat * math.cos(math.radians(lat))
    assert (east - 10.0) * km_per_degree_lon == pytest.approx(50.0, rel=0.01)
    half_width = 40.0 / km_per_degree_lon                 # 80 km wide where the circle needs 100 km
    narrow = allowed_region([f"bbox:{lat - 1},{10 - half_width},{lat + 1},{10 + half_width}"])
    assert not narrow.covers(shape)
    wide = allowed_region([f"bbox:{lat - 1},{10 - 1.1 * 50 / km_per_degree_lon},{lat + 1},"
                           f"{10 + 1.1 * 50 / km_per_degree_lon}"])
    assert wide.covers(shape)


async def test_a_circle_at_high_latitude_needs_its_wide_box(api):
    """At 60°N, 30 km is 0.54° of longitude: a box 0.4° wide does not hold it."""
    narrow = await api.app[ctx.KEYS].create("north-narrow", "issuer", ["bbox:59.0,24.8,61.0,25.2"])
    wide = await api.app[ctx.KEYS].create("north-wide", "issuer", ["bbox:59.0,24.3,61.0,25.7"])
    assert (await api.publish(cap_json(codes=(), circles=[(60.0, 25.0, 30)]), who=narrow))[0] == 403
    assert (await api.publish(cap_json(codes=(), circles=[(60.0, 25.0, 30)]), who=wide))[0] == 202

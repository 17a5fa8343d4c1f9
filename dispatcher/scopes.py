"""Geometry scopes: the bounding boxes ("bbox:south,west,north,east") inside which an issuer may
draw polygons and circles. A shape is allowed only if the whole of it lies within the union of
the issuer's boxes; checking vertices alone would let a polygon with corners in two boxes cover
the gap between them.
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from .geo_targeting import destination

#: Vertices of the polygon drawn around a circle; its radius is grown so it encloses the circle.
CIRCLE_VERTICES = 72


def parse_bbox(scope: str) -> tuple[float, float, float, float] | None:
    """A geometry scope "bbox:south,west,north,east" (degrees), or None if it is not one."""
    if not scope.startswith("bbox:"):
        return None
    try:
        south, west, north, east = (float(x) for x in scope[5:].split(","))
    except ValueError:
        return None
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        return None
    return south, west, north, east


def allowed_region(scopes: tuple[str, ...] | list[str]):
    """The union of the scopes' boxes as one shapely geometry (lon, lat), or None without boxes."""
    boxes = [box(w, s, e, n) for s, w, n, e in filter(None, map(parse_bbox, scopes))]
    return shapely.union_all(boxes) if boxes else None


def circle_shape(lat: float, lon: float, radius_km: float) -> Polygon:
    """A polygon enclosing the circle on the sphere: each vertex is at the geodesic distance
    radius / cos(pi/n) from the centre, so the chords between vertices stay outside the circle
    at every latitude."""
    grown = radius_km / math.cos(math.pi / CIRCLE_VERTICES)
    lats, lons = destination(lat, lon, np.linspace(0, 360, CIRCLE_VERTICES, endpoint=False), grown)
    return Polygon(np.column_stack([lons, lats]))


def polygon_shape(points: list[tuple[float, float]]):
    shape = Polygon([(lon, lat) for lat, lon in points])
    return shape if shape.is_valid else shapely.make_valid(shape)


def outside(region, polygons, circles) -> str | None:
    """Which shape (as "polygon[i]" / "circle[i]") reaches outside ``region``, or None."""
    for i, points in enumerate(polygons):
        if region is None or not region.covers(polygon_shape(points)):
            return f"polygon[{i}]"
    for i, (lat, lon, radius_km) in enumerate(circles):
        if region is None or not region.covers(circle_shape(lat, lon, radius_km)):
            return f"circle[{i}]"
    return None

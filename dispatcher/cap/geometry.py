"""CAP area shapes: ``polygon`` (closed ring of ``lat,lon`` pairs) and ``circle`` (``lat,lon radius_km``)."""
from __future__ import annotations

import math
import re

from shapely.geometry import Polygon
from shapely.validation import explain_validity

MIN_POLYGON_POINTS = 4
#: A circle of radius 0 is a point; it reaches the subscribers within this many km of it.
POINT_REACH_KM = 0.5
_EXPLAINED_POINT = re.compile(r"(.+)\[(\S+) (\S+)\]")


def _coordinate(token: str, what: str) -> tuple[float, float]:
    parts = token.split(",")
    if len(parts) != 2:
        raise ValueError(f"{what} {token!r} is not a 'lat,lon' pair")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{what} {token!r} is not a 'lat,lon' pair of numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError(f"{what} {token!r} is not a 'lat,lon' pair of finite numbers")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"{what} latitude {parts[0]} is outside [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"{what} longitude {parts[1]} is outside [-180, 180]")
    return lat, lon


def parse_polygon(text: str) -> list[tuple[float, float]]:
    """The ring's ``(lat, lon)`` points; ValueError naming the first problem otherwise."""
    tokens = text.split()
    if not tokens:
        raise ValueError("is empty; a polygon is at least 4 'lat,lon' pairs, the last equal to the first")
    points = [_coordinate(t, f"point {i}") for i, t in enumerate(tokens)]
    if len(points) < MIN_POLYGON_POINTS:
        raise ValueError(f"has {len(points)} points; a polygon needs at least {MIN_POLYGON_POINTS}, "
                         "the last equal to the first")
    if points[0] != points[-1]:
        raise ValueError(f"is not closed: the first point {tokens[0]} and the last {tokens[-1]} differ")
    lons = [lon for _, lon in points]
    if max(lons) - min(lons) > 180.0:
        raise ValueError(f"spans {max(lons) - min(lons):g}° of longitude: antimeridian-crossing polygons "
                         "must be split in two at ±180°")
    ring = Polygon([(lon, lat) for lat, lon in points])
    if not ring.is_valid:
        raise ValueError(f"is not a valid polygon: {_as_lat_lon(explain_validity(ring))}; "
                         "self-intersecting or degenerate rings are not allowed")
    return points


def _as_lat_lon(explanation: str) -> str:
    """shapely's 'Self-intersection[lon lat]' as 'Self-intersection at lat,lon'."""
    m = _EXPLAINED_POINT.fullmatch(explanation)
    return f"{m.group(1)} at {m.group(3)},{m.group(2)}" if m else explanation


def parse_circle(text: str) -> tuple[float, float, float]:
    """``(lat, lon, radius_km)``; ValueError naming the problem otherwise."""
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not 'lat,lon radius' (radius in km)")
    lat, lon = _coordinate(parts[0], "centre")
    try:
        radius = float(parts[1])
    except ValueError:
        raise ValueError(f"radius {parts[1]!r} is not a number of km") from None
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius {parts[1]} must be a number of km, 0 or more (0 is a point)")
    return lat, lon, radius


def reach_km(radius_km: float) -> float:
    """The radius targeting uses: a point (radius 0, as earthquake feeds send) reaches POINT_REACH_KM."""
    return max(radius_km, POINT_REACH_KM)

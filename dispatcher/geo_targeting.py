"""Polygon and circle areas → the located subscribers of a shard inside them.

``plan_area`` runs once per alert: it covers the union of the alert's polygons and circles
with H3 cells at each indexed resolution (``subscribers.geo.RESOLUTIONS``) and sorts them into

* interior cells — every point of the cell is inside the area: members are taken whole;
* boundary cells — refined at the next resolution, and at the finest one their members'
  stored coordinates are checked exactly;
* outside cells — dropped.

``resolve_shard`` then costs one pipelined round trip per shard: SUNIONs of the interior
cells, SUNIONs of the boundary cells (``_CELLS_PER_SUNION`` keys each) and, when there are
boundary cells, a GET of the shard's coordinate column.

Semantics of "inside" (the exact check, which decides every boundary case):

* polygons are CAP (lat, lon) rings taken as planar in (lon, lat) degrees, unioned; a point
  on an edge is inside;
* circles are ``haversine(centre, point) <= radius_km`` on a sphere of radius
  ``EARTH_RADIUS_KM`` (not a planar buffer);
* the area is the union of all polygons and circles (holes are not expressible in CAP).

Cells are classified with a safety margin ``_margin_km(res)`` much larger than the few metres
by which a cell's true (geodesic-edged) region differs from the planar hexagon of its
vertices: an interior cell must fit in the area shrunk by the margin, an outside cell must
miss the area grown by it; anything else is a boundary cell, checked point by point. The
cell levels are indexed independently (``latlng_to_cell`` at each resolution, not
``cell_to_parent``), and each finer level covers the previous level's boundary cells grown
by a finer cell's circumradius, so no subscriber inside can fall between levels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import h3
import numpy as np
import shapely
from shapely.geometry import Polygon

from dispatcher import keys
from subscribers import geo

#: Mean Earth radius (IUGG), used for every distance.
EARTH_RADIUS_KM = 6371.0088
#: Kilometres in one degree of longitude at 60° latitude: converting km to degrees with it
#: over-estimates the angle everywhere below 60°, which is the safe side for margins.
_KM_PER_DEGREE_SAFE = 55.0
#: Vertices of the polygon that stands in for a circle when generating the cover.
_CIRCLE_VERTICES = 72

EMPTY = np.empty(0, dtype=np.int32)
#: Cells per SUNION: Redis builds a union's intset by sorted insertion (quadratic in its
#: size), so a few mid-sized unions cost the server far less than one big one.
_CELLS_PER_SUNION = 16


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in km (numpy, degrees in)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def destination(lat: float, lon: float, bearing_deg: Any, distance_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Point(s) at a distance and bearing from (lat, lon) on the sphere."""
    p1, l1 = math.radians(lat), math.radians(lon)
    theta = np.radians(bearing_deg)
    d = distance_km / EARTH_RADIUS_KM
    p2 = np.arcsin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * np.cos(theta))
    l2 = l1 + np.arctan2(np.sin(theta) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * np.sin(p2))
    return np.degrees(p2), (np.degrees(l2) + 540.0) % 360.0 - 180.0


def _margin_km(resolution: int) -> float:
    """Classification margin: 10 m plus 3x the arc-vs-chord bulge of a cell edge."""
    edge = h3.average_hexagon_edge_length(resolution, unit="km")
    return 0.01 + 3 * edge * edge / (8 * EARTH_RADIUS_KM)


def _circumradius_bound_km(resolution: int) -> float:
    """Upper bound on any cell's centre-to-vertex distance at this resolution."""
    return 2.0 * h3.average_hexagon_edge_length(resolution, unit="km")


@dataclass(frozen=True)
class GeoPlan:
    """Cells to read for one alert's area, and the exact geometry for boundary members."""

    #: Cells whose members are all inside: taken whole.
    whole_cells: tuple[str, ...]
    #: Finest-level cells crossing the area's edge: members checked with ``contains``.
    check_cells: tuple[str, ...]
    #: Union of the polygons in (x=lon, y=lat), prepared; None when there are none.
    polygons: Any = field(default=None, repr=False)
    #: One row (lat, lon, radius_km) per circle.
    circles: np.ndarray = field(default_factory=lambda: np.empty((0, 3)), repr=False)

    @property
    def is_empty(self) -> bool:
        return not self.whole_cells and not self.check_cells

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Exact membership of points in the union (edges and radius inclusive)."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        inside = np.zeros(lat.shape, dtype=bool)
        if self.polygons is not None:
            inside |= shapely.intersects_xy(self.polygons, lon, lat)
        for clat, clon, radius in self.circles:
            pending = ~inside
            if pending.any():
                inside[pending] = haversine_km(clat, clon, lat[pending], lon[pending]) <= radius
        return inside


def _polygon_union(polygons: Sequence[Sequence[tuple[float, float]]]):
    shapes = []
    for i, ring in enumerate(polygons):
        points = [(float(lon), float(lat)) for lat, lon in ring]
        if len(points) > 1 and points[0] == points[-1]:
            points = points[:-1]
        if len(set(points)) < 3:
            raise ValueError(f"polygon {i} needs at least 3 distinct points")
        shape = Polygon(points)
        if not shape.is_valid:
            shape = shapely.make_valid(shape)
        shapes.append(shape)
    if not shapes:
        return None
    union = shapely.union_all(shapes)
    # keep only the areal parts (make_valid may leave lines of a bow-tie's crossing)
    parts = [g for g in shapely.get_parts(union) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    union = shapely.union_all(parts)
    return None if union.is_empty else union


def _circle_rows(circles: Sequence[tuple[float, float, float]]) -> np.ndarray:
    rows = []
    for i, (lat, lon, radius) in enumerate(circles):
        lat, lon, radius = float(lat), float(lon), float(radius)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not math.isfinite(radius) or radius < 0:
            raise ValueError(f"circle {i} must be lat,lon in range and radius_km >= 0")
        rows.append((lat, lon, radius))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def _circle_outline(lat: float, lon: float, radius_km: float):
    """A planar polygon enclosing the circle (for covering only, never for membership)."""
    grown = radius_km / math.cos(math.pi / _CIRCLE_VERTICES) + 0.01
    lats, lons = destination(lat, lon, np.linspace(0, 360, _CIRCLE_VERTICES, endpoint=False), grown)
    return Polygon(np.column_stack([lons, lats]))


def _cells_covering(shape, resolution: int, grow_km: float) -> list[str]:
    """Every cell at ``resolution`` whose region can touch ``shape`` (centres within reach)."""
    reach = shape.buffer((grow_km + _circumradius_bound_km(resolution)) / _KM_PER_DEGREE_SAFE)
    reach = shapely.segmentize(reach, 0.05)
    return list(h3.h3shape_to_cells(h3.geo_to_h3shape(reach), resolution))


def _classify(cells: list[str], resolution: int, inner, outer, circles: np.ndarray):
    """(interior mask, outside mask, hexagons) for cells against the area."""
    margin = _margin_km(resolution)
    boundaries = [h3.cell_to_boundary(c) for c in cells]
    hexagons = np.array([Polygon([(lon, lat) for lat, lon in b]) for b in boundaries], dtype=object)
    n = len(cells)
    interior = np.zeros(n, dtype=bool)
    touching = np.zeros(n, dtype=bool)
    if inner is not None:
        interior |= shapely.contains(inner, hexagons)
    if outer is not None:
        touching |= shapely.intersects(outer, hexagons)
    if len(circles):
        counts = np.fromiter((len(b) for b in boundaries), dtype=np.int64, count=n)
        vertices = np.array([v for b in boundaries for v in b], dtype=np.float64)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        centres = np.array([h3.cell_to_latlng(c) for c in cells], dtype=np.float64)
        owner = np.repeat(np.arange(n), counts)
        cell_radius = np.maximum.reduceat(
            haversine_km(centres[owner, 0], centres[owner, 1], vertices[:, 0], vertices[:, 1]), starts
        )
        for clat, clon, radius in circles:
            farthest = np.maximum.reduceat(haversine_km(clat, clon, vertices[:, 0], vertices[:, 1]), starts)
            interior |= farthest <= radius - margin
            touching |= haversine_km(clat, clon, centres[:, 0], centres[:, 1]) <= radius + cell_radius + margin
    return interior, ~touching & ~interior, hexagons


def plan_area(
    polygons: Sequence[Sequence[tuple[float, float]]],
    circles: Sequence[tuple[float, float, float]],
    *,
    resolutions: Sequence[int] = geo.RESOLUTIONS,
) -> GeoPlan:
    """Cover the union of polygons ((lat, lon) rings) and circles ((lat, lon, radius_km)) once per alert."""
    polygon_union = _polygon_union(polygons)
    circle_rows = _circle_rows(circles)
    if polygon_union is None and not len(circle_rows):
        return GeoPlan((), ())
    shapes = [] if polygon_union is None else [polygon_union]
    shapes += [_circle_outline(*row) for row in circle_rows]
    to_cover = shapely.union_all(shapes)

    whole: list[str] = []
    check: list[str] = []
    grow_km = 0.0
    for level, resolution in enumerate(resolutions):
        margin_deg = _margin_km(resolution) / _KM_PER_DEGREE_SAFE
        inner = outer = None
        if polygon_union is not None:
            inner = polygon_union.buffer(-margin_deg)
            inner = None if inner.is_empty else inner
            outer = polygon_union.buffer(margin_deg)
            for g in (inner, outer):
                if g is not None:
                    shapely.prepare(g)
        cells = _cells_covering(to_cover, resolution, grow_km)
        if not cells:
            break
        interior, outside, hexagons = _classify(cells, resolution, inner, outer, circle_rows)
        boundary = ~interior & ~outside
        whole += [c for c, take in zip(cells, interior) if take]
        if level == len(resolutions) - 1:
            check = [c for c, on_edge in zip(cells, boundary) if on_edge]
        elif boundary.any():
            to_cover = shapely.union_all(hexagons[boundary])
            grow_km = _margin_km(resolution)
        else:
            break

    if polygon_union is not None:
        shapely.prepare(polygon_union)
    return GeoPlan(tuple(whole), tuple(check), polygon_union, circle_rows)


def _offsets(replies: list[Any]) -> np.ndarray:
    """SUNION replies (sets of decimal bytes) → one int32 array (unsorted)."""
    text = b" ".join(b" ".join(members) for members in replies if members)
    if not text:
        return EMPTY
    return np.fromstring(text, dtype=np.int32, sep=" ")


def _groups(cells: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    return [cells[i : i + size] for i in range(0, len(cells), size)]


async def resolve_shard(redis_aio: Any, shard: int, plan: GeoPlan) -> np.ndarray:
    """Sorted unique offsets (int32) of the shard's located subscribers inside the plan's area."""
    if plan.is_empty:
        return EMPTY
    prefix = keys.geo_cell_prefix(shard)
    pipe = redis_aio.pipeline(transaction=False)
    whole_groups = _groups(plan.whole_cells, _CELLS_PER_SUNION)
    check_groups = _groups(plan.check_cells, _CELLS_PER_SUNION)
    for group in whole_groups + check_groups:
        pipe.sunion([prefix + cell for cell in group])
    if plan.check_cells:
        pipe.get(keys.geo_coords(shard))
    replies = await pipe.execute()

    found = [_offsets(replies[: len(whole_groups)])]
    if plan.check_cells:
        candidates = _offsets(replies[len(whole_groups) : -1])
        column = replies[-1] or b""
        coords = np.frombuffer(column, dtype="<i4", count=len(column) // 4).reshape(-1, 2)
        candidates = candidates[candidates < len(coords)]
        if len(candidates):
            stored = coords[candidates]
            located = stored[:, 0] != geo.NO_COORD
            candidates, stored = candidates[located], stored[located]
            inside = plan.contains(stored[:, 0] / geo.COORD_SCALE, stored[:, 1] / geo.COORD_SCALE)
            found.append(candidates[inside])
    offsets = np.sort(np.concatenate(found))
    if len(offsets) > 1:
        # a subscriber can sit in an interior cell of two levels
        offsets = offsets[np.r_[True, offsets[1:] != offsets[:-1]]]
    return offsets

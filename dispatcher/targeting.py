"""Audience resolution: which subscribers of one shard an alert concerns.

audience = (union of the alert's areas: geocodes by hierarchy, polygons and
circles by location) ∩ (cohort for Exercise / Test) ∩ (preferences accepting
the alert's class, quiet hours) — except the top tier, which ignores
preferences and quiet hours — ∪ (everyone the alerts it updates or cancels
reached). In-area subscribers declined by preferences are returned as
suppressed. Everything is read per shard in one pipelined round trip and
matched with numpy.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from subscribers import columns as C
from subscribers import regions

from . import geo_targeting, geocodes, keys
from .alerts import AlertRecord, top_tier
from .auth import parse_bbox
from .cap import SEVERITY_RANK
from .cap.geometry import reach_km
from .delivery import REACHED, states


@dataclass
class Target:
    """What an alert asks for, computed once per alert (not per shard)."""

    alert_id: int
    ranges: np.ndarray                       #: (k, 2) padded code ranges
    geo: geo_targeting.GeoPlan | None
    category_bits: int
    severity_rank: int
    cohort_flag: int                         #: 0 for Actual, else the cohort bit required
    top_tier: bool
    reached_from: list[int] = field(default_factory=list)
    #: Where earlier recipients may be reached (the issuer's scopes): code ranges and boxes; None = anywhere.
    reach_ranges: np.ndarray | None = None
    reach_geo: geo_targeting.GeoPlan | None = None
    #: A Restricted alert's group (sorted subscriber ids): only they are reached; None = no restriction.
    only: np.ndarray | None = None

    @property
    def has_area(self) -> bool:
        return len(self.ranges) > 0 or self.geo is not None

    def only_in(self, shard: int, size: int) -> np.ndarray | None:
        """The restriction as a mask over one shard's offsets (None when unrestricted)."""
        if self.only is None:
            return None
        lo, hi = np.searchsorted(self.only, [shard * size, (shard + 1) * size])
        mask = np.zeros(size, dtype=bool)
        mask[self.only[lo:hi] - shard * size] = True
        return mask

    def skips(self, shard: int, size: int) -> bool:
        """Whether a restricted alert has nobody in this shard (its planning passes it by)."""
        if self.only is None:
            return False
        lo, hi = np.searchsorted(self.only, [shard * size, (shard + 1) * size])
        return lo == hi and not self.reached_from


#: An alert naming at most this many geocodes and no polygon or circle has a small area: its target is
#: built, and its shards matched, in a few milliseconds.
SMALL_AREA_CODES = 64


def small_area(rec: AlertRecord) -> bool:
    """Few geocodes, no polygon or circle (in every info): cheap to target, whatever the audience."""
    areas = [a for info in rec.alert.infos for a in info.areas]
    return (sum(len(a.geocodes) for a in areas) <= SMALL_AREA_CODES
            and not any(a.polygons or a.circles for a in areas))


def target_for(rec: AlertRecord) -> Target:
    alert = rec.alert
    # A Cancel reaches those its alerts reached; one naming alerts never seen here reaches its own area.
    own_area = alert.msg_type != "Cancel" or len(rec.references) < len(alert.references)
    codes, polygons, circles = set(), [], []
    cats = 0
    for info in alert.infos:
        for c in info.categories:
            cats |= C.CATEGORY_BIT.get(c, 0)
        for area in info.areas if own_area else ():
            codes.update(regions.normalize(g.value) for g in area.geocodes
                         if geocodes.is_region_scheme(g.value_name) and regions.valid_code_format(g.value))
            polygons.extend(area.polygons)
            circles.extend((lat, lon, reach_km(r)) for lat, lon, r in area.circles)
    ranges = np.array([C.code_range(c) for c in sorted(codes)], dtype=np.uint64).reshape(-1, 2)
    plan = geo_targeting.plan_area(polygons, circles) if (polygons or circles) else None
    cohort = {"Exercise": C.COHORT_EXERCISE, "Test": C.COHORT_TEST}.get(alert.status, 0)
    target = Target(rec.id, ranges, plan, cats, max(1, SEVERITY_RANK.get(alert.severity(), 0)), cohort,
                    top_tier(alert), list(rec.amends))
    if rec.amends and "*" not in rec.scopes:
        scope_codes = sorted(s for s in rec.scopes if s.isdigit())
        target.reach_ranges = np.array([C.code_range(c) for c in scope_codes], dtype=np.uint64).reshape(-1, 2)
        boxes = [b for b in map(parse_bbox, rec.scopes) if b]
        rings = [[(s, w), (s, e), (n, e), (n, w), (s, w)] for s, w, n, e in boxes]
        target.reach_geo = geo_targeting.plan_area(rings, []) if rings else None
    return target


def _in_ranges(cols: dict, ranges: np.ndarray, size: int) -> np.ndarray:
    """Subscribers with a region code inside any of the (sorted, possibly overlapping) code ranges:
    ranges merged once, then one binary search per column (not one pass per range)."""
    out = np.zeros(size, dtype=bool)
    if not len(ranges):
        return out
    order = np.argsort(ranges[:, 0], kind="stable")
    lo, hi = ranges[order, 0], np.maximum.accumulate(ranges[order, 1])
    for col in C.REGIONS:
        reg = cols[col.name]
        i = np.searchsorted(lo, reg, side="right") - 1
        ok = i >= 0
        out[ok] |= reg[ok] <= hi[i[ok]]
    return out


def _quiet_now(quiet: np.ndarray, minute: int) -> np.ndarray:
    start, end = quiet >> 16, quiet & 0xFFFF
    return np.where(start <= end, (start <= minute) & (minute < end), (minute >= start) | (minute < end))


#: Columns the audience is matched on, in the order they are read.
MATCH_COLUMNS = [C.FLAGS, *C.REGIONS, C.MIN_SEVERITY, C.OPTED_OUT, C.QUIET_HOURS]


async def resolve_shard(redis, shard: int, target: Target, size: int,
                        now: float | None = None, inline: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(targeted offsets, suppressed offsets) of one shard, sorted. The reads are one round trip (and
    the geometry's own); the matching runs in a worker thread, off the event loop (an alert of 2,000
    geocodes must not stall the API), unless ``inline`` (see ``Planning.inline``)."""
    targeted, suppressed, _ = await resolve_shard_columns(redis, shard, target, size, now, inline=inline)
    return targeted, suppressed


async def resolve_shard_columns(redis, shard: int, target: Target, size: int, now: float | None = None,
                                extra: tuple[C.Column, ...] = (), inline: bool = False
                                ) -> tuple[np.ndarray, np.ndarray, dict]:
    """As :func:`resolve_shard`, plus the shard's columns by name (``extra`` ones read in the same round trip)."""
    names = MATCH_COLUMNS + [col for col in extra if col not in MATCH_COLUMNS]
    pipe = redis.pipeline(transaction=False)
    for col in names:
        pipe.get(keys.column(shard, col.name))
    for ref in target.reached_from:
        pipe.get(keys.delivery_state(shard, ref))
    geo_task = (asyncio.ensure_future(geo_targeting.resolve_shard(redis, shard, target.geo))
                if target.geo is not None else None)
    reach_task = (asyncio.ensure_future(geo_targeting.resolve_shard(redis, shard, target.reach_geo))
                  if target.reach_geo is not None and target.reached_from else None)
    raw = await pipe.execute()
    geo = await geo_task if geo_task is not None else None
    reach_geo = await reach_task if reach_task is not None else None
    only = target.only_in(shard, size)
    if inline:
        return match_shard(target, size, raw, geo, reach_geo, now or time.time(), names, only)
    return await asyncio.to_thread(match_shard, target, size, raw, geo, reach_geo, now or time.time(), names, only)


def match_shard(target: Target, size: int, raw: list, geo: np.ndarray | None, reach_geo: np.ndarray | None,
                now: float, names: list | None = None,
                only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The audience of one shard from its columns (CPU only: numpy, no I/O), and the columns by name.
    ``only`` (a mask) restricts it to a Restricted alert's group: within its area, or anywhere without one."""
    names = names or MATCH_COLUMNS
    cols = {col.name: C.decode(col, r, size) for col, r in zip(names, raw)}
    flags = cols["flags"]
    exists = (flags & C.EXISTS) != 0

    in_area = _in_ranges(cols, target.ranges, size)
    if geo is not None:
        in_area[geo] = True
    if only is not None:
        in_area = (in_area if target.has_area else np.ones(size, dtype=bool)) & only
    in_area &= exists
    if target.cohort_flag:
        in_area &= (flags & target.cohort_flag) != 0

    if target.top_tier:
        accepted = in_area
    else:
        declined = np.zeros(size, dtype=bool)
        if target.category_bits:
            declined |= (cols["optout"] & target.category_bits) == target.category_bits
        declined |= cols["minsev"] > target.severity_rank
        minute = int((now % 86_400) // 60)
        declined |= ((flags & C.QUIET) != 0) & _quiet_now(cols["quiet"], minute)
        accepted = in_area & ~declined

    reached = np.zeros(size, dtype=bool)
    for r in raw[len(names):]:
        reached |= np.isin(states(r, size), np.array(REACHED, dtype=np.uint8))
    reached &= exists
    if target.cohort_flag:                   # a Test or Exercise reaches its cohort only, earlier recipients too
        reached &= (flags & target.cohort_flag) != 0
    if target.reach_ranges is not None:      # and only inside the issuer's scopes
        in_scope = _in_ranges(cols, target.reach_ranges, size)
        if reach_geo is not None:
            in_scope[reach_geo] = True
        reached &= in_scope
    targeted = accepted | reached
    suppressed = in_area & ~targeted
    return np.flatnonzero(targeted), np.flatnonzero(suppressed), cols

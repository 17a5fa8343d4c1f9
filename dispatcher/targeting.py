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

    @property
    def has_area(self) -> bool:
        return len(self.ranges) > 0 or self.geo is not None


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
    return Target(rec.id, ranges, plan, cats, max(1, SEVERITY_RANK.get(alert.severity(), 0)), cohort,
                  top_tier(alert), list(rec.references))


def _quiet_now(quiet: np.ndarray, minute: int) -> np.ndarray:
    start, end = quiet >> 16, quiet & 0xFFFF
    return np.where(start <= end, (start <= minute) & (minute < end), (minute >= start) | (minute < end))


async def resolve_shard(redis, shard: int, target: Target, size: int,
                        now: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(targeted offsets, suppressed offsets) of one shard, sorted."""
    targeted, suppressed, _ = await resolve_shard_columns(redis, shard, target, size, now)
    return targeted, suppressed


async def resolve_shard_columns(redis, shard: int, target: Target, size: int, now: float | None = None,
                                extra: tuple[C.Column, ...] = ()) -> tuple[np.ndarray, np.ndarray, dict]:
    """As :func:`resolve_shard`, plus the shard's columns by name (``extra`` ones read in the same round trip)."""
    names = [C.FLAGS, *C.REGIONS, C.MIN_SEVERITY, C.OPTED_OUT, C.QUIET_HOURS]
    names += [col for col in extra if col not in names]
    pipe = redis.pipeline(transaction=False)
    for col in names:
        pipe.get(keys.column(shard, col.name))
    for ref in target.reached_from:
        pipe.get(keys.delivery_state(shard, ref))
    geo_task = (asyncio.ensure_future(geo_targeting.resolve_shard(redis, shard, target.geo))
                if target.geo is not None else None)
    raw = await pipe.execute()
    cols = {col.name: C.decode(col, r, size) for col, r in zip(names, raw)}
    flags = cols["flags"]
    exists = (flags & C.EXISTS) != 0

    in_area = np.zeros(size, dtype=bool)
    for lo, hi in target.ranges:
        for col in C.REGIONS:
            reg = cols[col.name]
            in_area |= (reg >= lo) & (reg <= hi)
    if geo_task is not None:
        in_area[await geo_task] = True
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
        minute = int(((now or time.time()) % 86_400) // 60)
        declined |= ((flags & C.QUIET) != 0) & _quiet_now(cols["quiet"], minute)
        accepted = in_area & ~declined

    reached = np.zeros(size, dtype=bool)
    for r in raw[len(names):]:
        reached |= np.isin(states(r, size), np.array(REACHED, dtype=np.uint8))
    targeted = accepted | (reached & exists)
    suppressed = in_area & ~targeted
    return np.flatnonzero(targeted), np.flatnonzero(suppressed), cols

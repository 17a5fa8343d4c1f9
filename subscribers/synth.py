"""Synthetic subscribers for the demo and benchmarks: a realistic mix over Beijing's 16 districts."""
from __future__ import annotations

import numpy as np

from . import regions
from .model import Subscriber

#: channel mixes: (share, chain). About 70% batch push, 20% in-app only, 10% SMS.
CHANNEL_MIX = ((0.70, ["hms", "sms", "inapp"]), (0.20, ["inapp"]), (0.10, ["sms", "inapp"]))
INAPP_ONLY = ((1.0, ["inapp"]),)


def generate(n: int, seed: int = 7, mix=INAPP_ONLY, located_share: float = 0.6) -> list[Subscriber]:
    """``n`` subscribers spread over the districts (more in the populous urban ones), with streets,
    languages (85% zh-CN), preferences (a tenth decline some categories or minor alerts, some with
    quiet hours), cohort flags (1% test / exercise), locations near their district's seat, and
    endpoints for the channels of their mix."""
    rng = np.random.default_rng(seed)
    districts = regions.district_codes()
    weights = np.array([3.0 if d in ("110105", "110108", "110106", "110114", "110115", "110112") else 1.0
                        for d in districts])
    weights /= weights.sum()
    pick = rng.choice(len(districts), size=n, p=weights)
    depth = rng.random(n)
    street = rng.integers(1, 30, n)
    village = rng.integers(1, 40, n)
    lang = rng.random(n)
    pref = rng.random(n)
    located = rng.random(n) < located_share
    jitter = rng.normal(0, 0.05, size=(n, 2))
    mix_draw = rng.random(n)
    bounds = np.cumsum([share for share, _ in mix])
    out: list[Subscriber] = []
    for i in range(n):
        d = districts[pick[i]]
        code = d if depth[i] < 0.5 else (f"{d}{street[i]:03d}" if depth[i] < 0.8 else f"{d}{street[i]:03d}{village[i]:03d}")
        chain = mix[int(np.searchsorted(bounds, mix_draw[i], side="right")) if mix_draw[i] < bounds[-1] else -1][1]
        s = Subscriber(regions=[code], language="zh-CN" if lang[i] < 0.85 else "en", channels=list(chain))
        for ch in chain:
            if ch == "hms":
                s.endpoints["hms"] = f"IQAAAACy0{i:012d}hmsToken{seed:04d}AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            elif ch == "sms":
                s.endpoints["sms"] = f"+86139{(seed + i) % 10**8:08d}"      # unique per subscriber
        if pref[i] < 0.05:
            s.categories = ["Geo", "Safety", "Security", "Rescue", "Fire", "Health"]   # declines Met
        elif pref[i] < 0.10:
            s.min_severity = "Severe"
        elif pref[i] < 0.25:
            s.quiet_hours = {"start": "23:00", "end": "06:30", "utc_offset": "+08:00"}
        if pref[i] > 0.99:
            s.cohorts = ["test", "exercise"]
        if located[i]:
            lat, lon = regions.centroid(d)
            s.location = (round(float(lat + jitter[i, 0]), 6), round(float(lon + jitter[i, 1]), 6))
        out.append(s)
    return out

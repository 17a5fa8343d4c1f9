"""Per-alert size limits: how many areas, geocodes, polygon points and circles one alert may carry.

Counted over all of an alert's info blocks, before anything is stored or
planned, so an oversized alert costs the server a count and nothing more.
Over a limit is a 413 naming the limit and its setting.
"""
from __future__ import annotations

from .cap import Alert
from .errors import TooLarge
from .settings import Settings


def counts(alert: Alert) -> dict[str, int]:
    areas = [a for info in alert.infos for a in info.areas]
    return {
        "areas": len(areas),
        "geocodes": sum(len(a.geocodes) for a in areas),
        "polygon_points": sum(len(ring) for a in areas for ring in a.polygons),
        "circles": sum(len(a.circles) for a in areas),
    }


def check(alert: Alert, settings: Settings) -> None:
    """TooLarge naming every limit the alert is over."""
    limits = {
        "areas": (settings.max_areas, "WARNCAST_MAX_AREAS", "alert/info/area"),
        "geocodes": (settings.max_geocodes, "WARNCAST_MAX_GEOCODES", "alert/info/area/geocode"),
        "polygon_points": (settings.max_polygon_points, "WARNCAST_MAX_POLYGON_POINTS", "alert/info/area/polygon"),
        "circles": (settings.max_circles, "WARNCAST_MAX_CIRCLES", "alert/info/area/circle"),
    }
    over = []
    for name, n in counts(alert).items():
        limit, env, path = limits[name]
        if n > limit:
            over.append({"path": path, "message": f"{n} {name.replace('_', ' ')} in one alert; the limit is "
                                                  f"{limit} ({env})"})
    if over:
        raise TooLarge("the alert is over a per-alert limit: " + "; ".join(o["message"] for o in over), over)

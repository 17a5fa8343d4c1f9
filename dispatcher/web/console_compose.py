"""The composer: the page, the template library and the region registry it draws from.

    GET /console/compose[?draft=<id>|?update=<alert id>]   the page (issuers and admins)
    GET /console/api/templates                            the warning-signal library (templates/signals/)
    GET /console/api/regions                              the region tree and approximate district outlines

The registry has each region's seat, not its boundary: the outlines are the Voronoi cells of the
district seats inside Beijing's bounding box, drawn and labelled on the map as approximate.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache

import orjson
import shapely
from aiohttp import web
from shapely.geometry import MultiPoint, box

from subscribers import regions

from .. import cap, signal_templates
from ..api import context as ctx
from ..api.common import json_response
from ..auth import require_amend
from ..errors import BadRequest, Forbidden, NotFound
from . import console_shell as shell
from .session import console_caller

CST = timezone(timedelta(hours=8))
#: Beijing's extent (south, west, north, east), where the approximate outlines are cut.
BEIJING_BBOX = (39.44, 115.42, 41.06, 117.51)


@cache
def _regions_doc() -> bytes:
    reg = regions.registry()
    tree = []
    for code in regions.district_codes():
        r = reg[code]
        streets = [{"code": c, "zh": s["zh-CN"], "en": s["en-US"]} for c, s in sorted(reg.items())
                   if len(c) == 9 and c.startswith(code)]
        tree.append({"code": code, "zh": r["zh-CN"], "en": r["en-US"], "centroid": r.get("centroid"),
                     "streets": streets})
    return orjson.dumps({"root": {"code": "11", "zh": reg["11"]["zh-CN"], "en": reg["11"]["en-US"]},
                         "districts": tree, "outlines": _outlines(tree), "outlines_approximate": True})


def _outlines(tree: list[dict]) -> dict:
    """GeoJSON of each district's approximate outline: its seat's Voronoi cell within the bounding box."""
    south, west, north, east = BEIJING_BBOX
    frame = box(west, south, east, north)
    seats = [(d["centroid"][1], d["centroid"][0]) for d in tree if d.get("centroid")]
    cells = shapely.voronoi_polygons(MultiPoint(seats), extend_to=frame)
    features = []
    for d in tree:
        if not d.get("centroid"):
            continue
        seat = shapely.Point(d["centroid"][1], d["centroid"][0])
        cell = next((c for c in cells.geoms if c.covers(seat)), None)
        if cell is None:
            continue
        ring = [[round(y, 4), round(x, 4)] for x, y in cell.intersection(frame).exterior.coords]
        features.append({"code": d["code"], "zh": d["zh"], "en": d["en"], "ring": ring, "label": d["centroid"]})
    return {"features": features}


async def region_tree(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.ALL_ROLES)
    return web.Response(body=_regions_doc(), content_type="application/json",
                        headers={"Cache-Control": "private, max-age=3600"})


async def template_library(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.ALL_ROLES)
    lib = signal_templates.load(request.app[ctx.SETTINGS].signal_templates_dir)
    return json_response({"signals": list(lib.signals.values()), "levels": lib.levels})


def _default_expiry() -> str:
    return (datetime.now(CST) + timedelta(hours=6)).replace(minute=0, second=0, microsecond=0).isoformat()


async def _update_prefill(request: web.Request, who, raw: str) -> dict:
    """The form of an Update to an existing alert: its texts, area and level, as msgType Update."""
    if not raw.isdigit() or len(raw) > 15:
        raise BadRequest("update must be an alert id", [{"field": "update", "message": "an alert id"}])
    rec = await request.app[ctx.ENGINE].alerts.get(int(raw))
    require_amend(who, rec)
    return form_of_alert(rec)


def form_of_alert(rec) -> dict:
    """A composer form that reproduces an alert, as the start of its Update."""
    a = rec.alert
    first = a.infos[0]
    texts, area = {}, {"codes": [], "polygons": [], "circles": []}
    for info in a.infos:
        lang = "zh-CN" if info.language.lower().startswith("zh") else "en"
        texts[lang] = {"event": info.event, "headline": info.headline or "", "description": info.description or "",
                       "instruction": info.instruction or ""}
    for ar in first.areas:
        area["codes"] += [g.value for g in ar.geocodes]
        area["polygons"] += [[list(p) for p in poly[:-1]] for poly in ar.polygons]
        area["circles"] += [list(c) for c in ar.circles]
    return {"template": None, "level": cap.severity_to_level(first.severity), "status": a.status,
            "msg_type": "Update", "update_of": rec.id, "severity": first.severity, "urgency": first.urgency,
            "certainty": first.certainty, "sender": a.sender, "sender_name": first.sender_name or "",
            "expires": _default_expiry(), "languages": [x for x in ("zh-CN", "en") if x in texts], "texts": texts,
            "area": area}


async def compose_page(request: web.Request) -> web.Response:
    who = await console_caller(request, roles=shell.ISSUERS)
    start: dict = {"draft": None, "form": None}
    if request.query.get("update"):
        try:
            start["form"] = await _update_prefill(request, who, request.query["update"])
        except (NotFound, BadRequest, Forbidden) as exc:
            return shell.page(request, "console/compose.html", status=getattr(exc, "status", 404), start_json="{}", error=exc.message,
                              senders=list(who.senders), default_expiry=_default_expiry())
    elif request.query.get("draft", "").isdigit():
        start["draft"] = int(request.query["draft"])
    return shell.page(request, "console/compose.html", start_json=shell.json_for_script(start), error="",
                      senders=list(who.senders), default_expiry=_default_expiry())


def setup(app: web.Application) -> None:
    app.router.add_get("/console/compose", compose_page)
    app.router.add_get("/console/api/templates", template_library)
    app.router.add_get("/console/api/regions", region_tree)

"""Shelter endpoints: the registry for operators (import, create, change, delete, open/close in bulk)
and the nearest open shelters for a subscriber (or any point, for operators)."""
from __future__ import annotations

import numpy as np
from aiohttp import web

from subscribers import regions
from subscribers.geo import validate_location
from subscribers.errors import NotFound as SubscriberNotFound

from .. import shelter_import
from ..errors import BadRequest, NotFound
from ..nearest import direction, nearest
from ..shelters import KINDS, ShelterStore, kinds_for
from . import context as ctx
from .common import caller, int_param, json_response, path_id, read_json, read_limited

SHELTERS: web.AppKey[ShelterStore] = web.AppKey("shelters", ShelterStore)


def _store(request: web.Request) -> ShelterStore:
    return request.app[SHELTERS]


async def _operator(request: web.Request) -> None:
    (await caller(request)).require("operator", "admin")


async def list_shelters(request: web.Request) -> web.Response:
    await _operator(request)
    district = request.query.get("district", "")
    status = request.query.get("status", "")
    if status not in ("", "open", "closed"):
        raise BadRequest("status must be open or closed", [{"field": "status", "message": f"got {status!r}"}])
    items = [s.public() for s in await _store(request).all()
             if (not district or s.district.startswith(district)) and (not status or s.status == status)]
    return json_response({"shelters": items, "count": len(items)})


async def create_shelter(request: web.Request) -> web.Response:
    await _operator(request)
    shelter = await _store(request).create(await read_json(request, 64 * 1024))
    return json_response(shelter.public(), status=201, headers={"Location": f"/api/v1/shelters/{shelter.id}"})


async def get_shelter(request: web.Request) -> web.Response:
    await _operator(request)
    return json_response((await _store(request).get(path_id(request))).public())


async def patch_shelter(request: web.Request) -> web.Response:
    await _operator(request)
    changes = await read_json(request, 64 * 1024)
    return json_response((await _store(request).update(path_id(request), changes)).public())


async def delete_shelter(request: web.Request) -> web.Response:
    await _operator(request)
    await _store(request).delete(path_id(request))
    return web.Response(status=204)


async def import_shelters(request: web.Request) -> web.Response:
    """CSV (text/csv) or GeoJSON (application/geo+json); every record valid or nothing imported."""
    await _operator(request)
    ctype = request.content_type
    if ctype not in ("text/csv", "application/geo+json", "application/json"):
        raise BadRequest("send CSV (text/csv) or GeoJSON (application/geo+json)",
                         [{"field": "Content-Type", "message": f"unsupported {ctype}"}])
    body = await read_limited(request, request.app[ctx.SETTINGS].max_import_bytes)
    parsed = shelter_import.parse(body, shelter_import.detect_format("", ctype))
    if parsed.errors:
        return json_response({"error": "invalid shelters; nothing was imported", "errors": parsed.error_list()[:200],
                              "errors_omitted": max(0, len(parsed.errors) - 200)}, status=422)
    saved, updated = await _store(request).save_many(parsed.shelters)
    return json_response({"imported": len(saved), "created": len(saved) - updated, "updated": updated})


async def set_status(request: web.Request) -> web.Response:
    """{"status": "open"|"closed", "ids": [..]} or {"status": …, "alert_id": N} (every shelter in its area)."""
    await _operator(request)
    data = await read_json(request, 256 * 1024)
    if not isinstance(data, dict) or data.get("status") not in ("open", "closed"):
        raise BadRequest("status must be open or closed", [{"field": "status", "message": "open or closed"}])
    ids, alert_id = data.get("ids"), data.get("alert_id")
    if (ids is None) == (alert_id is None):
        raise BadRequest("give ids or alert_id", [{"field": "ids", "message": "give exactly one of ids, alert_id"}])
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids) \
                or not 1 <= len(ids) <= 10_000:
            raise BadRequest("ids must list 1-10000 shelter ids", [{"field": "ids", "message": "integers"}])
        changed = await _store(request).set_status(ids, data["status"])
    else:
        if not isinstance(alert_id, int) or isinstance(alert_id, bool):
            raise BadRequest("alert_id must be an integer", [{"field": "alert_id", "message": "integer"}])
        rec = await request.app[ctx.ENGINE].alerts.get(alert_id)
        changed = await _store(request).set_status_in_area(rec.alert, data["status"])
    return json_response({"status": data["status"], "changed": [s.id for s in changed], "count": len(changed)})


async def _where(request: web.Request, who) -> tuple[float, float, str]:
    """The point to search from: a subscriber's location, else its district's seat; an operator's lat/lon."""
    if who.subscriber_id is None:
        try:
            lat, lon = validate_location(float(request.query["lat"]), float(request.query["lon"]))
        except (KeyError, ValueError) as exc:
            raise BadRequest("give lat and lon", [{"field": "lat", "message": f"lat and lon are numbers ({exc})"}]) \
                from None
        return lat, lon, "query"
    try:
        sub = await request.app[ctx.ENGINE].subscribers.get(who.subscriber_id)
    except SubscriberNotFound:
        raise NotFound(f"no subscriber {who.subscriber_id}") from None
    if sub.location is not None:
        return sub.location[0], sub.location[1], "location"
    for code in sub.regions:
        seat = regions.centroid(code) or next(filter(None, map(regions.centroid, regions.ancestors(code))), None)
        if seat:
            return seat[0], seat[1], "district"
    raise BadRequest("the subscriber has no location and no region with a known seat",
                     [{"field": "location", "message": "share a location or choose a district"}])


async def nearest_shelters(request: web.Request) -> web.Response:
    """GET ?alert_id=&n=: the nearest open shelters fit for the alert's hazard (subscriber token or operator)."""
    who = await caller(request, subscriber_ok=True)
    if who.subscriber_id is None:
        who.require("operator", "admin")
    lat, lon, source = await _where(request, who)
    n = int_param(request, "n", 5, 1, 20)
    kinds: tuple[str, ...] = ()
    if "alert_id" in request.query:
        kinds = kinds_for((await request.app[ctx.ENGINE].alerts.get(int_param(request, "alert_id", 0))).alert)
    elif "kind" in request.query:
        if request.query["kind"] not in KINDS:
            raise BadRequest("unknown kind", [{"field": "kind", "message": f"one of {', '.join(KINDS)}"}])
        kinds = (request.query["kind"],)
    arrays = await _store(request).arrays()
    found = nearest(np.array([lat]), np.array([lon]), arrays, n, kinds)
    items = []
    for idx, km, brg in zip(found.index[0].tolist(), found.km[0].tolist(), found.bearing[0].tolist()):
        if idx >= 0:
            items.append({**arrays.shelters[idx].public(), "distance_km": round(km, 3), "bearing": round(brg, 1),
                          "direction": direction(brg, "en"), "direction_zh": direction(brg, "zh-CN")})
    return json_response({"from": {"lat": lat, "lon": lon, "source": source}, "kinds": list(kinds),
                          "shelters": items})


def setup(app: web.Application) -> None:
    async def store(app: web.Application):
        app[SHELTERS] = ShelterStore(app[ctx.REDIS])
        yield

    app.cleanup_ctx.append(store)
    r = app.router
    r.add_get("/api/v1/shelters", list_shelters)
    r.add_post("/api/v1/shelters", create_shelter)
    r.add_post("/api/v1/shelters:import", import_shelters)
    r.add_post("/api/v1/shelters:status", set_status)
    r.add_get("/api/v1/shelters/nearest", nearest_shelters)
    r.add_get(r"/api/v1/shelters/{id:\d+}", get_shelter)
    r.add_patch(r"/api/v1/shelters/{id:\d+}", patch_shelter)
    r.add_delete(r"/api/v1/shelters/{id:\d+}", delete_shelter)

"""Operator endpoints for households (members, escalation contacts) and subscriber groups."""
from __future__ import annotations

from aiohttp import web

from .. import household_import
from ..errors import BadRequest
from ..groups import GroupStore, check_name
from ..households import HouseholdStore
from . import context as ctx
from .common import caller, int_param, json_response, path_id, read_json, read_limited

HOUSEHOLDS: web.AppKey[HouseholdStore] = web.AppKey("households", HouseholdStore)
GROUPS: web.AppKey[GroupStore] = web.AppKey("groups", GroupStore)


async def _operator(request: web.Request) -> None:
    (await caller(request)).require("operator", "admin")


def _store(request: web.Request) -> HouseholdStore:
    return request.app[HOUSEHOLDS]


async def list_households(request: web.Request) -> web.Response:
    await _operator(request)
    offset = int_param(request, "offset", 0, 0)
    limit = int_param(request, "limit", 100, 1, 1000)
    items, total = await _store(request).list(offset, limit)
    return json_response({"households": [h.public() for h in items], "total": total})


async def create_household(request: web.Request) -> web.Response:
    await _operator(request)
    h = await _store(request).create(await read_json(request, 64 * 1024))
    return json_response(h.public(), status=201, headers={"Location": f"/api/v1/households/{h.id}"})


async def get_household(request: web.Request) -> web.Response:
    await _operator(request)
    return json_response((await _store(request).get(path_id(request))).public())


async def patch_household(request: web.Request) -> web.Response:
    await _operator(request)
    changes = await read_json(request, 64 * 1024)
    return json_response((await _store(request).update(path_id(request), changes)).public())


async def delete_household(request: web.Request) -> web.Response:
    await _operator(request)
    await _store(request).delete(path_id(request))
    return web.Response(status=204)


async def import_households(request: web.Request) -> web.Response:
    """JSON lines (application/x-ndjson) or CSV (text/csv); every record valid or nothing imported."""
    await _operator(request)
    ctype = request.content_type
    fmt = {"text/csv": "csv", "application/x-ndjson": "ndjson", "application/json": "ndjson"}.get(ctype)
    if fmt is None:
        raise BadRequest("send JSON lines (application/x-ndjson) or CSV (text/csv)",
                         [{"field": "Content-Type", "message": f"unsupported {ctype}"}])
    body = await read_limited(request, request.app[ctx.SETTINGS].max_import_bytes)
    return json_response(await household_import.import_households(_store(request), body, fmt))


async def list_groups(request: web.Request) -> web.Response:
    await _operator(request)
    return json_response({"groups": await request.app[GROUPS].names()})


async def get_group(request: web.Request) -> web.Response:
    await _operator(request)
    name = request.match_info["name"]
    members = await request.app[GROUPS].get(name)
    return json_response({"name": name, "members": members, "count": len(members)})


async def _member_ids(request: web.Request) -> list[int]:
    data = await read_json(request, 4 << 20)
    if not isinstance(data, dict) or "subscriber_ids" not in data:
        raise BadRequest('send {"subscriber_ids": [...]}', [{"field": "subscriber_ids", "message": "required"}])
    return data["subscriber_ids"]


async def add_members(request: web.Request) -> web.Response:
    await _operator(request)
    name = check_name(request.match_info["name"])
    added = await request.app[GROUPS].add(name, await _member_ids(request))
    return json_response({"name": name, "added": added, "count": len(await request.app[GROUPS].members(name))})


async def remove_members(request: web.Request) -> web.Response:
    await _operator(request)
    name = check_name(request.match_info["name"])
    removed = await request.app[GROUPS].remove(name, await _member_ids(request))
    return json_response({"name": name, "removed": removed, "count": len(await request.app[GROUPS].members(name))})


async def delete_group(request: web.Request) -> web.Response:
    await _operator(request)
    await request.app[GROUPS].delete(request.match_info["name"])
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    async def stores(app: web.Application):
        app[HOUSEHOLDS] = HouseholdStore(app[ctx.REDIS], app[ctx.ENGINE].subscribers)
        app[GROUPS] = GroupStore(app[ctx.REDIS])
        yield

    app.cleanup_ctx.append(stores)
    r = app.router
    r.add_get("/api/v1/households", list_households)
    r.add_post("/api/v1/households", create_household)
    r.add_post("/api/v1/households:import", import_households)
    r.add_get(r"/api/v1/households/{id:\d+}", get_household)
    r.add_patch(r"/api/v1/households/{id:\d+}", patch_household)
    r.add_delete(r"/api/v1/households/{id:\d+}", delete_household)
    r.add_get("/api/v1/groups", list_groups)
    r.add_get("/api/v1/groups/{name}", get_group)
    r.add_post("/api/v1/groups/{name}/members", add_members)
    r.add_post("/api/v1/groups/{name}/members:remove", remove_members)
    r.add_delete("/api/v1/groups/{name}", delete_group)

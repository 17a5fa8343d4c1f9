"""The audit trail over the API: operators and admins read it, newest first, a page at a time."""
from __future__ import annotations

from aiohttp import web

from .. import audit
from ..audit import Action
from ..errors import BadRequest
from . import context as ctx
from .common import caller, int_param, json_response


async def list_audit(request: web.Request) -> web.Response:
    """?action=<one of Action>&limit=1..1000&cursor=<next_cursor of the previous page>."""
    who = await caller(request)
    who.require("operator", "admin")
    action = request.query.get("action")
    if action is not None and action not in {a.value for a in Action}:
        raise BadRequest(f"unknown action {action[:60]!r}",
                         [{"field": "action", "message": "one of " + ", ".join(a.value for a in Action)}])
    cursor = request.query.get("cursor")
    if cursor is not None and not audit.valid_cursor(cursor):
        raise BadRequest("cursor must be the next_cursor of a previous page",
                         [{"field": "cursor", "message": "not a cursor"}])
    limit = int_param(request, "limit", 100, 1, 1000)
    entries, nxt = await audit.read(request.app[ctx.REDIS], action=action, limit=limit, before=cursor)
    return json_response({"entries": entries, "next_cursor": nxt})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/audit", list_audit)

"""The console's audit page: the audit trail (dispatcher/audit.py) newest first, a page at a time,
filtered by action; rendered on the server, so it needs no script."""
from __future__ import annotations

import time

from aiohttp import web

from .. import audit
from ..api import context as ctx
from ..audit import Action
from . import console_shell as shell
from .session import console_caller

PAGE_SIZE = 50


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def _what(what: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in what.items() if v not in (None, "", []))


async def audit_page(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.OPERATORS)
    action = request.query.get("action") or None
    if action not in {a.value for a in Action}:
        action = None
    cursor = request.query.get("cursor")
    cursor = cursor if cursor and audit.valid_cursor(cursor) else None
    entries, nxt = await audit.read(request.app[ctx.REDIS], action=action, limit=PAGE_SIZE, before=cursor)
    rows = [{**e, "when": _when(e["t"]), "summary": _what(e["what"])} for e in entries]
    return shell.page(request, "console/audit.html", rows=rows, next_cursor=nxt, action=action or "",
                      actions=[a.value for a in Action])


def setup(app: web.Application) -> None:
    app.router.add_get("/console/audit", audit_page)

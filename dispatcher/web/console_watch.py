"""The operator's pages: the live dashboard (/console/dashboard, drawn by dashboard.js from the live
stream) and an alert's failure drill-down (/console/dashboard/alerts/{id}), rendered on the server
so it works without a script, with its "retry these" form."""
from __future__ import annotations

from urllib.parse import urlencode

import orjson
from aiohttp import web

from subscribers import regions

from .. import audit, drilldown, keys
from ..alerts import STOPPED
from ..api import context as ctx
from ..api.common import path_id
from ..audit import Action
from ..errors import BadRequest
from . import console_shell as shell
from .console_drill import CHANNELS, REASONS
from .session import check_csrf, console_caller

PAGE_SIZE = 50


def district_seats(lang: str) -> list[dict]:
    """Every district of the registry with its name and seat, for the map (seats only: no outlines)."""
    out = []
    for code in regions.district_codes():
        seat = regions.centroid(code)
        if seat:
            out.append({"code": code, "name": regions.name(code, lang) or code, "lat": seat[0], "lon": seat[1]})
    return out


def _script_json(data) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    return orjson.dumps(data).decode().replace("<", "\\u003c")


async def dashboard_page(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.OPERATORS)
    return shell.page(request, "console/dashboard.html",
                      districts_json=_script_json(district_seats(shell.language(request))))


def _selected(request: web.Request) -> tuple[str, str] | None:
    channel, reason = request.query.get("channel"), request.query.get("reason")
    if channel in CHANNELS and reason in REASONS:
        return channel, reason
    return None


def _cursor(request: web.Request) -> int:
    raw = request.query.get("cursor", "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 16 else 0


async def drilldown_page(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.OPERATORS)
    engine = request.app[ctx.ENGINE]
    rec = await engine.alerts.get(path_id(request))
    counts = {k.decode(): int(v) for k, v in (await engine.redis.hgetall(keys.counters(rec.id))).items()}
    picked, rows, nxt = _selected(request), [], None
    if picked:
        rows, nxt = await drilldown.subscribers_behind(
            engine.redis, rec.id, *picked, size=engine.size, nshards=await engine.subscribers.shard_count(),
            cursor=_cursor(request), limit=PAGE_SIZE)
    return shell.page(request, "console/drilldown.html", alert=rec.summary(), failures=drilldown.failures(counts),
                      retried=counts.get("all:retried", 0), picked=picked, rows=rows, next_cursor=nxt,
                      stopped=rec.lifecycle in STOPPED, done=request.query.get("retried"))


async def retry_form(request: web.Request) -> web.Response:
    """The drill-down's "retry these" (the subscribers listed) and "retry all behind this reason"."""
    who = await console_caller(request, roles=shell.OPERATORS)
    form = await shell.read_form(request)
    check_csrf(request, form)
    engine = request.app[ctx.ENGINE]
    rec = await engine.alerts.get(path_id(request))
    channel, reason = form.get("channel"), form.get("reason")
    if channel not in CHANNELS or reason not in REASONS:
        raise BadRequest("choose a failure reason to retry", [{"field": "reason", "message": "unknown"}])
    ids = form.getall("subscriber_id", [])
    only = {int(i) for i in ids if isinstance(i, str) and i.isdigit() and len(i) < 16} if ids else None
    if rec.lifecycle in STOPPED:
        raise BadRequest(f"alert {rec.id} is {rec.lifecycle.value}: nothing more is sent for it",
                         [{"field": "alert", "message": rec.lifecycle.value}])
    result = await drilldown.retry(engine, rec.id, channel, reason, only)
    await audit.record(request.app[ctx.REDIS], Action.DELIVERIES_RETRIED, who, request.remote, alert=rec.id,
                       channel=channel, reason=reason, retried=result["retried"])
    query = urlencode({"channel": channel, "reason": reason, "retried": result["retried"]})
    raise web.HTTPSeeOther(f"/console/dashboard/alerts/{rec.id}?{query}")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/dashboard", dashboard_page)
    r.add_get(r"/console/dashboard/alerts/{id:\d+}", drilldown_page)
    r.add_post(r"/console/dashboard/alerts/{id:\d+}/retry", retry_form)

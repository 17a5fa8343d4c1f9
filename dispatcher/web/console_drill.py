"""The operator's drill-down and controls in the console API: an alert's failures by reason, the
subscribers behind one (masked endpoints, paginated), "retry these", cancel, and the health panel
(providers, queues per lane, workers, pending fan-outs)."""
from __future__ import annotations

from aiohttp import web

from channels.base import Reason
from subscribers import columns as C

from .. import audit, drilldown, health, keys
from ..alerts import STOPPED
from ..audit import Action
from ..errors import BadRequest, NotFound, Rejected
from ..api import context as ctx
from ..api.common import int_param, json_response, path_id, read_json, remote
from ..api.issuer import cancel_as
from .console_live import LIVE_HUB, operator

#: Reasons a failover is recorded with, besides the providers' own (``channels.base.Reason``).
EXTRA_REASONS = ("receipt_failed", "receipt_timeout", "unknown")
REASONS = frozenset(r.value for r in Reason) | frozenset(EXTRA_REASONS)
CHANNELS = frozenset(C.CHANNEL_IDS) | {"webhook"}
#: Most subscribers one retry names explicitly.
MAX_RETRY_IDS = 10_000


async def _alert(request: web.Request):
    return await request.app[ctx.ENGINE].alerts.get(path_id(request))


async def failures(request: web.Request) -> web.Response:
    """An alert's failures by (channel, reason), most first."""
    await operator(request)
    rec = await _alert(request)
    raw = await request.app[ctx.REDIS].hgetall(keys.counters(rec.id))
    counts = {k.decode(): int(v) for k, v in raw.items()}
    return json_response({"alert_id": rec.id, "retried": counts.get("all:retried", 0),
                          "failures": [f.__dict__ for f in drilldown.failures(counts)]})


def _reason(channel: str, reason: str) -> None:
    if channel not in CHANNELS:
        raise NotFound(f"no channel {channel[:40]!r}", [{"field": "channel", "message": "allowed: " +
                                                         ", ".join(sorted(CHANNELS))}])
    if reason not in REASONS:
        raise NotFound(f"no failure reason {reason[:40]!r}", [{"field": "reason", "message": "allowed: " +
                                                              ", ".join(sorted(REASONS))}])


async def behind(request: web.Request) -> web.Response:
    """The subscribers behind one (channel, reason), ``limit`` a page from subscriber id ``cursor``."""
    await operator(request)
    rec = await _alert(request)
    channel, reason = request.match_info["channel"], request.match_info["reason"]
    _reason(channel, reason)
    engine = request.app[ctx.ENGINE]
    rows, nxt = await drilldown.subscribers_behind(
        engine.redis, rec.id, channel, reason, size=engine.size, nshards=await engine.subscribers.shard_count(),
        cursor=int_param(request, "cursor", 0), limit=int_param(request, "limit", 100, 1, drilldown.MAX_PAGE))
    return json_response({"alert_id": rec.id, "channel": channel, "reason": reason, "subscribers": rows,
                          "next_cursor": nxt})


def _retry_body(body) -> tuple[str, str, set[int] | None]:
    if not isinstance(body, dict):
        raise BadRequest("send {\"channel\": …, \"reason\": …}", [{"field": "body", "message": "a JSON object"}])
    channel, reason, ids = body.get("channel"), body.get("reason"), body.get("subscriber_ids")
    for name, value, allowed in (("channel", channel, CHANNELS), ("reason", reason, REASONS)):
        if not isinstance(value, str) or value not in allowed:
            raise BadRequest(f"{name} is missing or unknown", [{"field": name, "message": "allowed: " +
                                                                 ", ".join(sorted(allowed))}])
    if ids is None:
        return channel, reason, None
    if (not isinstance(ids, list) or not 0 < len(ids) <= MAX_RETRY_IDS
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)):
        raise BadRequest("subscriber_ids must be a list of subscriber ids", [{
            "field": "subscriber_ids", "message": f"1 to {MAX_RETRY_IDS} non-negative integers"}])
    return channel, reason, set(ids)


async def retry(request: web.Request) -> web.Response:
    """Queue again the subscribers behind (channel, reason) that nothing reached: {"channel", "reason",
    "subscriber_ids" (optional: only these)}."""
    who = await operator(request, change=True)
    rec = await _alert(request)
    channel, reason, only = _retry_body(await read_json(request, 256 * 1024))
    if rec.lifecycle in STOPPED:
        raise Rejected(f"alert {rec.id} is {rec.lifecycle.value}: nothing more is sent for it")
    if rec.expires_at is not None and request.app[ctx.ENGINE].clock() >= rec.expires_at:
        raise Rejected(f"alert {rec.id} has expired: nothing more is sent for it")
    result = await drilldown.retry(request.app[ctx.ENGINE], rec.id, channel, reason, only)
    await audit.record(request.app[ctx.REDIS], Action.DELIVERIES_RETRIED, who, remote(request), alert=rec.id,
                       channel=channel, reason=reason, retried=result["retried"])
    return json_response({"alert_id": rec.id, "channel": channel, "reason": reason, **result})


async def cancel(request: web.Request) -> web.Response:
    """Cancel an alert from the console (a CAP Cancel, as ``POST /api/v1/alerts/{id}/cancel``)."""
    who = await operator(request, change=True)
    return await cancel_as(request, who)


async def health_panel(request: web.Request) -> web.Response:
    await operator(request)
    app = request.app
    parts = {"engine": app[ctx.ENGINE], "pool": app[ctx.POOL], "store": app[ctx.STORE]}
    return json_response(await health.snapshot(parts, app[LIVE_HUB].sending_per_s()))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get(r"/console/api/alerts/{id:\d+}/failures", failures)
    r.add_get(r"/console/api/alerts/{id:\d+}/failures/{channel}/{reason}", behind)
    r.add_post(r"/console/api/alerts/{id:\d+}/retry", retry)
    r.add_post(r"/console/api/alerts/{id:\d+}/cancel", cancel)
    r.add_get("/console/api/health", health_panel)

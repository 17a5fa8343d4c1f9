"""Operator endpoints: stats, dashboard, Prometheus metrics, health; the public CAP Atom feed; OpenAPI."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from xml.etree import ElementTree as ET

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .. import keys, replays
from ..alerts import Lifecycle
from ..circuit import Circuits
from ..stats import alert_stats, totals
from . import context as ctx
from .common import caller, int_param, json_response
from .openapi import OPENAPI

STATIC = Path(__file__).resolve().parent.parent / "static"


async def stats(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("operator", "admin")
    engine, redis = request.app[ctx.ENGINE], request.app[ctx.REDIS]
    recent = await engine.alerts.list(limit=int_param(request, "alerts", 10, 1, 100))
    pool = request.app[ctx.POOL]
    return json_response({
        "subscribers": await engine.subscribers.count(),
        "pending_fanouts": await redis.scard(keys.FANOUT_PENDING),
        "queued_shard_jobs": pool.queue.qsize() if pool else None,
        "totals": await totals(redis),
        "providers": await Circuits(redis).snapshot(),
        "security": await replays.counters(redis),
        "alerts": [{**r.summary(), "stats": await alert_stats(redis, r.id)} for r in recent],
        "time": time.time(),
    })


async def dashboard(request: web.Request) -> web.FileResponse:
    """The page is static; it asks for an operator key and reads /api/v1/stats with it."""
    return web.FileResponse(STATIC / "ops.html", headers={"Cache-Control": "no-cache"})


class _Collector:
    def __init__(self, data: dict, subscribers: int, pending: int, providers: dict):
        self.data, self.subscribers, self.pending, self.providers = data, subscribers, pending, providers

    def collect(self):
        c = CounterMetricFamily("warncast_transitions", "Delivery state transitions", labels=["channel", "state"])
        for ch, states in sorted(self.data.items()):
            for state, n in sorted(states.items()):
                c.add_metric([ch, state], n)
        yield c
        yield GaugeMetricFamily("warncast_subscribers", "Subscribers stored", value=self.subscribers)
        yield GaugeMetricFamily("warncast_pending_fanouts", "Alerts whose fan-out has not finished", value=self.pending)
        g = GaugeMetricFamily("warncast_circuit_open", "1 while a provider's circuit is open or half-open",
                              labels=["provider"])
        o = CounterMetricFamily("warncast_circuit_opened", "Times a provider's circuit opened", labels=["provider"])
        for name, snap in sorted(self.providers.items()):
            g.add_metric([name], 0 if snap["state"] == "closed" else 1)
            o.add_metric([name], snap.get("opened", 0))
        yield g
        yield o


async def metrics(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("operator", "admin")
    engine, redis = request.app[ctx.ENGINE], request.app[ctx.REDIS]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(await totals(redis), await engine.subscribers.count(),
                                 await redis.scard(keys.FANOUT_PENDING), await Circuits(redis).snapshot()))
    return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def healthz(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[ctx.REDIS].ping()
    except Exception:
        return json_response({"ok": False, "redis": "unreachable"}, status=503)
    return json_response({"ok": True, "redis": "ok"})


ATOM = "http://www.w3.org/2005/Atom"


async def feed(request: web.Request) -> web.Response:
    """Active public alerts as a CAP Atom feed (each entry links to the alert's CAP XML)."""
    engine, redis = request.app[ctx.ENGINE], request.app[ctx.REDIS]
    now = time.time()
    ids = [int(i) for i in await redis.zrangebyscore(keys.ACTIVE_ALERTS, now, "+inf")]
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    base = f"{request.scheme}://{request.host}"
    ET.SubElement(root, f"{{{ATOM}}}id").text = f"{base}/cap/feed.atom"
    ET.SubElement(root, f"{{{ATOM}}}title").text = "warncast: active public alerts"
    ET.SubElement(root, f"{{{ATOM}}}updated").text = datetime.now(timezone.utc).isoformat()
    ET.SubElement(root, f"{{{ATOM}}}link", href=f"{base}/cap/feed.atom", rel="self")
    for alert_id in sorted(ids, reverse=True):
        rec = await engine.alerts.get(alert_id)
        if rec.lifecycle in (Lifecycle.HELD, Lifecycle.CANCELLED, Lifecycle.SUPERSEDED):
            continue
        info = rec.alert.infos[0] if rec.alert.infos else None
        e = ET.SubElement(root, f"{{{ATOM}}}entry")
        ET.SubElement(e, f"{{{ATOM}}}id").text = f"urn:cap:{rec.alert.sender}:{rec.alert.identifier}"
        ET.SubElement(e, f"{{{ATOM}}}title").text = (info.headline or info.event) if info else rec.alert.identifier
        ET.SubElement(e, f"{{{ATOM}}}updated").text = rec.alert.sent.isoformat()
        ET.SubElement(e, f"{{{ATOM}}}summary").text = f"{rec.alert.severity()} {rec.alert.msg_type}"
        ET.SubElement(e, f"{{{ATOM}}}link", href=f"{base}/cap/alerts/{rec.id}.xml", type="application/cap+xml")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


async def public_cap(request: web.Request) -> web.Response:
    """The CAP XML of an active public alert (what the feed links to)."""
    alert_id = int(request.match_info["id"])
    redis = request.app[ctx.REDIS]
    score = await redis.zscore(keys.ACTIVE_ALERTS, alert_id)
    if score is None:
        return json_response({"error": "no such active public alert", "errors": []}, status=404)
    rec = await request.app[ctx.ENGINE].alerts.get(alert_id)
    return web.Response(body=rec.xml, content_type="application/cap+xml", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    return json_response(OPENAPI)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/stats", stats)
    r.add_get("/ops", dashboard)
    r.add_get("/metrics", metrics)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/cap/feed.atom", feed)
    r.add_get(r"/cap/alerts/{id:\d+}.xml", public_cap)
    r.add_get("/api/v1/openapi.json", openapi)

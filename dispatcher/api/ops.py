"""Operator endpoints: stats, dashboard, Prometheus metrics, health; OpenAPI."""
from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .. import cost, keys, metrics, replays
from ..circuit import Circuits
from ..stats import alert_stats, latency_totals, totals
from . import context as ctx
from .common import caller, int_param, json_response
from .openapi import OPENAPI

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


class _Collector:
    def __init__(self, data: dict, hist: dict, subscribers: int, pending: int, providers: dict, pool):
        self.data, self.hist, self.subscribers, self.pending = data, hist, subscribers, pending
        self.providers, self.pool = providers, pool

    def collect(self):
        yield from metrics.transition_families(self.data)
        yield from metrics.latency_families(self.hist)
        yield from metrics.pool_families(self.pool)
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


async def metrics_endpoint(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("operator", "admin")
    engine, redis = request.app[ctx.ENGINE], request.app[ctx.REDIS]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(await totals(redis), await latency_totals(redis), await engine.subscribers.count(),
                                 await redis.scard(keys.FANOUT_PENDING), await Circuits(redis).snapshot(),
                                 request.app[ctx.POOL]))
    settings = request.app[ctx.SETTINGS]
    cost_lines = cost.metric_lines(settings, await cost.totals(redis, settings), engine.channels)
    body = generate_latest(registry) + generate_latest(metrics.REGISTRY) + ("\n".join(cost_lines) + "\n").encode()
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def healthz(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[ctx.REDIS].ping()
    except Exception:
        return json_response({"ok": False, "redis": "unreachable"}, status=503)
    return json_response({"ok": True, "redis": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return json_response(OPENAPI)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/stats", stats)
    r.add_get("/metrics", metrics_endpoint)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/api/v1/openapi.json", openapi)

"""Prometheus metrics of this process, and the ones read from Redis at scrape time.

Two sources feed ``GET /metrics``:

* Redis (every process adds to it): transitions per channel and state, and the send / delivery
  latency histograms per channel (fine log-linear buckets, see latency.py, summed into
  Prometheus ``le`` buckets when scraped).
* This process: provider request latency per channel and answer (``ok`` / ``retry`` /
  ``permanent`` / ``gone``: the first outcome of the batch), HTTP request latency per route,
  method and status, and, when shard jobs run in this process, the queue depth per lane and
  the jobs in flight. A ``warncast worker`` process keeps its own, unscraped.
"""
from __future__ import annotations

import time
from typing import Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from . import latency
from .alerts import LANES

#: Metrics kept in this process (not the global default registry: tests build many apps).
REGISTRY = CollectorRegistry(auto_describe=False)

PROVIDER_SECONDS = Histogram(
    "warncast_provider_request_seconds", "Time a provider took to answer one send call (a batch)",
    ["channel", "answer"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
HTTP_SECONDS = Histogram(
    "warncast_http_request_seconds", "HTTP requests served, by route, method and status",
    ["route", "method", "status"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


async def timed_send(channel, notice, subscriber_ids: Sequence[int], endpoints: Sequence[str]):
    """``channel.send_columns`` with its latency observed (adapters never raise for an answer)."""
    start = time.perf_counter()
    answers = await channel.send_columns(notice, subscriber_ids, endpoints)
    answer = answers[0].outcome.value if answers else "none"
    PROVIDER_SECONDS.labels(channel.name, answer).observe(time.perf_counter() - start)
    return answers


def route_of(request: web.Request) -> str:
    """The route's template ("/api/v1/alerts/{id}"), never the raw path (ids would explode the labels)."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def http_metrics_middleware(request: web.Request, handler):
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        HTTP_SECONDS.labels(route_of(request), request.method, str(status)).observe(time.perf_counter() - start)


def latency_families(hist: dict[str, int]):
    """Send and delivery latency per channel as Prometheus histograms (seconds from acceptance)."""
    for state, name, doc in (("sent", "warncast_send_latency_seconds", "Time from an alert's acceptance to a "
                              "provider accepting a message"),
                             ("delivered", "warncast_delivery_latency_seconds", "Time from an alert's "
                              "acceptance to a provider or device confirming delivery")):
        fam = HistogramMetricFamily(name, doc, labels=["channel"])
        channels = sorted({k.rsplit(":", 2)[0] for k in hist if k.rsplit(":", 2)[1:2] == [state]})
        for ch in channels:
            buckets, total_s = latency.cumulative_s(latency.buckets(hist, ch, state))
            fam.add_metric([ch], buckets, total_s)
        yield fam


def pool_families(pool):
    """Queue depth per lane and shard jobs in flight, when this process runs shard jobs."""
    if pool is None:
        return
    depth = GaugeMetricFamily("warncast_queue_depth", "Shard jobs waiting in this process, per lane",
                              labels=["lane"])
    for lane, n in zip(LANES, pool.depth_by_lane()):
        depth.add_metric([lane], n)
    yield depth
    yield GaugeMetricFamily("warncast_shard_jobs_in_flight", "Shard jobs running in this process",
                            value=pool.in_flight)


def transition_families(data: dict[str, dict[str, int]]):
    c = CounterMetricFamily("warncast_transitions", "Delivery state transitions", labels=["channel", "state"])
    for ch, states in sorted(data.items()):
        for state, n in sorted(states.items()):
            c.add_metric([ch, state], n)
    yield c

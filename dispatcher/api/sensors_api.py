"""Sensor events from IoT platforms (signed batches) and the device registry (operators).

``POST /api/v1/sensors/events`` takes ``{"batch_id": "…", "events": [{"device_id", "value", "at"}]}``
signed as dispatcher.sensor_auth describes; good events are taken, bad ones reported by index.
Threshold crossings become CAP Private alerts published through the same intake as
``POST /api/v1/alerts`` (dispatcher.api.issuer.admit), issued as the sensor organisation.
"""
from __future__ import annotations

import asyncio
import time

from aiohttp import web

from .. import device_import, escalation, sensor_auth
from ..auth import Caller
from ..devices import DeviceStore, validate
from ..errors import BadRequest, TooLarge
from ..sensor_intake import Incidents, check_events
from . import context as ctx
from .common import caller, json_response, read_json, read_limited, remote
from .households_api import HOUSEHOLDS
from .sensor_publish import publish_decisions

DEVICES: web.AppKey[DeviceStore] = web.AppKey("devices", DeviceStore)
INCIDENTS: web.AppKey[Incidents] = web.AppKey("incidents", Incidents)
#: Bytes one event may take on average in a batch body.
EVENT_BYTES = 512


async def events(request: web.Request) -> web.Response:
    settings = request.app[ctx.SETTINGS]
    limit = settings.sensor_batch_max * EVENT_BYTES + 4096
    body = await read_limited(request, limit, path="body")
    now = time.time()
    platform = sensor_auth.verify(dict(settings.sensor_keys), request.headers, body, now, settings.sensor_window_s)
    data = await read_json_bytes(body)
    if not isinstance(data, dict):
        raise BadRequest('send {"batch_id": "…", "events": [...]}', [{"field": "body", "message": "must be an object"}])
    batch_id, evs = data.get("batch_id"), data.get("events")
    if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= 128:
        raise BadRequest("batch_id is required", [{"field": "batch_id", "message": "1-128 characters, unique per batch"}])
    if not isinstance(evs, list) or not evs:
        raise BadRequest("events must be a non-empty list", [{"field": "events", "message": "a list of events"}])
    if len(evs) > settings.sensor_batch_max:
        raise TooLarge(f"at most {settings.sensor_batch_max} events per batch",
                       [{"field": "events", "message": f"{len(evs)} events; split the batch"}])
    await sensor_auth.take_batch(request.app[ctx.REDIS], platform, batch_id, settings.sensor_window_s)
    ids = sorted({e["device_id"] for e in evs if isinstance(e, dict) and isinstance(e.get("device_id"), str)})
    devices = await request.app[DEVICES].get_many(ids)
    readings, rejected = check_events(evs, devices, now, settings.sensor_window_s)
    decisions = await request.app[INCIDENTS].decide(readings, lambda r: f"hh{r.device.household}-{r.device.id}-{int(r.at * 1000)}")
    alerts = await publish_decisions(request.app, decisions, remote(request))
    return json_response({"batch_id": batch_id, "accepted": len(readings), "rejected": rejected, "alerts": alerts})


async def read_json_bytes(body: bytes):
    import orjson
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON ({exc})", [{"field": "body", "message": str(exc)}]) from None


async def _operator(request: web.Request) -> Caller:
    who = await caller(request)
    who.require("operator", "admin")
    return who


async def list_devices(request: web.Request) -> web.Response:
    await _operator(request)
    raw = request.query.get("household")
    if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) < 13):
        raise BadRequest("household must be a household id", [{"field": "household", "message": "a whole number"}])
    found = await request.app[DEVICES].list(int(raw) if raw is not None else None)
    return json_response({"devices": [d.public() for d in found], "count": len(found)})


async def create_device(request: web.Request) -> web.Response:
    await _operator(request)
    d = validate(await read_json(request, 64 * 1024))
    await request.app[DEVICES].save_many([d])
    return json_response(d.public(), status=201, headers={"Location": f"/api/v1/devices/{d.id}"})


async def get_device(request: web.Request) -> web.Response:
    await _operator(request)
    return json_response((await request.app[DEVICES].get(request.match_info["device_id"])).public())


async def patch_device(request: web.Request) -> web.Response:
    await _operator(request)
    changes = await read_json(request, 64 * 1024)
    return json_response((await request.app[DEVICES].update(request.match_info["device_id"], changes)).public())


async def delete_device(request: web.Request) -> web.Response:
    await _operator(request)
    await request.app[DEVICES].delete(request.match_info["device_id"])
    return web.Response(status=204)


async def import_devices(request: web.Request) -> web.Response:
    await _operator(request)
    fmt = {"text/csv": "csv", "application/x-ndjson": "ndjson", "application/json": "ndjson"}.get(request.content_type)
    if fmt is None:
        raise BadRequest("send JSON lines (application/x-ndjson) or CSV (text/csv)",
                         [{"field": "Content-Type", "message": f"unsupported {request.content_type}"}])
    body = await read_limited(request, request.app[ctx.SETTINGS].max_import_bytes)
    return json_response(await device_import.import_devices(request.app[DEVICES], body, fmt))


async def escalation_loop(app: web.Application):
    """cleanup_ctx: take due escalation steps and redeliver Private alerts a restart interrupted."""
    from .sensor_publish import publish_escalation, redeliver_pending

    async def tick() -> None:
        await escalation.run_due(app[ctx.REDIS], app[HOUSEHOLDS],
                                 lambda *a: publish_escalation(app, *a), time.time())
        await redeliver_pending(app, time.time())

    async def forever() -> None:
        while True:
            await asyncio.sleep(app[ctx.SETTINGS].escalation_poll_s)
            try:
                await tick()
            except Exception:
                import logging
                logging.getLogger(__name__).exception("escalation pass failed; trying again")

    app[DEVICES] = DeviceStore(app[ctx.REDIS])
    app[INCIDENTS] = Incidents(app[ctx.REDIS])
    task = asyncio.ensure_future(forever())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(escalation_loop)
    r = app.router
    r.add_post("/api/v1/sensors/events", events)
    r.add_get("/api/v1/devices", list_devices)
    r.add_post("/api/v1/devices", create_device)
    r.add_post("/api/v1/devices:import", import_devices)
    r.add_get("/api/v1/devices/{device_id}", get_device)
    r.add_patch("/api/v1/devices/{device_id}", patch_device)
    r.add_delete("/api/v1/devices/{device_id}", delete_device)

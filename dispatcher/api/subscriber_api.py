"""Subscriber endpoints: register, read, change, delete, move; bulk import for operators.

Registration is open (it is how an app signs a device up) and returns the
subscriber's token once; every other call needs that token (own record only)
or an operator key.
"""
from __future__ import annotations

from aiohttp import web

from subscribers.errors import NotFound as SubscriberNotFound
from subscribers.errors import ValidationError
from subscribers.importer import detect_format, import_bytes

from .. import audit, registration_limit, sms_verification
from ..audit import Action
from ..errors import BadRequest, NotFound
from . import context as ctx
from . import sms_verify
from .common import caller, json_response, path_id, read_json, remote


def _store(request):
    return request.app[ctx.ENGINE].subscribers


def _invalid(exc: ValidationError) -> web.Response:
    return json_response({"error": "invalid subscriber", "errors": exc.as_list()}, status=422)


async def register(request: web.Request) -> web.Response:
    """Open, so limited per client address; an SMS number waits for its one-time code."""
    settings = request.app[ctx.SETTINGS]
    await registration_limit.admit(request.app[ctx.REDIS], remote(request), settings.registration_limit,
                                   settings.registration_window_s)
    data = await read_json(request, 64 * 1024)
    try:
        data, pending = sms_verify.hold_back(data)
        sub, token = await _store(request).create(data)
    except ValidationError as exc:
        return _invalid(exc)
    body = {**sub.public(), "token": token}
    if pending:
        await sms_verification.hold(request.app[ctx.REDIS], sub.id, pending)
        body["sms"] = sms_verify.pending_view(sub.id, pending.number)
    return json_response(body, status=201, headers={"Location": f"/api/v1/subscribers/{sub.id}"})


async def _own(request: web.Request) -> int:
    who = await caller(request, subscriber_ok=True)
    sid = path_id(request)
    who.may_touch_subscriber(sid)
    return sid


async def get_subscriber(request: web.Request) -> web.Response:
    sid = await _own(request)
    try:
        return json_response((await _store(request).get(sid)).public())
    except SubscriberNotFound:
        raise NotFound(f"no subscriber {sid}") from None


async def patch_subscriber(request: web.Request) -> web.Response:
    """A new SMS number from the subscriber waits for its code; an operator's is taken as given."""
    who = await caller(request, subscriber_ok=True)
    sid = path_id(request)
    who.may_touch_subscriber(sid)
    data = await read_json(request, 64 * 1024)
    try:
        pending = None
        if who.role == "subscriber":
            data, pending = sms_verify.hold_back(data, await _store(request).get(sid))
        sub = await _store(request).update(sid, data)
        if pending:
            await sms_verification.hold(request.app[ctx.REDIS], sid, pending)
            return json_response({**sub.public(), "sms": sms_verify.pending_view(sid, pending.number)})
        return json_response(sub.public())
    except ValidationError as exc:
        return _invalid(exc)
    except SubscriberNotFound:
        raise NotFound(f"no subscriber {sid}") from None


async def put_location(request: web.Request) -> web.Response:
    """Lightweight location update for apps: {"lat": …, "lon": …}; moves the subscriber in the geo index."""
    sid = await _own(request)
    data = await read_json(request, 4096)
    try:
        sub = await _store(request).update(sid, {"location": data})
    except ValidationError as exc:
        return _invalid(exc)
    except SubscriberNotFound:
        raise NotFound(f"no subscriber {sid}") from None
    return json_response({"id": sid, "location": sub.public()["location"]})


async def delete_subscriber(request: web.Request) -> web.Response:
    sid = await _own(request)
    try:
        await _store(request).delete(sid)
    except SubscriberNotFound:
        raise NotFound(f"no subscriber {sid}") from None
    return web.Response(status=204)


async def import_subscribers(request: web.Request) -> web.Response:
    """NDJSON (application/x-ndjson) or CSV (text/csv); all lines valid or nothing imported."""
    who = await caller(request)
    who.require("operator", "admin")
    ctype = request.content_type
    if ctype not in ("application/x-ndjson", "application/ndjson", "text/csv", "application/jsonl"):
        raise BadRequest("send NDJSON (application/x-ndjson) or CSV (text/csv)",
                         [{"field": "Content-Type", "message": f"unsupported {ctype}"}])
    body = await request.read()
    report = await import_bytes(_store(request), body, detect_format("", ctype))
    if not report.errors:
        await audit.record(request.app[ctx.REDIS], Action.SUBSCRIBERS_IMPORTED, who, remote(request),
                           imported=report.imported, lines=report.lines, format=detect_format("", ctype))
    return json_response(report.as_dict(), status=422 if report.errors else 200)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/subscribers", register)
    r.add_post("/api/v1/subscribers:import", import_subscribers)
    r.add_get(r"/api/v1/subscribers/{id:\d+}", get_subscriber)
    r.add_patch(r"/api/v1/subscribers/{id:\d+}", patch_subscriber)
    r.add_delete(r"/api/v1/subscribers/{id:\d+}", delete_subscriber)
    r.add_put(r"/api/v1/subscribers/{id:\d+}/location", put_location)
    sms_verify.setup(app)

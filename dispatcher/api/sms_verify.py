"""Open registration holds an SMS number back until its owner proves it (see
dispatcher.sms_verification): ``POST /api/v1/subscribers/{id}/sms:verify`` with ``{}`` sends a
one-time code to it through the SMS channel, and with ``{"code": "123456"}`` confirms it, which puts
the number (and SMS in the channel chain) into the subscriber's record."""
from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from subscribers.errors import NotFound as SubscriberNotFound
from subscribers.errors import ValidationError
from subscribers.model import Subscriber, validate

from .. import sms_verification as verification
from ..errors import BadRequest, Conflict, NotFound
from ..sms_verification import Pending
from . import context as ctx
from .common import caller, json_response, path_id, read_json

_CODE = re.compile(r"^[0-9]{6}\Z")


def hold_back(data: Any, base: Subscriber | None = None) -> tuple[Any, Pending | None]:
    """(what to store now, the SMS number to verify first): a new number given by a subscriber is
    taken out of ``data`` (and SMS out of its chain) until verified. Raises ValidationError as the
    store would, so a bad number is still a 422 naming it."""
    if not isinstance(data, dict) or not isinstance(data.get("endpoints"), dict) or \
            data["endpoints"].get("sms") is None:
        return data, None
    full = validate(data, base)
    number = full.endpoints["sms"]
    verified = base.endpoints.get("sms") if base else None
    if number == verified:
        return data, None
    held = dict(data)
    held["endpoints"] = {k: v for k, v in data["endpoints"].items() if k != "sms"}
    if verified is None and "sms" in full.channels:
        held["channels"] = [c for c in full.channels if c != "sms"]
    return held, Pending(number, full.channels)


def pending_view(sid: int, number: str) -> dict:
    return {"number": number[:4] + "****" + number[-2:], "verified": False,
            "verify": f"/api/v1/subscribers/{sid}/sms:verify"}


def _with_sms(current: list[str], wanted: list[str]) -> list[str]:
    if "sms" not in wanted or "sms" in current:
        return current
    at = min(wanted.index("sms"), len(current))
    return current[:at] + ["sms"] + current[at:]


async def sms_verify(request: web.Request) -> web.Response:
    who = await caller(request, subscriber_ok=True)
    sid = path_id(request)
    who.may_touch_subscriber(sid)
    data = await read_json(request, 4096) if request.can_read_body else {}
    if not isinstance(data, dict) or set(data) - {"code"}:
        raise BadRequest("send {} for a code, or {\"code\": \"123456\"}", [{"field": "body", "message": "unexpected"}])
    app, redis = request.app, request.app[ctx.REDIS]
    if "code" not in data:
        channel = app[ctx.ENGINE].channels.get("sms")
        if channel is None:
            raise Conflict("the SMS channel is not enabled on this server",
                           [{"field": "endpoints.sms", "message": "SMS is off"}])
        sent = await verification.send_code(redis, sid, channel, app[ctx.SETTINGS].sms_signature)
        return json_response({"sent": True, **sent}, status=202)
    code = data["code"]
    if not isinstance(code, str) or not _CODE.match(code):
        raise BadRequest("code must be the 6 digits sent by SMS", [{"field": "code", "message": "6 digits"}])
    pending = await verification.confirm(redis, sid, code)
    store = app[ctx.ENGINE].subscribers
    try:
        current = await store.get(sid)
        sub = await store.update(sid, {"endpoints": {"sms": pending.number},
                                       "channels": _with_sms(current.channels, pending.channels)})
    except SubscriberNotFound:
        raise NotFound(f"no subscriber {sid}") from None
    except ValidationError as exc:
        return json_response({"error": "invalid subscriber", "errors": exc.as_list()}, status=422)
    return json_response({**sub.public(), "sms": {"verified": True}})


def setup(app: web.Application) -> None:
    app.router.add_post(r"/api/v1/subscribers/{id:\d+}/sms:verify", sms_verify)

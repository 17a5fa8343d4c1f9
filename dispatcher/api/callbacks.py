"""Provider callbacks: signed SMS delivery reports (POST /callbacks/sms), mounted only when the SMS
channel takes reports over HTTP. Each report is signed with the installation's callback secret,
carries a finite timestamp inside the window, and is taken once: a replay changes nothing."""
from __future__ import annotations

import re
import time

from aiohttp import web

from channels.sms import SignatureError, verify_and_parse_reports

from .. import replays
from ..errors import BadRequest, Unauthorized
from ..installation import sms_callback_secret, sms_callbacks_on
from . import context as ctx
from .common import json_response, read_limited

#: Unix seconds, optionally with a fraction: no sign, exponent, nan or inf.
_UNIX_TIME = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,9})?\Z")


def _check_timestamp(request: web.Request) -> None:
    stamp = request.headers.get("X-Timestamp")
    if stamp is not None and not _UNIX_TIME.match(stamp.strip()):
        raise BadRequest("X-Timestamp must be a unix time in seconds",
                         [{"field": "X-Timestamp", "message": "not a finite unix time"}])


async def sms_reports(request: web.Request) -> web.Response:
    body = await read_limited(request, 8 << 20)
    _check_timestamp(request)
    try:
        receipts = verify_and_parse_reports(body, request.headers, request.app[ctx.SMS_SECRET], time.time())
    except SignatureError as exc:
        raise Unauthorized(f"delivery report refused: {exc}") from None
    fresh, replayed = await replays.first_seen(request.app[ctx.REDIS], receipts)
    moved = await request.app[ctx.RECEIPTS].ingest(fresh)
    return json_response({"received": len(receipts), "recorded": moved, "replays": replayed})


def setup(app: web.Application) -> None:
    settings = app[ctx.SETTINGS]
    if sms_callbacks_on(settings):
        app[ctx.SMS_SECRET] = sms_callback_secret(settings)
        app.router.add_post("/callbacks/sms", sms_reports)

"""Provider callbacks: signed delivery reports (POST /callbacks/{channel})."""
from __future__ import annotations

import time

from aiohttp import web

from channels.sms import SignatureError, SmsSettings, verify_and_parse_reports

from ..errors import NotFound, Unauthorized
from . import context as ctx
from .common import json_response, read_limited


async def callback(request: web.Request) -> web.Response:
    channel = request.match_info["channel"]
    if channel != "sms":
        raise NotFound(f"no callback for channel {channel!r}")
    body = await read_limited(request, 8 << 20)
    try:
        receipts = verify_and_parse_reports(body, request.headers, SmsSettings.from_env().callback_secret, time.time())
    except SignatureError as exc:
        raise Unauthorized(f"delivery report refused: {exc}") from None
    moved = await request.app[ctx.RECEIPTS].ingest(receipts)
    return json_response({"received": len(receipts), "recorded": moved})


def setup(app: web.Application) -> None:
    app.router.add_post("/callbacks/{channel}", callback)

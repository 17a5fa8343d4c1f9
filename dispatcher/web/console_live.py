"""The operator's live dashboard stream (``GET /console/api/live``) and who may open it.

Every route needs an operator (or admin): a console session (state changes also carry its CSRF
token), or an operator API key in the Authorization header, for scripts and the benchmark.
"""
from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ..auth import Caller
from ..live_hub import LiveHub
from ..live_read import LiveReader
from ..stream_slots import StreamSlot
from ..stream_slots import identity as stream_identity
from ..api import context as ctx
from ..api.common import caller
from . import session

LIVE_HUB: web.AppKey[LiveHub] = web.AppKey("live_hub")
ROLES = {"operator", "admin"}
#: How often an idle stream says it is alive (s).
HEARTBEAT_S = 15.0


async def operator(request: web.Request, *, change: bool = False) -> Caller:
    """The operator calling: an API key in the header, else the console session (with its CSRF
    token for a state change)."""
    if request.headers.get("Authorization") or request.headers.get("X-API-Key"):
        who = await caller(request)
        who.require(*sorted(ROLES))
        return who
    who = await session.console_caller(request, roles=ROLES)
    if change:
        session.check_csrf(request)
    return who


async def live(request: web.Request) -> web.StreamResponse:
    """SSE: a ``snapshot`` event, then a ``tick`` with what changed every tick (see ``live_hub``)."""
    who = await operator(request)
    settings, hub = request.app[ctx.SETTINGS], request.app[LIVE_HUB]
    slot = StreamSlot(request.app[ctx.REDIS], stream_identity(who), settings.stream_limit)
    await slot.take()
    try:
        listener = hub.connect()
    except Exception:
        await slot.release()
        raise
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 3000\n\n")
        await _pump(resp, listener, slot, time.monotonic() + settings.stream_max_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.disconnect(listener)
        await slot.release()
    return resp


async def _pump(resp: web.StreamResponse, listener, slot: StreamSlot, deadline: float) -> None:
    beat = time.monotonic() + HEARTBEAT_S
    while time.monotonic() < deadline:
        try:
            event = await asyncio.wait_for(listener.queue.get(), HEARTBEAT_S)
        except asyncio.TimeoutError:
            event = b": ping\n\n"
        if event is None:          # fell behind: the browser reconnects and gets a snapshot
            return
        await resp.write(event)
        if time.monotonic() >= beat:
            await slot.refresh()
            beat = time.monotonic() + HEARTBEAT_S
    await resp.write(b"event: closed\ndata: {\"message\": \"stream time limit reached; reconnect\"}\n\n")




async def hub_ctx(app: web.Application):
    """The hub starts with the app (after the engine: cleanup contexts run in order) and stops with it."""
    settings, engine = app[ctx.SETTINGS], app[ctx.ENGINE]
    hub = LiveHub(LiveReader(app[ctx.REDIS], engine.size, recent=settings.live_recent_alerts),
                  tick_s=settings.live_tick_s, history_s=settings.live_history_s,
                  max_listeners=settings.live_streams)
    app[LIVE_HUB] = hub
    await hub.start()
    yield
    await hub.stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(hub_ctx)
    app.router.add_get("/console/api/live", live)

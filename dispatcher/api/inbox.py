"""In-app delivery to subscribers: the inbox, its live SSE stream, and device acknowledgements."""
from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import orjson
from aiohttp import web

from channels.inapp import unpack
from subscribers import columns as C
from subscribers.errors import NotFound as SubscriberNotFound

from .. import keys
from ..alerts import AlertRecord
from ..delivery import REACHED, State, count
from ..errors import BadRequest, NotFound
from ..stream_slots import StreamSlot
from . import context as ctx
from . import inbox_items
from .shelters_api import SHELTERS
from .common import caller, json_response, read_json

log = logging.getLogger(__name__)
ACKS = {"delivered": State.DELIVERED, "read": State.READ, "confirmed": State.CONFIRMED}
HEARTBEAT_S = 15.0


class StreamHub:
    """Routes in-app sends (one Redis message per batch) to the streams connected to this process."""

    def __init__(self, redis):
        self.redis = redis
        self.queues: dict[int, set[asyncio.Queue]] = {}
        self._task: asyncio.Task | None = None
        self._pubsub = None

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(keys.INAPP_CHANNEL)
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pubsub:
            await self._pubsub.aclose()

    async def _run(self) -> None:
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("in-app stream subscription failed; reconnecting")
                await asyncio.sleep(1.0)
                continue
            if not msg or not self.queues:
                continue
            alert_id, ids = unpack(msg["data"])
            connected = np.fromiter(self.queues.keys(), dtype=np.uint32, count=len(self.queues))
            for sid in np.intersect1d(ids, connected).tolist():
                for q in self.queues.get(sid, ()):
                    q.put_nowait(alert_id)

    def connect(self, sid: int) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue()
        self.queues.setdefault(sid, set()).add(q)
        return q

    def disconnect(self, sid: int, q: asyncio.Queue) -> None:
        qs = self.queues.get(sid)
        if qs:
            qs.discard(q)
            if not qs:
                del self.queues[sid]


async def _subscriber(request: web.Request) -> int:
    who = await caller(request, subscriber_ok=True)
    if who.subscriber_id is None:
        raise BadRequest("the inbox belongs to a subscriber: use the subscriber's token")
    return who.subscriber_id


async def _subscriber_record(engine, sid: int):
    try:
        return await engine.subscribers.get(sid)
    except SubscriberNotFound:
        raise NotFound(f"no subscriber {sid}") from None


def _language(sub) -> str:
    return C.LANGUAGES[C.language_index(sub.language)]


async def _reached(request: web.Request, sid: int, sub, after_id: int = 0) -> list[dict]:
    """Inbox entries of the alerts that reached the subscriber in the window, oldest first."""
    engine = request.app[ctx.ENGINE]
    since = time.time() - request.app[ctx.SETTINGS].inbox_window_s
    ids = await engine.alerts.recent_ids(since)
    shard, off = engine.subscribers.locate(sid)
    pipe = engine.redis.pipeline(transaction=False)
    records = [await engine.alerts.get(a) for a in ids]
    for rec in records:
        if rec.alert.scope == "Private":      # state of its addressees (dispatcher.private_delivery)
            pipe.hget(keys.addressed(rec.id), sid)
        else:
            pipe.getrange(keys.delivery_state(shard, rec.id), off, off)
    after = inbox_items.successors(records)
    items = []
    for rec, raw in zip(records, await pipe.execute()):
        if rec.alert.scope == "Private":
            raw = bytes([int(raw)]) if raw else b""
        if raw and raw[0] in REACHED and rec.id > after_id:
            items.append(await inbox_items.item(engine, request.app[SHELTERS], rec, sub, _language(sub), raw[0], after))
    return items


async def inbox(request: web.Request) -> web.Response:
    sid = await _subscriber(request)
    sub = await _subscriber_record(request.app[ctx.ENGINE], sid)
    items = await _reached(request, sid, sub)
    items.reverse()
    return json_response({"subscriber_id": sid, "alerts": items})


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID", request.query.get("last_event_id", ""))
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0


async def stream(request: web.Request) -> web.StreamResponse:
    """SSE: one ``alert`` event per alert delivered in-app while connected (id = alert id)."""
    sid = await _subscriber(request)
    engine = request.app[ctx.ENGINE]
    sub = await _subscriber_record(engine, sid)
    last = _last_event_id(request)
    slot = StreamSlot(request.app[ctx.REDIS], f"sub:{sid}", request.app[ctx.SETTINGS].stream_limit)
    await slot.take()
    hub: StreamHub = request.app[ctx.HUB]
    q = hub.connect(sid)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 3000\n: connected\n\n")
        replayed: set[int] = set()
        if last:                      # a reconnect: what reached the subscriber since the last event it saw
            for item in await _reached(request, sid, sub, last):
                replayed.add(item["alert_id"])
                await resp.write(b"id: %d\nevent: alert\ndata: %s\n\n" % (item["alert_id"], orjson.dumps(item)))
        while True:
            try:
                alert_id = await asyncio.wait_for(q.get(), HEARTBEAT_S)
            except asyncio.TimeoutError:
                await resp.write(b": ping\n\n")
                await slot.refresh()
                continue
            if alert_id in replayed:
                continue
            rec = await engine.alerts.get(alert_id)
            item = await inbox_items.item(engine, request.app[SHELTERS], rec, sub, _language(sub), State.SENT, {})
            await resp.write(b"id: %d\nevent: alert\ndata: %s\n\n" % (alert_id, orjson.dumps(item)))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.disconnect(sid, q)
        await slot.release()
    return resp


async def receipts(request: web.Request) -> web.Response:
    """Device acknowledgements: {"alert_id": N, "status": "delivered"|"read"|"confirmed"} or a list
    under "receipts". Each moves the subscriber's state forward (never back)."""
    sid = await _subscriber(request)
    data = await read_json(request, 256 * 1024)
    items = data.get("receipts") if isinstance(data, dict) and "receipts" in data else [data]
    if not isinstance(items, list) or not items or len(items) > 1000:
        raise BadRequest("send one receipt object or {\"receipts\": [...]} with 1–1000 items")
    errors = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("alert_id"), int) or it.get("status") not in ACKS:
            errors.append({"field": f"receipts[{i}]",
                           "message": "needs alert_id (integer) and status: delivered, read or confirmed"})
    if errors:
        raise BadRequest("invalid receipts", errors)
    engine = request.app[ctx.ENGINE]
    shard, off = engine.subscribers.locate(sid)
    out = []
    for it in items:
        try:
            rec = await engine.alerts.get(it["alert_id"])
        except NotFound:
            out.append({"alert_id": it["alert_id"], "error": "unknown alert"})
            continue
        new = ACKS[it["status"]]
        if rec.alert.scope == "Private":
            state, changed = await request.app[ctx.PRIVATE].acknowledge(rec, sid, new)
            out.append({"alert_id": rec.id, "state": State(state).label, "changed": changed})
            continue
        moved = await engine.transitions.apply(engine.redis, shard, rec.id, new, np.array([off]))
        pipe = engine.redis.pipeline(transaction=False)
        pipe.getrange(keys.delivery_state(shard, rec.id), off, off)
        pipe.getrange(keys.delivery_channel(shard, rec.id), off, off)
        st, ch = await pipe.execute()
        if len(moved):
            pipe = engine.redis.pipeline(transaction=False)
            channel = C.CHANNEL_NAMES.get(ch[0] if ch else 0, "inapp")
            count(pipe, rec.id, channel, new, 1, (time.time() - rec.accepted_at) * 1000)
            await pipe.execute()
        out.append({"alert_id": rec.id, "state": State(st[0] if st else 0).label, "changed": bool(len(moved))})
    return json_response({"receipts": out})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/inbox", inbox)
    app.router.add_get("/api/v1/inbox/stream", stream)
    app.router.add_post("/api/v1/receipts", receipts)

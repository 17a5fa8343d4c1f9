"""Issuer endpoints: publish, list, read, follow, approve and cancel alerts."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
from aiohttp import web

from subscribers.columns import CHANNEL_NAMES

from .. import approval_rules, audit, cap, escalation, intake, keys, signatures
from ..alerts import STOPPED, AlertRecord, Lifecycle
from ..apikeys import KeyFieldError, check_fields
from ..audit import Action
from ..cost_report import alert_cost, budget_warnings
from ..auth import Caller, authorize_alert, authorize_sender, may_amend, require_amend, same_issuer
from ..delivery import State, states
from ..errors import BadRequest, Conflict, Forbidden, Rejected
from ..private_delivery import deliveries as private_deliveries
from ..stats import alert_stats
from ..stream_slots import StreamSlot
from ..stream_slots import identity as stream_identity
from . import context as ctx
from .common import caller, error_body, int_param, json_response, path_id, read_json, read_limited, remote

CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml", "application/json")


def _cap_error_status(exc: cap.CapError) -> int:
    if isinstance(exc, cap.UnsupportedMediaType):
        return 415
    if isinstance(exc, cap.CapTooLarge):
        return 413
    return 400 if any(e.path == "alert" for e in exc.errors) else 422


async def _visible(request: web.Request, who: Caller, alert_id: int) -> AlertRecord:
    rec = await request.app[ctx.ENGINE].alerts.get(alert_id)
    require_amend(who, rec)
    return rec


async def publish(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("issuer", "admin")
    settings = request.app[ctx.SETTINGS]
    body = await read_limited(request, settings.max_body_bytes, path="alert")
    try:
        alert = cap.parse(body, request.headers.get("Content-Type", ""), settings.max_body_bytes)
    except cap.CapError as exc:
        return json_response(error_body(str(exc), exc.as_list()), status=_cap_error_status(exc))
    found = intake.review(alert, settings)
    found.warnings += signatures.check(body, cap.is_xml(request.headers.get("Content-Type", "")),
                                       signatures.policy_for(signatures.load_policies(settings.signers_file),
                                                             getattr(who, "key_id", None), who.name))
    if found.errors:
        errors, warnings = found.as_lists()
        return json_response(error_body(f"{len(errors)} error(s); nothing was stored", errors, warnings), status=422)
    return await accept(request, who, alert, found.warnings)


async def accept(request: web.Request, who: Caller, alert: cap.Alert,
                 warnings: list[cap.FieldError] | None = None) -> web.Response:
    """Authorise, store and start fanning out an alert; 202 (or 200 for an identical resubmission)."""
    rec, created, more = await admit(request.app, who, alert, remote(request))
    warnings = list(warnings or []) + more
    if created:
        engine = request.app[ctx.ENGINE]
        warnings += [cap.FieldError("cost", m) for m in await budget_warnings(engine, rec, who, remote(request))]
    body = {**rec.summary(), "created": created, "errors": [],
            "warnings": [{"path": w.path, "message": w.message} for w in warnings]}
    return json_response(body, status=202 if created else 200, headers={"Location": rec.links()["self"]})


async def admit(app: web.Application, who: Caller, alert: cap.Alert, origin: str, *,
                never_hold: bool = False, approved_by: str = "") -> tuple[AlertRecord, bool, list[cap.FieldError]]:
    """Authorise, store and start fanning out an alert (the API, followed feeds, sensor alarms, the
    console): (record, created, warnings about its references). ``never_hold``: a machine alarm to a
    household, which no approver stands between; ``approved_by``: a second person already approved it
    (in the console), so no approval rule holds it."""
    engine = app[ctx.ENGINE]
    if who.role != "operator" or alert.msg_type != "Cancel":      # an operator may only stop warnings
        authorize_alert(who, alert)
        await authorize_sender(who, alert, app[ctx.KEYS])
    warnings = intake.reference_warnings(await engine.alerts.unknown_references(alert))
    amends = await _amendable(engine, who, alert)
    # Stopping a warning is never held for approval; only new or widening messages wait.
    rules = await approval_rules.load(app[ctx.REDIS], app[ctx.SETTINGS].approval_severities)
    hold = (not approved_by and not never_hold
            and rules.needs_approval(alert.severity(), alert.status, who.org, alert.msg_type))
    rec, created = await engine.alerts.accept(alert, who.name, hold=hold, org=who.org, key_id=who.key_id,
                                              amends=amends, scopes=who.scopes, approved_by=approved_by)
    if created:
        action = Action.ALERT_CANCELLED if alert.msg_type == "Cancel" else Action.ALERT_PUBLISHED
        await audit.record(app[ctx.REDIS], action, who, origin, alert=rec.id, identifier=alert.identifier,
                           sender=alert.sender, msgType=alert.msg_type, lifecycle=rec.lifecycle.value,
                           references=rec.references)
    if created and not hold:
        await start_fanout(app, rec, who.name)
    return rec, created, warnings


async def _amendable(engine, who: Caller, alert: cap.Alert) -> list[int]:
    """The referenced alerts an Update or Cancel amends; each must be one the caller may amend.
    An Alert's references are metadata: it amends nothing and reaches its own area only."""
    refs = await engine.alerts.resolve_references(alert, who.org)
    if alert.msg_type not in ("Update", "Cancel"):
        return []
    for ref in refs:
        if not may_amend(who, await engine.alerts.get(ref)):
            raise Forbidden(f"alert {ref} belongs to another organisation; only it, an organisation it "
                            f"was delegated to, or an operator may {alert.msg_type.lower()} it",
                            [{"path": "alert/references", "message": f"alert {ref} is not yours to amend"}])
    return refs


async def start_fanout(app: web.Application, rec: AlertRecord, by: str) -> None:
    """Flip what the alert supersedes or cancels (one step each: their jobs stop at the next batch),
    then plan it in the background; the rest of the stopping happens there, never in the request."""
    engine, pool = app[ctx.ENGINE], app[ctx.POOL]
    if rec.lifecycle is not Lifecycle.SENDING:
        return
    await engine.lifecycle.amend_referenced(rec, by)
    if rec.alert.scope == "Private":            # its addressees only, never an area's audience
        await queue_private(app, rec)
        return
    if pool is not None:
        pool.plan(rec.id, rec.lane)
    else:
        task = asyncio.ensure_future(engine.plan(rec.id))
        _PLANS.add(task)
        task.add_done_callback(_PLANS.discard)


_PLANS: set[asyncio.Task] = set()


async def queue_private(app: web.Application, rec: AlertRecord) -> None:
    """Hand a Private alert to its delivery; it stays pending (and is delivered again after a
    restart) until delivered."""
    pipe = app[ctx.REDIS].pipeline(transaction=False)
    pipe.srem(keys.FANOUT_PENDING, rec.id)
    pipe.zadd(keys.PRIVATE_PENDING, {rec.id: rec.accepted_at}, nx=True)
    await pipe.execute()
    app[ctx.PRIVATE].start(rec)


async def list_alerts(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("issuer", "operator", "admin")
    limit = int_param(request, "limit", 50, 1, 500)
    org = who.org if who.role == "issuer" else None
    recs = await request.app[ctx.ENGINE].alerts.list(limit=limit, org=org)
    return json_response({"alerts": [r.summary() for r in recs]})


async def get_alert(request: web.Request) -> web.Response:
    who = await caller(request)
    rec = await _visible(request, who, path_id(request))
    redis = request.app[ctx.REDIS]
    planned, root = await redis.hmget(keys.alert(rec.id), ["planned", "escalation_root"])
    more = {"escalation": await escalation.status(redis, int(root))} if root else {}
    return json_response({**rec.summary(), "planned": planned is not None, "stats": await alert_stats(redis, rec.id),
                          "cost": await alert_cost(request.app[ctx.ENGINE], rec), "cap": cap.to_dict(rec.alert), **more})


async def get_xml(request: web.Request) -> web.Response:
    who = await caller(request)
    rec = await _visible(request, who, path_id(request))
    return web.Response(body=rec.xml, content_type="application/cap+xml", charset="utf-8")


async def deliveries(request: web.Request) -> web.Response:
    """Per-subscriber delivery states, paginated by subscriber id (``cursor``), filtered by ``state``."""
    who = await caller(request)
    rec = await _visible(request, who, path_id(request))
    wanted = request.query.get("state")
    if wanted is not None and wanted.upper() not in State.__members__:
        raise BadRequest(f"unknown state {wanted!r}", [{"field": "state", "message": "allowed: " + ", ".join(
            s.label for s in State if s is not State.NONE)}])
    if rec.alert.scope == "Private":
        return json_response({"alert_id": rec.id, "next_cursor": None,
                              "deliveries": await private_deliveries(request.app[ctx.REDIS], rec.id, wanted)})
    limit = int_param(request, "limit", 100, 1, 10_000)
    cursor = int_param(request, "cursor", 0)
    engine = request.app[ctx.ENGINE]
    size = engine.size
    nshards = await engine.subscribers.shard_count()
    out: list[dict] = []
    shard = cursor // size
    while shard < nshards and len(out) < limit:
        pipe = engine.redis.pipeline(transaction=False)
        pipe.get(keys.delivery_state(shard, rec.id))
        pipe.get(keys.delivery_channel(shard, rec.id))
        pipe.hgetall(keys.failed_channels(shard, rec.id))
        raw, rawch, failed = await pipe.execute()
        st = states(raw, size)
        chans = states(rawch, size)
        failed = {int(k): v.decode().split(",") for k, v in failed.items()}
        mask = st == State[wanted.upper()] if wanted else st != State.NONE
        offs = np.flatnonzero(mask)
        offs = offs[offs + shard * size >= cursor]
        for o in offs[: limit - len(out)].tolist():
            used = CHANNEL_NAMES.get(int(chans[o]))
            tried = failed.get(o, [])
            if used and (not tried or tried[-1] != used):
                tried = tried + [used]
            out.append({"subscriber_id": shard * size + o, "state": State(int(st[o])).label, "channel": used,
                        "tried": tried})
        shard += 1
    nxt = out[-1]["subscriber_id"] + 1 if len(out) == limit else None
    return json_response({"alert_id": rec.id, "deliveries": out, "next_cursor": nxt})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent progress: a ``progress`` event with the stats twice a second, ``done`` at the end."""
    who = await caller(request)
    rec = await _visible(request, who, path_id(request))
    settings, redis, engine = request.app[ctx.SETTINGS], request.app[ctx.REDIS], request.app[ctx.ENGINE]
    slot = StreamSlot(redis, stream_identity(who), settings.stream_limit)
    await slot.take()
    try:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        deadline = time.monotonic() + settings.stream_max_s
        while True:
            stats = await alert_stats(redis, rec.id)
            life = await engine.alerts.lifecycle(rec.id)
            await resp.write(b"event: progress\ndata: " + orjson.dumps({"lifecycle": life.value, **stats}) + b"\n\n")
            end = _stream_end(life, time.monotonic() >= deadline)
            if end:
                await resp.write(b"event: %s\ndata: %s\n\n" % (end[0].encode(), orjson.dumps(end[1])))
                return resp
            await slot.refresh()
            await asyncio.sleep(0.5)
    finally:
        await slot.release()


def _stream_end(life: Lifecycle, timed_out: bool) -> tuple[str, dict] | None:
    """The final event of a progress stream, or None to go on: ``done`` when sending is over,
    ``held`` for an alert waiting for approval (ask again once approved), ``closed`` at the time limit."""
    if life in (Lifecycle.DONE, Lifecycle.STORED, Lifecycle.REJECTED) or life in STOPPED:
        return "done", {"lifecycle": life.value}
    if life is Lifecycle.HELD:
        return "held", {"lifecycle": life.value, "message": "waiting for an operator's approval; reconnect once approved"}
    if timed_out:
        return "closed", {"lifecycle": life.value, "message": "stream time limit reached; reconnect to follow on"}
    return None


async def approve(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("operator", "admin")
    engine = request.app[ctx.ENGINE]
    alert_id = path_id(request)
    held = await engine.alerts.get(alert_id)
    if who.key_id is not None and held.key_id == who.key_id:
        raise Conflict("an alert must be approved by someone other than its issuer")
    rec = await engine.alerts.approve(alert_id, by=who.name)
    await audit.record(request.app[ctx.REDIS], Action.ALERT_APPROVED, who, remote(request), alert=rec.id,
                       identifier=rec.alert.identifier)
    await start_fanout(request.app, rec, who.name)
    return json_response(rec.summary(), status=202)


#: Longest rejection reason kept (characters).
MAX_REASON = 2_000


async def reject(request: web.Request) -> web.Response:
    """Refuse a held alert with a reason its issuer sees: it becomes ``rejected`` and is never sent."""
    who = await caller(request)
    who.require("operator", "admin")
    body = await read_json(request, 64 * 1024)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("a rejection needs a reason", [{"field": "reason", "message": "required: text the "
                                                          "issuer will see"}])
    if len(reason) > MAX_REASON:
        raise BadRequest("reason is too long", [{"field": "reason", "message": f"at most {MAX_REASON} characters"}])
    rec = await request.app[ctx.ENGINE].alerts.reject(path_id(request), by=who.name, reason=reason.strip())
    await audit.record(request.app[ctx.REDIS], Action.ALERT_REJECTED, who, remote(request), alert=rec.id,
                       identifier=rec.alert.identifier, reason=reason.strip())
    return json_response(rec.summary())


async def cancel(request: web.Request) -> web.Response:
    """Issue a CAP Cancel referencing the alert: pending sends stop, those reached are told."""
    return await cancel_as(request, await caller(request))


async def cancel_as(request: web.Request, who: Caller) -> web.Response:
    """``cancel`` for a caller already authenticated (an API key, or a console session)."""
    who.require("issuer", "operator", "admin")
    rec = await _visible(request, who, path_id(request))
    note = None
    if request.can_read_body and request.content_type == "application/json":
        body = await read_json(request, 64 * 1024)
        note = body.get("note") if isinstance(body, dict) else None
        if note is not None and not isinstance(note, str):
            raise BadRequest("note must be text", [{"field": "note", "message": "must be a string"}])
    return await accept(request, who, cancel_message(who, rec, note))


def cancel_message(who: Caller, rec: AlertRecord, note: str | None = None) -> cap.Alert:
    """The CAP Cancel of an alert (Rejected when it cannot be cancelled); publish it with ``admit``."""
    if rec.alert.msg_type == "Cancel":
        raise Rejected("a Cancel cannot be cancelled")
    if rec.lifecycle in (Lifecycle.CANCELLED,):
        raise Rejected(f"alert {rec.id} is already cancelled")
    if rec.lifecycle is Lifecycle.REJECTED:
        raise Rejected(f"alert {rec.id} was rejected by an operator; it was never sent")
    a = rec.alert
    tz = a.sent.tzinfo or timezone(timedelta(hours=8))
    sent = datetime.now(tz).replace(microsecond=0)
    return cap.Alert(
        identifier=f"{a.identifier}-cancel-{int(time.time())}", sender=_cancel_sender(who, rec), sent=sent,
        sent_text=cap.format_datetime(sent), status=a.status, msg_type="Cancel", scope=a.scope,
        restriction=a.restriction, addresses=list(a.addresses), note=note or "cancelled by the issuer",
        references=[cap.Reference(a.sender, a.identifier, a.sent_text)],
        infos=[_cancel_info(i) for i in a.infos])


def _cancel_sender(who: Caller, rec: AlertRecord) -> str:
    """The Cancel goes out under the alert's sender, or the delegate organisation's own."""
    if who.role != "issuer" or same_issuer(who, rec):
        return rec.alert.sender
    return who.senders[0] if who.senders else who.org


def _cancel_info(info: cap.Info) -> cap.Info:
    return cap.Info(language=info.language, categories=list(info.categories), event=info.event,
                    urgency=info.urgency, severity=info.severity, certainty=info.certainty,
                    sender_name=info.sender_name, headline=info.headline, expires=info.expires,
                    areas=[cap.Area(area_desc=a.area_desc, geocodes=list(a.geocodes), polygons=list(a.polygons),
                                    circles=list(a.circles)) for a in info.areas],
                    parameters=list(info.parameters))


async def delegate(request: web.Request) -> web.Response:
    """An operator lets another organisation update or cancel an alert: {"org": "<organisation>"}."""
    who = await caller(request)
    who.require("operator", "admin")
    alert_id = path_id(request)
    body = await read_json(request, 4096)
    org = body.get("org") if isinstance(body, dict) else None
    try:
        check_fields("delegate", "operator", ["*"], org if isinstance(org, str) else "", [])
    except KeyFieldError as exc:
        raise BadRequest(f"org: {exc}", [{"field": "org", "message": str(exc)}]) from None
    rec = await request.app[ctx.ENGINE].alerts.delegate(alert_id, org)
    await audit.record(request.app[ctx.REDIS], Action.ALERT_DELEGATED, who, remote(request), alert=rec.id,
                       org=org)
    return json_response(rec.summary())


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/alerts", publish)
    r.add_get("/api/v1/alerts", list_alerts)
    r.add_get(r"/api/v1/alerts/{id:\d+}.xml", get_xml)
    r.add_get(r"/api/v1/alerts/{id:\d+}", get_alert)
    r.add_get(r"/api/v1/alerts/{id:\d+}/deliveries", deliveries)
    r.add_get(r"/api/v1/alerts/{id:\d+}/events", events)
    r.add_post(r"/api/v1/alerts/{id:\d+}/approve", approve)
    r.add_post(r"/api/v1/alerts/{id:\d+}/reject", reject)
    r.add_post(r"/api/v1/alerts/{id:\d+}/cancel", cancel)
    r.add_post(r"/api/v1/alerts/{id:\d+}/delegate", delegate)

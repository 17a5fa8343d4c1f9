"""``issuer.admit`` for a batch of new alerts (household alarms opened by one sensor batch): the same
authorisation, store, audit entry and start of delivery per alert, in a handful of round trips for
the whole batch instead of a dozen per alert."""
from __future__ import annotations

import time

import orjson
from aiohttp import web

from .. import approval_rules, audit, cap, keys
from ..alerts import AlertRecord, Lifecycle
from ..alerts_many import accept_many
from ..audit import Action
from ..auth import Caller, authorize_alert, authorize_sender
from . import context as ctx
from .issuer import start_fanout


async def admit_many(app: web.Application, who: Caller, alerts: list[cap.Alert], origin: str, *,
                     never_hold: bool = False) -> list[AlertRecord]:
    """Authorise, store, audit and start delivering new alerts (no references); records in order."""
    for alert in alerts:
        authorize_alert(who, alert)
    for sender in sorted({a.sender for a in alerts}):
        await authorize_sender(who, next(a for a in alerts if a.sender == sender), app[ctx.KEYS])
    rules = await approval_rules.load(app[ctx.REDIS], app[ctx.SETTINGS].approval_severities)
    holds = [not never_hold and rules.needs_approval(a.severity(), a.status, who.org, a.msg_type) for a in alerts]
    results = await accept_many(app[ctx.ENGINE].alerts, alerts, who.name, holds, org=who.org, key_id=who.key_id,
                                scopes=who.scopes)
    created = [rec for rec, new in results if new]
    await _audit(app[ctx.REDIS], who, origin, created)
    private = [r for r in created if r.lifecycle is Lifecycle.SENDING and r.alert.scope == "Private"]
    if private:
        pipe = app[ctx.REDIS].pipeline(transaction=False)
        pipe.srem(keys.FANOUT_PENDING, *(r.id for r in private))
        pipe.zadd(keys.PRIVATE_PENDING, {r.id: r.accepted_at for r in private}, nx=True)
        await pipe.execute()
        for rec in private:
            app[ctx.PRIVATE].start(rec)
    for rec in created:
        if rec.alert.scope != "Private":
            await start_fanout(app, rec, who.name)
    return [rec for rec, _ in results]


async def _audit(redis, who: Caller, origin: str, recs: list[AlertRecord]) -> None:
    """One audit entry per alert, as ``admit`` writes them, in one round trip."""
    if not recs:
        return
    pipe = redis.pipeline(transaction=False)
    for rec in recs:
        what = {"alert": rec.id, "identifier": rec.alert.identifier, "sender": rec.alert.sender,
                "msgType": rec.alert.msg_type, "lifecycle": rec.lifecycle.value, "references": rec.references}
        fields = {"action": Action.ALERT_PUBLISHED.value, **audit._who(who), "remote": origin or "",
                  "t": repr(time.time()), "what": orjson.dumps(what, default=str)}
        pipe.xadd(keys.AUDIT, fields, maxlen=audit.MAX_ENTRIES, approximate=True)
    await pipe.execute()

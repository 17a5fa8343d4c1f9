"""An alert's cost as its issuer and operators see it: estimated (the audience estimate priced) and
incurred (units accepted, priced), by channel, and the budget warnings at publish.

The estimate of a stored alert is worked out once and kept on its record (``cost_estimate``): at
publish when its organisation has a budget (the publish answer warns with it), otherwise when the
record is first read.
"""
from __future__ import annotations

import time

import orjson

from . import audit, keys
from .alerts import AlertRecord
from .audit import Action
from .cost import BUDGET_REASON, all_sms, budget_of, estimated, incurred, month_spend, soft_warnings
from .estimate import Audience, estimate


async def audience(engine) -> Audience:
    s = engine.settings
    return Audience(engine.redis, s.shard_size, await engine.subscribers.shard_count(), tuple(engine.channels),
                    s.sms_signature)


async def estimated_cost(engine, rec: AlertRecord) -> dict:
    """The alert's estimated cost, worked out once and kept on its record."""
    raw = await engine.redis.hget(keys.alert(rec.id), "cost_estimate")
    if raw:
        return orjson.loads(raw)
    est = await estimate(await audience(engine), rec)
    out = {**estimated(engine.settings, est), "targeted": est["targeted"],
           "sms_segments_per_message": est["sms_segments_per_message"],
           "all_sms": all_sms(engine.settings, est)}
    await engine.redis.hset(keys.alert(rec.id), "cost_estimate", orjson.dumps(out))
    return out


async def alert_cost(engine, rec: AlertRecord) -> dict:
    """{"currency", "estimated", "incurred", "suppressed": {"budget": n}} for the alert's record."""
    redis, settings = engine.redis, engine.settings
    held = await redis.hget(keys.counters(rec.id), f"reason:sms:{BUDGET_REASON}")
    return {"currency": settings.cost_currency, "estimated": await estimated_cost(engine, rec),
            "incurred": await incurred(redis, settings, rec.id), "suppressed": {BUDGET_REASON: int(held or 0)}}


async def budget_warnings(engine, rec: AlertRecord, who, origin: str | None) -> list[str]:
    """At publish: the organisation's soft (and hard) budget warnings, each also an audit entry."""
    if not rec.org or budget_of(engine.settings, rec.org) is None:
        return []
    spent = await month_spend(engine.redis, engine.settings, rec.org, time.time())
    cost = (await estimated_cost(engine, rec))["total"]
    found = soft_warnings(engine.settings, rec.org, spent, cost)
    for message in found:
        await audit.record(engine.redis, Action.COST_BUDGET, who, origin, alert=rec.id, org=rec.org,
                           spent=spent, estimated=cost, message=message)
    return found

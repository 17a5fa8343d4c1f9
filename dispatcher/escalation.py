"""Escalation of household alarms nobody confirms.

When an incident reaches alarm level its household's members are alerted; if none of them
confirms (POST /api/v1/receipts, status ``confirmed``) within the household's ``delay_s``, the
first escalation contact is alerted with a CAP Update, then the next after that contact's
``delay_s``, and so on until someone confirms, the incident clears or the contacts run out.
Each Update adds the new contact to ``addresses`` and reaches everyone alerted before.

The timer survives restarts: due steps sit in one Redis sorted set (``keys.ESCALATIONS``:
root alert id → due time) and each escalation's state in a hash. ``run_due`` takes due steps
(one caller wins each: ZREM decides) with the time from an injected clock, so tests move time
instead of sleeping; the serve process calls it every ``escalation_poll_s``.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

import orjson

from . import keys
from .delivery import State
from .households import Household, HouseholdStore
from .private_delivery import addressee_ids

log = logging.getLogger(__name__)

#: An escalation's state as its alert shows it.
WAITING, CONFIRMED, EXHAUSTED, CLEARED = "waiting", "confirmed", "exhausted", "cleared"


async def start(redis, root: int, household: Household, device_id: str, incident: str, last: str,
                alerts: list[int], now: float) -> None:
    """Begin (or keep) the escalation of an incident at alarm level: members have ``delay_s`` to confirm."""
    if await redis.hsetnx(keys.escalation(root), "state", WAITING):
        pipe = redis.pipeline(transaction=True)
        queue_start(pipe, root, household, device_id, incident, last, alerts, now)
        await pipe.execute()


def queue_start(pipe, root: int, household: Household, device_id: str, incident: str, last: str,
                alerts: list[int], now: float) -> None:
    """The writes that begin an escalation (for an incident just opened: nothing to keep)."""
    due = now + household.delay_s
    pipe.hset(keys.escalation(root), mapping={
        "state": WAITING, "household": household.id, "device": device_id, "incident": incident, "step": 0,
        "last": last, "alerts": orjson.dumps(alerts), "due": repr(due), "started": repr(now), "steps": b"[]"})
    pipe.zadd(keys.ESCALATIONS, {root: due})


async def stop(redis, root: int) -> None:
    """The incident cleared: no further steps (a confirmed or exhausted escalation keeps its state)."""
    await redis.zrem(keys.ESCALATIONS, root)
    if await redis.hget(keys.escalation(root), "state") == WAITING.encode():
        await redis.hset(keys.escalation(root), "state", CLEARED)


async def add_alert(redis, root: int, alert_id: int, last: str) -> None:
    """A later message of the incident (a higher level): its confirmations count too."""
    raw = await redis.hget(keys.escalation(root), "alerts")
    if raw is not None:
        await redis.hset(keys.escalation(root), mapping={
            "alerts": orjson.dumps(orjson.loads(raw) + [alert_id]), "last": last})


async def status(redis, root: int) -> dict | None:
    """What GET /api/v1/alerts/{id} shows of an incident's escalation."""
    raw = {k.decode(): v.decode() for k, v in (await redis.hgetall(keys.escalation(root))).items()}
    if not raw:
        return None
    out = {"state": raw.get("state"), "household": int(raw["household"]), "device": raw.get("device"),
           "incident": raw.get("incident"), "next_step": int(raw.get("step", 0)),
           "alerts": orjson.loads(raw.get("alerts", "[]")), "steps": orjson.loads(raw.get("steps", "[]"))}
    if raw.get("state") == WAITING:
        out["due_at"] = float(raw["due"])
    if raw.get("confirmed_by"):
        out["confirmed_by"] = int(raw["confirmed_by"])
    return out


async def confirmed_by(redis, alert_ids: list[int]) -> int | None:
    """The first addressee who confirmed any message of the incident, if anyone did."""
    pipe = redis.pipeline(transaction=False)
    for a in alert_ids:
        pipe.hgetall(keys.addressed(a))
    for found in await pipe.execute():
        for k, v in found.items():
            if k.isdigit() and int(v) == State.CONFIRMED:
                return int(k)
    return None


#: publish(root, household, contact index, escalation hash) → (new alert id, its "last" reference)
Publish = Callable[[int, Household, int, dict], Awaitable[tuple[int, str]]]


async def run_due(redis, households: HouseholdStore, publish: Publish, now: float) -> int:
    """Take every escalation step due by ``now``: done if someone confirmed, else alert the next
    contact (or stop when none is left). Returns how many contacts were alerted."""
    n = 0
    for member in await redis.zrangebyscore(keys.ESCALATIONS, "-inf", now):
        if not await redis.zrem(keys.ESCALATIONS, member):
            continue                    # another process took it
        try:
            n += await _step(redis, households, publish, int(member), now)
        except Exception:
            log.exception("escalation of alert %s failed; trying again shortly", int(member))
            await redis.zadd(keys.ESCALATIONS, {member: now + 5})
    return n


async def _step(redis, households: HouseholdStore, publish: Publish, root: int, now: float) -> int:
    key = keys.escalation(root)
    raw = {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
    if raw.get("state") != WAITING:
        return 0
    who = await confirmed_by(redis, orjson.loads(raw["alerts"]))
    if who is not None:
        await redis.hset(key, mapping={"state": CONFIRMED, "confirmed_by": who})
        return 0
    household = await households.get(int(raw["household"]))
    step = int(raw["step"])
    if step >= len(household.contacts):
        await redis.hset(key, "state", EXHAUSTED)
        return 0
    alert_id, last = await publish(root, household, step, raw)
    contact = household.contacts[step]
    due = now + contact.delay_s
    steps = orjson.loads(raw.get("steps", "[]")) + [{"contact": step, "alert_id": alert_id, "at": now,
                                                     "name": contact.name, "kind": "sms" if contact.sms else "subscriber"}]
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, mapping={"step": step + 1, "last": last, "due": repr(due), "steps": orjson.dumps(steps),
                            "alerts": orjson.dumps(orjson.loads(raw["alerts"]) + [alert_id])})
    pipe.zadd(keys.ESCALATIONS, {root: due})
    await pipe.execute()
    return 1


def escalated_addresses(household: Household, upto: int, previous: list[str]) -> list[str]:
    """Addresses of an escalation Update: everyone addressed before plus the subscriber contacts so far
    (a plain-number contact is texted directly and named by its place, never by its number)."""
    out = list(previous)
    for i, c in enumerate(household.contacts[:upto + 1]):
        token = str(c.subscriber_id) if c.subscriber_id is not None else f"household-{household.id}-contact-{i}"
        if token not in out:
            out.append(token)
    return out


__all__ = ["start", "stop", "add_alert", "status", "run_due", "escalated_addresses", "addressee_ids"]

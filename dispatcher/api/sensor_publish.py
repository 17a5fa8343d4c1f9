"""Publishing household alarms: incident decisions and escalation steps become CAP Private alerts
through the intake every alert takes (``issuer.admit``), issued as the sensor organisation."""
from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from .. import cap, escalation
from ..auth import Caller
from ..households import Household
from ..sensor_alerts import Step, build
from ..sensor_intake import Decision
from . import context as ctx
from .admit_batch import admit_many
from .issuer import admit, queue_private

log = logging.getLogger(__name__)
#: Devices whose decisions are published at once (each device's own in order).
CONCURRENCY = 256
#: New incidents admitted together (each chunk one set of round trips; its first sends start with it).
ADMIT_CHUNK = 100


def sensor_caller(settings) -> Caller:
    return Caller("sensors", "issuer", ("*",), org=settings.sensor_org)


def _reference(sender: str, last: str) -> cap.Reference | None:
    """"identifier sent alert_id" → a CAP reference to that message."""
    if not last:
        return None
    identifier, sent, _ = last.split(" ")
    return cap.Reference(sender, identifier, sent)


async def publish_decisions(app: web.Application, decisions: list[Decision], origin: str) -> list[dict]:
    """Each device's decisions in order (devices side by side); what each became."""
    from .households_api import HOUSEHOLDS
    by_device: dict[str, list[Decision]] = {}
    for d in decisions:
        by_device.setdefault(d.reading.device.id, []).append(d)
    homes = await app[HOUSEHOLDS].get_many(sorted({d.reading.device.household for d in decisions}))
    sem = asyncio.Semaphore(CONCURRENCY)
    opened = await _open_many(app, [c for c in by_device.values() if c[0].action == "open"
                                    and c[0].reading.device.household in homes], homes, origin)

    async def one(chain: list[Decision]) -> list[dict]:
        home = homes.get(chain[0].reading.device.household)
        if home is None:
            return [{"index": d.reading.index, "device_id": d.reading.device.id, "error": "its household is gone"}
                    for d in chain]
        async with sem:
            return await _publish_chain(app, chain, home, origin, opened.get(chain[0].reading.device.id))
    out = [x for chain in await asyncio.gather(*(one(c) for c in by_device.values())) for x in chain]
    return sorted(out, key=lambda x: x["index"])


def _alert_for(settings, d: Decision, home: Household, last: str) -> cap.Alert:
    what = "clear" if d.action == "clear" else ("alarm" if d.level == 2 else "warning")
    step = Step(what, d.reading.device, home, d.reading.value, d.incident, d.seq, [str(m) for m in home.members],
                _reference(settings.sensor_sender, last) if d.action != "open" else None)
    return build(step, settings.sensor_sender)


async def _open_many(app: web.Application, chains: list[list[Decision]], homes: dict[int, Household],
                     origin: str) -> dict[str, tuple[cap.Alert, object]]:
    """The opening alerts of a batch's new incidents, admitted together: device id → (alert, record).
    If the batch cannot be admitted, each goes alone (and fails alone)."""
    if not chains:
        return {}
    settings, out = app[ctx.SETTINGS], {}
    for i in range(0, len(chains), ADMIT_CHUNK):
        part = chains[i:i + ADMIT_CHUNK]
        alerts = [_alert_for(settings, c[0], homes[c[0].reading.device.household], "") for c in part]
        try:
            recs = await admit_many(app, sensor_caller(settings), alerts, origin, never_hold=True)
        except Exception:
            log.exception("admitting %d household alarms together failed; admitting them one by one", len(alerts))
            continue
        await _after_open_many(app, part, homes, alerts, recs)
        out.update({c[0].reading.device.id: (a, r) for c, a, r in zip(part, alerts, recs)})
    return out


async def _after_open_many(app: web.Application, chains: list[list[Decision]], homes: dict[int, Household],
                           alerts: list[cap.Alert], recs: list) -> None:
    """Each new incident learns its first message, and those at alarm level start their escalation, at once."""
    from .sensors_api import INCIDENTS
    pipe, now = app[ctx.REDIS].pipeline(transaction=False), time.time()
    for c, alert, rec in zip(chains, alerts, recs):
        d, last = c[0], f"{alert.identifier} {alert.sent_text} {rec.id}"
        app[INCIDENTS].queue_published(pipe, d.reading.device.id, d.incident, last, str(rec.id), rec.id, str(rec.id))
        if d.level == 2:
            escalation.queue_start(pipe, rec.id, homes[d.reading.device.household], d.reading.device.id,
                                   d.incident, last, [rec.id], now)
    await pipe.execute()


async def _publish_chain(app: web.Application, chain: list[Decision], home: Household, origin: str,
                         opened: tuple | None = None) -> list[dict]:
    from .sensors_api import INCIDENTS
    settings, redis = app[ctx.SETTINGS], app[ctx.REDIS]
    last, root = chain[0].last, chain[0].root
    out = []
    for k, d in enumerate(chain):
        what = "clear" if d.action == "clear" else ("alarm" if d.level == 2 else "warning")
        alert = opened[0] if k == 0 and opened else _alert_for(settings, d, home, last)
        try:
            rec = opened[1] if k == 0 and opened else \
                (await admit(app, sensor_caller(settings), alert, origin, never_hold=True))[0]
        except Exception as exc:
            # Forget the incident, so the device's next reading opens it again rather than finding
            # it open with no alert sent; the platform sees the event failed.
            log.exception("household alarm for device %s could not be published", d.reading.device.id)
            await app[INCIDENTS].forget(d.reading.device.id, d.incident)
            out.append({"index": d.reading.index, "device_id": d.reading.device.id, "action": d.action,
                        "error": getattr(exc, "message", "not published; the next reading raises it again")})
            break
        last = f"{alert.identifier} {alert.sent_text} {rec.id}"
        root = str(rec.id) if d.action == "open" else root
        if k == 0 and opened:               # its bookkeeping was done with the batch's (_after_open_many)
            out.append(_result(d, what, rec.id))
            continue
        await app[INCIDENTS].published(d.reading.device.id, d.incident, last, root if d.action == "open" else "",
                                       alert_id=rec.id, alert_root=root)
        if d.action == "clear":
            await escalation.stop(redis, int(root))
        elif what == "alarm" and d.action == "open":
            await escalation.start(redis, rec.id, home, d.reading.device.id, d.incident, last, [rec.id], time.time())
        elif what == "alarm":
            await escalation.start(redis, int(root), home, d.reading.device.id, d.incident, last,
                                   [int(root), rec.id], time.time())
        out.append(_result(d, what, rec.id))
    return out


def _result(d: Decision, what: str, alert_id: int) -> dict:
    return {"index": d.reading.index, "device_id": d.reading.device.id, "action": d.action, "level": what,
            "alert_id": alert_id, "incident": d.incident}


async def publish_escalation(app: web.Application, root: int, home: Household, step: int, raw: dict
                             ) -> tuple[int, str]:
    """The CAP Update that alerts the household's next contact (escalation.run_due calls it)."""
    from .sensors_api import DEVICES, INCIDENTS
    settings, engine = app[ctx.SETTINGS], app[ctx.ENGINE]
    last = raw["last"]
    previous = await engine.alerts.get(int(last.split(" ")[2]))
    device = await app[DEVICES].get(raw["device"])
    reading = previous.alert.infos[0].parameter("reading") or "0"
    contact = home.contacts[step]
    s = Step("escalated", device, home, float(reading.split(" ")[0]), raw["incident"], f"e{step + 1}",
             escalation.escalated_addresses(home, step, previous.alert.addresses),
             _reference(settings.sensor_sender, last), contact=contact.name)
    alert = build(s, settings.sensor_sender)
    rec, _, _ = await admit(app, sensor_caller(settings), alert, "escalation", never_hold=True)
    new_last = f"{alert.identifier} {alert.sent_text} {rec.id}"
    await app[INCIDENTS].published(device.id, raw["incident"], new_last, alert_id=rec.id, alert_root=str(root))
    return rec.id, new_last


async def redeliver_pending(app: web.Application, now: float, grace_s: float = 30.0) -> int:
    """Private alerts accepted before a restart and never delivered go out now (not those this
    process is still delivering: their sends would go twice)."""
    from .. import keys
    redis, engine, mine = app[ctx.REDIS], app[ctx.ENGINE], app[ctx.PRIVATE].pending
    n = 0
    for raw in await redis.zrangebyscore(keys.PRIVATE_PENDING, "-inf", now - grace_s):
        if int(raw) in mine:
            continue
        rec = await engine.alerts.get(int(raw))
        await redis.zadd(keys.PRIVATE_PENDING, {rec.id: now})        # once per grace period
        await queue_private(app, rec)
        n += 1
    return n

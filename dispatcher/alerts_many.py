"""Storing many new alerts at once (a batch of household alarms): what ``AlertStore.accept`` does for
one alert, in four round trips for all of them.

Only alerts without references (msgType Alert) come here; Updates and Cancels resolve their
references one by one through ``accept``. The record written is the one ``accept`` writes (a test
compares them field by field).
"""
from __future__ import annotations

import time

import orjson

from . import cap, keys
from .alerts import LIFECYCLE_FROM, STOPPED, AlertRecord, AlertStore, Lifecycle, _digest, fans_out, lane_for
from .errors import Rejected


async def accept_many(store: AlertStore, alerts: list[cap.Alert], issuer: str, holds: list[bool], *,
                      org: str = "", key_id: int | None = None, scopes: tuple[str, ...] = ("*",),
                      now: float | None = None) -> list[tuple[AlertRecord, bool]]:
    """(record, created) per alert, in order; an identical resubmission returns the stored one."""
    if any(a.references for a in alerts):
        raise ValueError("accept_many takes alerts without references; accept() resolves them")
    now = time.time() if now is None else now
    xmls = [cap.to_xml(a) for a in alerts]
    digests = [_digest(x) for x in xmls]
    triples = [",".join(a.identity()) for a in alerts]
    identities = [f"{org}|{t}" for t in triples]
    out: list[tuple[AlertRecord, bool] | None] = [None] * len(alerts)
    fresh = []
    for i, found in enumerate(await store.redis.hmget(keys.ALERT_IDENTITY, identities) if alerts else []):
        if found is not None:
            out[i] = (await store._same_or_conflict(int(found), digests[i], identities[i]), False)
            continue
        expires = alerts[i].expires_at()
        if expires is not None and expires.timestamp() <= now:
            raise Rejected("alert has expired", [{"path": "alert/info/expires",
                                                  "message": f"expired at {expires.isoformat()}; nothing would be sent"}])
        fresh.append(i)
    if not fresh:
        return out  # type: ignore[return-value]
    first = int(await store.redis.incrby(keys.ALERT_SEQ, len(fresh))) - len(fresh) + 1
    ids = {i: first + k for k, i in enumerate(fresh)}
    pipe = store.redis.pipeline(transaction=False)
    for i in fresh:
        pipe.hsetnx(keys.ALERT_IDENTITY, identities[i], ids[i])
    won = [i for i, ok in zip(fresh, await pipe.execute()) if ok]
    for i in set(fresh) - set(won):           # another process stored the same alert meanwhile
        other = int(await store.redis.hget(keys.ALERT_IDENTITY, identities[i]))
        out[i] = (await store._same_or_conflict(other, digests[i], identities[i]), False)
    pipe = store.redis.pipeline(transaction=True)
    for i in won:
        rec = _record(ids[i], alerts[i], xmls[i], holds[i], now, issuer, org, key_id, scopes)
        _queue_write(pipe, rec, digests[i], triples[i])
        out[i] = (rec, True)
    await pipe.execute()
    for i in won:
        store._cache[ids[i]] = out[i][0]  # type: ignore[index]
    return out  # type: ignore[return-value]


def _record(alert_id: int, alert: cap.Alert, xml: bytes, hold: bool, now: float, issuer: str, org: str,
            key_id: int | None, scopes: tuple[str, ...]) -> AlertRecord:
    lifecycle = Lifecycle.HELD if hold else (Lifecycle.SENDING if fans_out(alert) else Lifecycle.STORED)
    expires = alert.expires_at()
    return AlertRecord(alert_id, alert, xml, lifecycle, now, issuer, lane_for(alert), [],
                       expires.timestamp() if expires else None, org=org, key_id=key_id, amends=[],
                       scopes=tuple(scopes))


def _queue_write(pipe, rec: AlertRecord, digest: str, triple: str) -> None:
    """The writes of ``AlertStore.accept`` for one new record."""
    pipe.hset(keys.alert(rec.id), mapping={
        "xml": rec.xml, "digest": digest, "lifecycle": rec.lifecycle.value, "accepted_at": repr(rec.accepted_at),
        "issuer": rec.issuer, "lane": rec.lane, "refs": orjson.dumps([]), "amends": orjson.dumps([]),
        "scopes": orjson.dumps(list(rec.scopes)),
        "expires_at": repr(rec.expires_at) if rec.expires_at else "", "org": rec.org,
        "key_id": "" if rec.key_id is None else rec.key_id,
    })
    pipe.zadd(keys.ALERT_INDEX, {rec.id: rec.accepted_at})
    pipe.zadd(keys.alerts_of(rec.org), {rec.id: rec.accepted_at})
    pipe.hsetnx(keys.ALERT_REFERENCE, triple, rec.id)
    if rec.lifecycle is Lifecycle.SENDING:
        pipe.sadd(keys.FANOUT_PENDING, rec.id)
    if rec.alert.scope == "Public" and rec.alert.status == "Actual":
        pipe.zadd(keys.ACTIVE_ALERTS, {rec.id: rec.expires_at or rec.accepted_at + 86_400 * 365})


async def finish_many(store: AlertStore, alert_ids: list[int], by: str = "system") -> list[int]:
    """``set_lifecycle(DONE, only_from=(SENDING,))`` for many alerts, in two round trips; the ids that moved."""
    allowed = ",".join(s.value for s in LIFECYCLE_FROM[Lifecycle.DONE] if s is Lifecycle.SENDING)
    pipe = store.redis.pipeline(transaction=False)
    for a in alert_ids:
        store._set_lifecycle.queue(pipe, [keys.alert(a)], [Lifecycle.DONE.value, allowed])
    moved = [a for a, was in zip(alert_ids, await pipe.execute() if alert_ids else []) if was]
    if not moved:
        return []
    pipe = store.redis.pipeline(transaction=False)
    for a in moved:
        pipe.xadd(keys.LIFECYCLE_LOG, {"lifecycle": Lifecycle.DONE.value, "alert": a, "by": by, "t": repr(time.time())},
                  maxlen=100_000, approximate=True)
        if Lifecycle.DONE in STOPPED:
            pipe.zrem(keys.ACTIVE_ALERTS, a)
    await pipe.execute()
    for a in moved:
        store.forget_lifecycle(a, Lifecycle.DONE)
    return moved

"""The alert store: accepted CAP alerts, their identity, lifecycle state and audit trail."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from enum import Enum

import orjson
import redis.asyncio as aioredis

from subscribers import regions

from . import cap, keys
from .lru import BoundedCache
from .lua import Lua
from .errors import Conflict, NotFound, Rejected


class Lifecycle(str, Enum):
    HELD = "held"              #: waiting for an operator's approval
    SENDING = "sending"        #: fan-out in progress
    DONE = "done"              #: every shard job finished
    STORED = "stored"          #: kept, never fanned out (System, Draft, Ack, Error)
    CANCELLED = "cancelled"    #: a Cancel referenced it; pending sends stopped
    SUPERSEDED = "superseded"  #: an Update referenced it; pending sends stopped
    EXPIRED = "expired"        #: reached its expiry with sends pending
    REJECTED = "rejected"      #: an operator refused it while it was held; never sent


#: Priority lanes, highest first.
LANES = ("immediate", "high", "normal")
STOPPED = (Lifecycle.CANCELLED, Lifecycle.SUPERSEDED, Lifecycle.EXPIRED)
_L = Lifecycle
#: The lifecycles an alert may move into each one from; every move is one compare-and-set in Redis.
#: A cancelled alert stays cancelled (no finishing job, reopen or later Update turns it into another).
LIFECYCLE_FROM: dict[Lifecycle, tuple[Lifecycle, ...]] = {
    _L.HELD: (),
    _L.SENDING: (_L.HELD, _L.DONE),                   # approved; reopened by late failovers
    _L.DONE: (_L.SENDING,),                           # every shard job finished
    _L.STORED: (_L.HELD,),                            # approved, never fans out
    _L.CANCELLED: (_L.HELD, _L.SENDING, _L.DONE, _L.STORED, _L.SUPERSEDED, _L.EXPIRED),
    _L.SUPERSEDED: (_L.HELD, _L.SENDING, _L.DONE, _L.STORED, _L.EXPIRED),
    _L.EXPIRED: (_L.SENDING, _L.HELD),
    _L.REJECTED: (_L.HELD,),
}
#: KEYS: the alert's hash. ARGV: new lifecycle, allowed current ones (comma-joined). Returns the
#: lifecycle it was in when it moved, "" when it did not (not allowed), false when there is no alert.
SET_LIFECYCLE = """
local cur = redis.call('HGET', KEYS[1], 'lifecycle')
if not cur then return false end
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == cur then
    redis.call('HSET', KEYS[1], 'lifecycle', ARGV[1])
    return cur
  end
end
return ''
"""


#: Move an alert's lifecycle only if it is in the expected one, setting other fields with it:
#: KEYS = [alert hash]; ARGV = [expected, new, field, value, …]. Returns the lifecycle found before.
CAS_LIFECYCLE = """
local current = redis.call('HGET', KEYS[1], 'lifecycle')
if current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lifecycle', ARGV[2], unpack(ARGV, 3))
end
return current
"""


def lane_for(alert: cap.Alert) -> str:
    sev, urg = alert.severity(), alert.urgency()
    if sev == "Extreme" or urg == "Immediate" or alert.msg_type == "Cancel":
        return "immediate"
    if sev == "Severe":
        return "high"
    return "normal"


def top_tier(alert: cap.Alert) -> bool:
    """Actual, Public, Extreme, Immediate: ignores opt-outs and quiet hours."""
    return (alert.status == "Actual" and alert.scope == "Public"
            and any(i.severity == "Extreme" and i.urgency == "Immediate" for i in alert.infos))


def fans_out(alert: cap.Alert) -> bool:
    return alert.status in ("Actual", "Exercise", "Test") and alert.msg_type in ("Alert", "Update", "Cancel")


@dataclass
class AlertRecord:
    id: int
    alert: cap.Alert
    xml: bytes
    lifecycle: Lifecycle
    accepted_at: float
    issuer: str
    lane: str
    #: Alerts this one references (Update / Cancel): their reached subscribers join its audience.
    references: list[int] = field(default_factory=list)
    expires_at: float | None = None
    approved_by: str = ""
    #: Referenced alerts this one supersedes or cancels (an Update or Cancel its issuer may amend):
    #: their reached subscribers join its audience. An Alert's references are metadata only.
    amends: list[int] = field(default_factory=list)
    #: The issuer's scopes when it was accepted: earlier recipients are reached only inside them.
    scopes: tuple[str, ...] = ("*",)
    #: The organisation that issued it and the id of the key it used (see auth.may_amend).
    org: str = ""
    key_id: int | None = None
    #: Other organisations an operator allowed to update or cancel it.
    delegates: tuple[str, ...] = ()
    #: Who rejected a held alert, why and when: shown to its issuer with the alert.
    rejection: dict | None = None

    def links(self) -> dict[str, str]:
        base = f"/api/v1/alerts/{self.id}"
        return {"self": base, "deliveries": f"{base}/deliveries", "events": f"{base}/events", "cap": f"{base}.xml"}

    def summary(self) -> dict:
        a = self.alert
        info = a.infos[0] if a.infos else None
        return {
            "id": self.id, "identifier": a.identifier, "sender": a.sender, "sent": a.sent_text,
            "status": a.status, "msgType": a.msg_type, "scope": a.scope, "lifecycle": self.lifecycle.value,
            "severity": a.severity(), "urgency": a.urgency(), "event": info.event if info else None,
            "headline": info.headline if info else None, "lane": self.lane, "issuer": self.issuer,
            "org": self.org, "delegates": list(self.delegates),
            "regions": [{"code": c, "name": regions.name(c, "zh-CN"), "name_en": regions.name(c, "en")}
                        for c in a.geocodes()],
            "accepted_at": self.accepted_at, "expires_at": self.expires_at, "references": self.references,
            "links": self.links(), **({"rejection": self.rejection} if self.rejection else {}),
        }


def _default_amends(alert: cap.Alert, refs: list[int]) -> list[int]:
    return list(refs) if alert.msg_type in ("Update", "Cancel") else []


def _rejection(raw: dict[bytes, bytes]) -> dict | None:
    if b"rejected_by" not in raw:
        return None
    return {"by": raw[b"rejected_by"].decode(), "reason": raw.get(b"reject_reason", b"").decode(),
            "at": float(raw.get(b"rejected_at") or 0)}


def _digest(xml: bytes) -> str:
    return hashlib.sha256(xml).hexdigest()


class AlertStore:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._cache: BoundedCache[int, AlertRecord] = BoundedCache(1024)
        self._set_lifecycle = Lua(redis, SET_LIFECYCLE)
        self._cas = Lua(redis, CAS_LIFECYCLE)

    async def accept(self, alert: cap.Alert, issuer: str, hold: bool = False,
                     now: float | None = None, *, org: str = "", key_id: int | None = None,
                     amends: list[int] | None = None, scopes: tuple[str, ...] = ("*",),
                     approved_by: str = "") -> tuple[AlertRecord, bool]:
        """Store a validated alert. Returns (record, created); an identical resubmission returns the
        existing record with created=False; the same identity with other content is a Conflict.
        Identity is per organisation: another organisation's alert never blocks or answers for it."""
        now = time.time() if now is None else now
        xml = cap.to_xml(alert)
        digest = _digest(xml)
        triple = ",".join(alert.identity())
        identity = f"{org}|{triple}"
        existing = await self.redis.hget(keys.ALERT_IDENTITY, identity)
        if existing is not None:
            return await self._same_or_conflict(int(existing), digest, identity), False
        expires = alert.expires_at()
        if expires is not None and expires.timestamp() <= now:
            raise Rejected("alert has expired", [{"path": "alert/info/expires",
                                                  "message": f"expired at {expires.isoformat()}; nothing would be sent"}])
        refs = await self.resolve_references(alert, org)
        alert_id = int(await self.redis.incr(keys.ALERT_SEQ))
        if not await self.redis.hsetnx(keys.ALERT_IDENTITY, identity, alert_id):
            other = int(await self.redis.hget(keys.ALERT_IDENTITY, identity))
            return await self._same_or_conflict(other, digest, identity), False
        lifecycle = Lifecycle.HELD if hold else (Lifecycle.SENDING if fans_out(alert) else Lifecycle.STORED)
        amends = _default_amends(alert, refs) if amends is None else [r for r in amends if r in refs]
        rec = AlertRecord(alert_id, alert, xml, lifecycle, now, issuer, lane_for(alert), refs,
                          expires.timestamp() if expires else None, approved_by, org=org, key_id=key_id,
                          amends=amends, scopes=tuple(scopes))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.alert(alert_id), mapping={
            "xml": xml, "digest": digest, "lifecycle": lifecycle.value, "accepted_at": repr(now),
            "issuer": issuer, "lane": rec.lane, "refs": orjson.dumps(refs), "amends": orjson.dumps(amends),
            "scopes": orjson.dumps(list(rec.scopes)),
            "expires_at": repr(rec.expires_at) if rec.expires_at else "", "org": org,
            "key_id": "" if key_id is None else key_id, **({"approved_by": approved_by} if approved_by else {}),
        })
        pipe.zadd(keys.ALERT_INDEX, {alert_id: now})
        pipe.zadd(keys.alerts_of(org), {alert_id: now})
        pipe.hsetnx(keys.ALERT_REFERENCE, triple, alert_id)
        if lifecycle is Lifecycle.SENDING:
            pipe.sadd(keys.FANOUT_PENDING, alert_id)
        if alert.scope == "Public" and alert.status == "Actual":
            pipe.zadd(keys.ACTIVE_ALERTS, {alert_id: rec.expires_at or now + 86_400 * 365})
        await pipe.execute()
        self._cache[alert_id] = rec
        return rec, True

    async def _same_or_conflict(self, alert_id: int, digest: str, identity: str) -> AlertRecord:
        stored = await self.redis.hget(keys.alert(alert_id), "digest")
        if stored is not None and stored.decode() != digest:
            raise Conflict(f"an alert with sender,identifier,sent {identity} exists with other content",
                           [{"path": "alert/identifier", "message": "already used for a different alert"}])
        return await self.get(alert_id)

    async def resolve_references(self, alert: cap.Alert, org: str = "") -> list[int]:
        """Alert ids of the references: the referencing organisation's own alert of that identity
        first, else the first alert stored with it (whether it may be amended is checked by the caller)."""
        if not alert.references:
            return []
        identities = [",".join(r.identity()) for r in alert.references]
        own = await self.redis.hmget(keys.ALERT_IDENTITY, [f"{org}|{i}" for i in identities])
        anyone = await self.redis.hmget(keys.ALERT_REFERENCE, identities)
        found = [o if o is not None else a for o, a in zip(own, anyone)]
        return [int(f) for f in found if f is not None]

    async def unknown_references(self, alert: cap.Alert) -> list[str]:
        """The references (sender,identifier,sent) this installation never stored: a feed joined
        mid-stream, or another system's alerts relayed. They are warnings, not errors."""
        if not alert.references:
            return []
        identities = [",".join(r.identity()) for r in alert.references]
        found = await self.redis.hmget(keys.ALERT_REFERENCE, identities)
        return [i for i, f in zip(identities, found) if f is None]

    async def get(self, alert_id: int) -> AlertRecord:
        raw = await self.redis.hgetall(keys.alert(alert_id))
        if not raw:
            raise NotFound(f"no alert {alert_id}")
        cached = self._cache.get(alert_id)
        alert = cached.alert if cached else cap.parse_xml(raw[b"xml"], max_bytes=64 << 20)
        rec = AlertRecord(
            alert_id, alert, raw[b"xml"], Lifecycle(raw[b"lifecycle"].decode()), float(raw[b"accepted_at"]),
            raw[b"issuer"].decode(), raw[b"lane"].decode(), orjson.loads(raw[b"refs"]),
            float(raw[b"expires_at"]) if raw.get(b"expires_at") else None,
            raw.get(b"approved_by", b"").decode(), org=raw.get(b"org", b"").decode(),
            key_id=int(raw[b"key_id"]) if raw.get(b"key_id") else None,
            delegates=tuple(sorted(k[9:].decode() for k in raw if k.startswith(b"delegate:"))),
            rejection=_rejection(raw))
        refs = rec.references
        rec.amends = orjson.loads(raw[b"amends"]) if b"amends" in raw else _default_amends(alert, refs)
        rec.scopes = tuple(orjson.loads(raw[b"scopes"])) if b"scopes" in raw else ("*",)
        self._cache[alert_id] = rec
        return rec

    async def lifecycle(self, alert_id: int) -> Lifecycle:
        v = await self.redis.hget(keys.alert(alert_id), "lifecycle")
        if v is None:
            raise NotFound(f"no alert {alert_id}")
        return Lifecycle(v.decode())

    async def set_lifecycle(self, alert_id: int, value: Lifecycle, by: str = "system",
                            only_from: tuple[Lifecycle, ...] | None = None) -> bool:
        """Move an alert's lifecycle in one compare-and-set: only from the lifecycles
        ``LIFECYCLE_FROM`` allows (and, with ``only_from``, only from those). False if it did not move."""
        allowed = [s for s in LIFECYCLE_FROM[value] if only_from is None or s in only_from]
        was = await self._set_lifecycle(keys=[keys.alert(alert_id)], args=[value.value, ",".join(s.value for s in allowed)])
        if was is None:
            raise NotFound(f"no alert {alert_id}")
        if not was:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(keys.LIFECYCLE_LOG, {"lifecycle": value.value, "alert": alert_id, "by": by, "t": repr(time.time())},
                  maxlen=100_000, approximate=True)
        if value in STOPPED:
            pipe.zrem(keys.ACTIVE_ALERTS, alert_id)
        await pipe.execute()
        self.forget_lifecycle(alert_id, value)
        return True

    def forget_lifecycle(self, alert_id: int, value: Lifecycle) -> None:
        """Keep this process's cached record in step with a lifecycle moved in Redis."""
        if alert_id in self._cache:
            self._cache[alert_id].lifecycle = value

    async def approve(self, alert_id: int, by: str) -> AlertRecord:
        rec = await self.get(alert_id)
        if rec.lifecycle is Lifecycle.HELD and by == rec.issuer:
            raise Conflict("an alert must be approved by someone other than its issuer")
        after = Lifecycle.SENDING if fans_out(rec.alert) else Lifecycle.STORED
        await self._leave_held(alert_id, after, {"approved_by": by})
        return await self.get(alert_id)

    async def reject(self, alert_id: int, by: str, reason: str, now: float | None = None) -> AlertRecord:
        """Refuse a held alert: it is never sent, and its issuer sees who refused it and why."""
        await self.get(alert_id)
        now = time.time() if now is None else now
        await self._leave_held(alert_id, Lifecycle.REJECTED,
                               {"rejected_by": by, "reject_reason": reason, "rejected_at": repr(now)})
        await self.redis.zrem(keys.ACTIVE_ALERTS, alert_id)
        self._cache.pop(alert_id, None)
        return await self.get(alert_id)

    async def _leave_held(self, alert_id: int, after: Lifecycle, fields: dict[str, str]) -> None:
        """One compare-and-set from held, so an approval and a rejection never both happen (the
        endpoints record who did it in the audit trail)."""
        args = [Lifecycle.HELD.value, after.value] + [x for kv in fields.items() for x in kv]
        before = await self._cas([keys.alert(alert_id)], args)
        before = before.decode() if isinstance(before, bytes) else before
        if before != Lifecycle.HELD.value:
            raise Conflict(f"alert {alert_id} is {before}, not waiting for approval")
        if alert_id in self._cache:
            self._cache[alert_id].lifecycle = after

    async def delegate(self, alert_id: int, org: str) -> AlertRecord:
        """Let another organisation update or cancel this alert (recorded on the alert); it joins
        that organisation's list of alerts."""
        rec = await self.get(alert_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.alert(alert_id), f"delegate:{org}", "1")
        pipe.zadd(keys.alerts_of(org), {alert_id: rec.accepted_at})
        await pipe.execute()
        return await self.get(alert_id)

    async def list(self, limit: int = 50, before: float | None = None, org: str | None = None) -> list[AlertRecord]:
        """Newest first; with ``org``, only that organisation's alerts (filtered before the limit)."""
        index = keys.ALERT_INDEX if org is None else keys.alerts_of(org)
        ids = await self.redis.zrevrangebyscore(index, before or "+inf", "-inf", start=0, num=limit)
        return [await self.get(int(i)) for i in ids]

    async def recent_ids(self, since: float) -> list[int]:
        return [int(i) for i in await self.redis.zrangebyscore(keys.ALERT_INDEX, since, "+inf")]

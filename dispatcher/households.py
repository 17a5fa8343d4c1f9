"""Households: the people of one home and whom to call when none of them reacts to an alarm.

A household lists its ``members`` (subscriber ids, in the order they are contacted) and its
``contacts`` for escalation: a subscriber (``{"subscriber_id": 7}``) or a plain SMS number
(``{"sms": "+8613912345678"}``) of a building manager or community office, each with the
``delay_s`` it is given to react before the next one is alerted. The household's own ``delay_s``
is how long its members have to confirm an alarm before the first contact is alerted.

Phone numbers are validated (``phonenumbers``, through the SMS adapter's check), stored in E.164,
shown masked and never logged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from channels import endpoints as endpoint_checks
from subscribers import regions

from . import keys
from .errors import BadRequest, NotFound

#: Most members and escalation contacts one household may have.
MAX_MEMBERS = 20
MAX_CONTACTS = 10
#: Bounds of every delay (s): a few seconds (demos, drills) to a day.
MIN_DELAY_S, MAX_DELAY_S = 1, 86_400
DEFAULT_DELAY_S = 120
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
FIELDS = {"name", "external_id", "region", "members", "contacts", "delay_s"}


@dataclass
class Contact:
    delay_s: int
    subscriber_id: int | None = None
    sms: str | None = None
    name: str = ""

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"delay_s": self.delay_s, "name": self.name}
        if self.subscriber_id is not None:
            out["subscriber_id"] = self.subscriber_id
        if self.sms is not None:
            out["sms"] = self.sms
        return out

    def public(self) -> dict[str, Any]:
        out = self.record()
        if self.sms is not None:
            out["sms"] = mask_number(self.sms)
        return out


@dataclass
class Household:
    members: list[int]
    contacts: list[Contact] = field(default_factory=list)
    delay_s: int = DEFAULT_DELAY_S
    name: str = ""
    region: str = ""
    external_id: str | None = None
    id: int = -1

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "region": self.region, "external_id": self.external_id,
                "members": self.members, "contacts": [c.record() for c in self.contacts], "delay_s": self.delay_s}

    def public(self) -> dict[str, Any]:
        return {**self.record(), "contacts": [c.public() for c in self.contacts]}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Household":
        contacts = [Contact(c["delay_s"], c.get("subscriber_id"), c.get("sms"), c.get("name", ""))
                    for c in rec.get("contacts", [])]
        return cls(rec["members"], contacts, rec["delay_s"], rec.get("name", ""), rec.get("region", ""),
                   rec.get("external_id"), rec["id"])


def mask_number(number: str) -> str:
    """+8613912345678 → +86139****5678: enough to recognise, not enough to dial."""
    return number[:6] + "****" + number[-4:] if len(number) > 10 else "****"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _delay(value: Any, path: str, errors: list[tuple[str, str]]) -> int:
    if not _is_int(value) or not MIN_DELAY_S <= value <= MAX_DELAY_S:
        errors.append((path, f"must be whole seconds from {MIN_DELAY_S} to {MAX_DELAY_S}"))
        return DEFAULT_DELAY_S
    return value


def _members(value: Any, errors: list[tuple[str, str]]) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MEMBERS:
        errors.append(("members", f"must list 1 to {MAX_MEMBERS} subscriber ids in order of contact"))
        return []
    for i, v in enumerate(value):
        if not _is_int(v) or v < 0:
            errors.append((f"members[{i}]", "must be a subscriber id (a whole number)"))
    if len(set(map(repr, value))) != len(value):
        errors.append(("members", "lists a subscriber twice"))
    return [v for v in value if _is_int(v)]


def _contact(i: int, value: Any, errors: list[tuple[str, str]]) -> Contact | None:
    path = f"contacts[{i}]"
    if not isinstance(value, dict):
        errors.append((path, 'must be {"subscriber_id": N} or {"sms": "+86…"}, with "delay_s"'))
        return None
    unknown = set(value) - {"subscriber_id", "sms", "delay_s", "name"}
    if unknown:
        errors.append((f"{path}.{sorted(unknown)[0]}", "unknown field"))
    if ("subscriber_id" in value) == ("sms" in value):
        errors.append((path, "give exactly one of subscriber_id, sms"))
        return None
    contact = Contact(_delay(value.get("delay_s", DEFAULT_DELAY_S), f"{path}.delay_s", errors))
    name = value.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        errors.append((f"{path}.name", "must be text of at most 200 characters"))
    else:
        contact.name = name
    if "subscriber_id" in value:
        if not _is_int(value["subscriber_id"]) or value["subscriber_id"] < 0:
            errors.append((f"{path}.subscriber_id", "must be a subscriber id (a whole number)"))
        contact.subscriber_id = value["subscriber_id"]
        return contact
    try:
        contact.sms = endpoint_checks.phone(value["sms"])
    except ValueError as exc:
        errors.append((f"{path}.sms", str(exc)))      # the message names the problem, never the number
    return contact


def _text_fields(data: dict, h: Household, errors: list[tuple[str, str]]) -> None:
    if "name" in data:
        if not isinstance(data["name"], str) or len(data["name"]) > 200:
            errors.append(("name", "must be text of at most 200 characters"))
        else:
            h.name = data["name"]
    if "region" in data:
        r = data["region"]
        if not isinstance(r, str) or (r and not regions.valid_code_format(r)):
            errors.append(("region", "must be a region code such as 110105"))
        else:
            h.region = r
    if "external_id" in data:
        x = data["external_id"]
        if x is not None and (not isinstance(x, str) or not _EXTERNAL_ID.fullmatch(x)):
            errors.append(("external_id", "must be 1-128 letters, digits or ._:-"))
        else:
            h.external_id = x


def validate(data: Any, base: Household | None = None) -> Household:
    """A household from JSON (a whole record, or changes to ``base``); BadRequest naming each field."""
    if not isinstance(data, dict):
        raise BadRequest("a household is a JSON object", [{"field": "body", "message": "must be an object"}])
    errors: list[tuple[str, str]] = [(k, "unknown field") for k in sorted(set(data) - FIELDS)]
    h = Household(**{**base.__dict__}) if base else Household(members=[])
    if "members" in data or base is None:
        h.members = _members(data.get("members"), errors)
    if "contacts" in data:
        cs = data["contacts"]
        if not isinstance(cs, list) or len(cs) > MAX_CONTACTS:
            errors.append(("contacts", f"must list at most {MAX_CONTACTS} contacts in order of escalation"))
        else:
            h.contacts = [c for c in (_contact(i, v, errors) for i, v in enumerate(cs)) if c is not None]
    if "delay_s" in data:
        h.delay_s = _delay(data["delay_s"], "delay_s", errors)
    _text_fields(data, h, errors)
    if errors:
        raise BadRequest(f"invalid household: {errors[0][0]} {errors[0][1]}",
                         [{"field": f, "message": m} for f, m in errors])
    return h


class HouseholdStore:
    """Households as one JSON record each in a hash; external ids make imports repeatable."""

    def __init__(self, redis, subscribers):
        self.redis, self.subscribers = redis, subscribers

    async def check_subscribers(self, h: Household, where: str = "") -> None:
        """Every member and subscriber contact must exist (404-free: a 400 naming the field)."""
        wanted = h.members + [c.subscriber_id for c in h.contacts if c.subscriber_id is not None]
        found = await self.subscribers.get_many(wanted) if wanted else {}
        errors = [{"field": f"{where}members[{i}]", "message": f"no subscriber {m}"}
                  for i, m in enumerate(h.members) if m not in found]
        errors += [{"field": f"{where}contacts[{i}].subscriber_id", "message": f"no subscriber {c.subscriber_id}"}
                   for i, c in enumerate(h.contacts) if c.subscriber_id is not None and c.subscriber_id not in found]
        if errors:
            raise BadRequest(f"invalid household: {errors[0]['field']} {errors[0]['message']}", errors)

    async def create(self, data: Any) -> Household:
        h = validate(data)
        await self.check_subscribers(h)
        saved, _ = await self.save_many([h])
        return saved[0]

    async def get(self, hid: int) -> Household:
        raw = await self.redis.hget(keys.HOUSEHOLDS, hid)
        if raw is None:
            raise NotFound(f"no household {hid}", [{"field": "id", "message": "unknown household"}])
        return Household.from_record(orjson.loads(raw))

    async def get_many(self, ids: list[int]) -> dict[int, Household]:
        raw = await self.redis.hmget(keys.HOUSEHOLDS, ids) if ids else []
        return {i: Household.from_record(orjson.loads(r)) for i, r in zip(ids, raw) if r is not None}

    async def list(self, offset: int = 0, limit: int = 100) -> tuple[list[Household], int]:
        ids = sorted(int(i) for i in await self.redis.hkeys(keys.HOUSEHOLDS))
        page = ids[offset:offset + limit]
        found = await self.get_many(page)
        return [found[i] for i in page if i in found], len(ids)

    async def update(self, hid: int, changes: Any) -> Household:
        before = await self.get(hid)
        h = validate(changes, base=before)
        await self.check_subscribers(h)
        if before.external_id and before.external_id != h.external_id:
            await self.redis.hdel(keys.HOUSEHOLD_EXTERNAL, before.external_id)
        await self._write([h])
        return h

    async def delete(self, hid: int) -> None:
        h = await self.get(hid)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.HOUSEHOLDS, hid)
        if h.external_id:
            pipe.hdel(keys.HOUSEHOLD_EXTERNAL, h.external_id)
        await pipe.execute()

    async def save_many(self, households: list[Household]) -> tuple[list[Household], int]:
        """Store validated households; one whose external id is known replaces that household.
        Returns (saved, how many replaced an existing one)."""
        exts = [h.external_id for h in households if h.external_id]
        known = await self.redis.hmget(keys.HOUSEHOLD_EXTERNAL, exts) if exts else []
        by_ext = {x: int(v) for x, v in zip(exts, known) if v is not None}
        fresh = [h for h in households if h.external_id not in by_ext]
        first = int(await self.redis.incrby(keys.HOUSEHOLD_SEQ, len(fresh))) - len(fresh) + 1 if fresh else 0
        for i, h in enumerate(fresh):
            h.id = first + i
        for h in households:
            if h.external_id in by_ext:
                h.id = by_ext[h.external_id]
        await self._write(households)
        return households, len(households) - len(fresh)

    async def _write(self, households: list[Household]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for h in households:
            pipe.hset(keys.HOUSEHOLDS, h.id, orjson.dumps(h.record()))
            if h.external_id:
                pipe.hset(keys.HOUSEHOLD_EXTERNAL, h.external_id, h.id)
        await pipe.execute()

"""Console drafts: warnings written in the console, every version kept, through approval to publication.

    draft ──submit, no rule applies──▶ approved ──published as an alert──▶ published
      │  ▲                                 ▲           (its alert then sends → done)
      │  └─edit: a new version─ rejected   │
      │                            ▲       │
      └──submit, a rule applies──▶ pending ┘ approve (by someone who wrote no version)
                                    └──reject with a reason──▶ rejected
    cancelled from any state: before publication nothing is sent; after it, the alert is cancelled

Every transition is one compare-and-set in Redis (``TRANSITION``): it checks the state and the
version the person acted on, writes the new state (and a new version, for an edit) and appends
the draft's own history entry, all in one step; a late or concurrent action gets a 409. The audit
trail gets one entry per transition (``Action.DRAFT_*``).

    wc:draft:{d<id>}            hash: state, org, version, created, updated, alert_id, approved_by, rejection
    wc:draft:{d<id>}:versions   hash n → {"form", "author": {key_id, name, org}, "at"}
    wc:draft:{d<id>}:log        list of {"state", "from", "version", "by", "at", …}
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

import orjson

from . import keys
from .errors import Conflict, NotFound
from .lua import Lua


class DraftState(str, Enum):
    DRAFT = "draft"            #: being written; not submitted
    PENDING = "pending"        #: submitted; waiting for a second person's approval
    REJECTED = "rejected"      #: refused with a reason its authors see; an edit makes a new version
    APPROVED = "approved"      #: approved (or needing no approval); being published
    PUBLISHED = "published"    #: published as an alert (``alert_id``), which then sends
    CANCELLED = "cancelled"    #: withdrawn before publication, or its alert cancelled


_S = DraftState
#: The states each one may be entered from.
ALLOWED_FROM: dict[DraftState, tuple[DraftState, ...]] = {
    _S.DRAFT: (_S.DRAFT, _S.REJECTED),               # an edit: a new version
    _S.PENDING: (_S.DRAFT,),                          # submitted
    _S.REJECTED: (_S.PENDING,),
    _S.APPROVED: (_S.DRAFT, _S.PENDING),
    _S.PUBLISHED: (_S.APPROVED,),
    _S.CANCELLED: (_S.DRAFT, _S.PENDING, _S.REJECTED, _S.PUBLISHED),
}

#: Back from approved when publication failed (``move(..., back=True)``): never reached by an edit.
BACK_FROM = (_S.APPROVED,)

#: KEYS: draft hash, versions hash, log list. ARGV: new state, allowed states (comma-joined), the
#: version acted on ("" = any), log entry JSON, new version number ("" = none), its JSON, then
#: field/value pairs to set. Returns {"ok", previous state} or {"state"|"version", what was found}.
TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {'missing', ''} end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then allowed = true end end
if not allowed then return {'state', cur} end
local version = redis.call('HGET', KEYS[1], 'version')
if ARGV[3] ~= '' and ARGV[3] ~= version then return {'version', version} end
if ARGV[5] ~= '' then
  if tonumber(ARGV[5]) ~= tonumber(version) + 1 then return {'version', version} end
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
  redis.call('HSET', KEYS[1], 'version', ARGV[5])
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], unpack(ARGV, 7))
redis.call('RPUSH', KEYS[3], ARGV[4])
return {'ok', cur}
"""


@dataclass
class Version:
    number: int
    form: dict
    author: dict          #: {"key_id": int | None, "name": str, "org": str}
    at: float

    def public(self) -> dict:
        return {"number": self.number, "form": self.form, "author": self.author, "at": self.at}


@dataclass
class Draft:
    id: int
    state: DraftState
    org: str
    version: int
    created: float
    updated: float
    alert_id: int | None = None
    approved_by: dict | None = None
    rejection: dict | None = None

    def public(self) -> dict:
        return {"id": self.id, "state": self.state.value, "org": self.org, "version": self.version,
                "created": self.created, "updated": self.updated, "alert_id": self.alert_id,
                "approved_by": self.approved_by, "rejection": self.rejection}


def person(who) -> dict:
    """How a draft records a person: the key id decides who is who; the name is for reading."""
    return {"key_id": who.key_id, "name": who.name, "org": who.org}


def same_person(a: dict, b: dict) -> bool:
    """Key ids decide; the bootstrap admin key (no id) is one person."""
    return a.get("key_id") == b.get("key_id")


class DraftStore:
    def __init__(self, redis, clock=time.time):
        self.redis, self.clock = redis, clock
        self._transition = Lua(redis, TRANSITION)

    async def create(self, form: dict, who) -> Draft:
        draft_id = int(await self.redis.incr(keys.DRAFT_SEQ))
        now = self.clock()
        version = Version(1, form, person(who), now)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.draft(draft_id), mapping={"state": _S.DRAFT.value, "org": who.org, "version": 1,
                                                 "created": repr(now), "updated": repr(now)})
        pipe.hset(keys.draft_versions(draft_id), "1", orjson.dumps(version.public()))
        pipe.rpush(keys.draft_log(draft_id), orjson.dumps({"state": "draft", "from": "", "version": 1,
                                                           "by": person(who), "at": now}))
        pipe.zadd(keys.DRAFT_INDEX, {draft_id: now})
        pipe.zadd(keys.drafts_of(who.org), {draft_id: now})
        await pipe.execute()
        return await self.get(draft_id)

    async def get(self, draft_id: int) -> Draft:
        raw = await self.redis.hgetall(keys.draft(draft_id))
        if not raw:
            raise NotFound(f"no draft {draft_id}", [{"field": "id", "message": "unknown draft"}])
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return Draft(draft_id, DraftState(f["state"]), f["org"], int(f["version"]), float(f["created"]),
                     float(f["updated"]), int(f["alert_id"]) if f.get("alert_id") else None,
                     orjson.loads(f["approved_by"]) if f.get("approved_by") else None,
                     orjson.loads(f["rejection"]) if f.get("rejection") else None)

    async def versions(self, draft_id: int) -> list[Version]:
        raw = await self.redis.hgetall(keys.draft_versions(draft_id))
        out = [orjson.loads(v) for v in raw.values()]
        return sorted((Version(d["number"], d["form"], d["author"], d["at"]) for d in out), key=lambda v: v.number)

    async def version(self, draft_id: int, number: int) -> Version:
        raw = await self.redis.hget(keys.draft_versions(draft_id), str(number))
        if raw is None:
            raise NotFound(f"draft {draft_id} has no version {number}", [{"field": "version", "message": "unknown"}])
        d = orjson.loads(raw)
        return Version(d["number"], d["form"], d["author"], d["at"])

    async def history(self, draft_id: int) -> list[dict]:
        return [orjson.loads(e) for e in await self.redis.lrange(keys.draft_log(draft_id), 0, -1)]

    async def authors(self, draft_id: int) -> list[dict]:
        """Everyone who wrote a version: none of them may approve it."""
        seen, out = set(), []
        for v in await self.versions(draft_id):
            if v.author.get("key_id") not in seen:
                seen.add(v.author.get("key_id"))
                out.append(v.author)
        return out

    async def move(self, draft_id: int, to: DraftState, who, *, version: int | None = None,
                   new_form: dict | None = None, note: dict | None = None, back: bool = False,
                   **fields: str) -> Draft:
        """One transition (see TRANSITION); Conflict when the state or version moved on meanwhile.
        ``back``: return from approved to pending or draft after a failed publication."""
        now = self.clock()
        current = await self.get(draft_id)
        number = str(current.version + 1) if new_form is not None else ""
        blob = orjson.dumps(Version(current.version + 1, new_form, person(who), now).public()) if new_form else b""
        entry = {"state": to.value, "version": int(number) if number else current.version, "by": person(who),
                 "at": now, **(note or {})}
        allowed = BACK_FROM if back else ALLOWED_FROM[to]
        args = [to.value, ",".join(s.value for s in allowed), "" if version is None else str(version),
                orjson.dumps(entry), number, blob, "updated", repr(now)]
        for name, value in fields.items():
            args += [name, value]
        found = await self._transition(keys=[keys.draft(draft_id), keys.draft_versions(draft_id),
                                             keys.draft_log(draft_id)], args=args)
        outcome, what = (x.decode() if isinstance(x, bytes) else x for x in found)
        if outcome == "missing":
            raise NotFound(f"no draft {draft_id}", [{"field": "id", "message": "unknown draft"}])
        if outcome == "state":
            raise Conflict(f"draft {draft_id} is {what}; it cannot become {to.value} from there",
                           [{"field": "state", "message": what}])
        if outcome == "version":
            raise Conflict(f"draft {draft_id} is now at version {what}; reload it and look again",
                           [{"field": "version", "message": f"current version is {what}"}])
        await self._index(draft_id, current.org, to, now)
        return await self.get(draft_id)

    async def _index(self, draft_id: int, org: str, state: DraftState, now: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.DRAFT_INDEX, {draft_id: now})
        pipe.zadd(keys.drafts_of(org), {draft_id: now})
        if state is _S.PENDING:
            pipe.zadd(keys.DRAFTS_PENDING, {draft_id: now})
        else:
            pipe.zrem(keys.DRAFTS_PENDING, draft_id)
        await pipe.execute()

    async def list(self, *, org: str | None = None, pending: bool = False, limit: int = 100) -> list[Draft]:
        index = keys.DRAFTS_PENDING if pending else (keys.DRAFT_INDEX if org is None else keys.drafts_of(org))
        ids = await self.redis.zrevrange(index, 0, limit - 1)
        out = [await self.get(int(i)) for i in ids]
        return [d for d in out if d.state is _S.PENDING] if pending else out

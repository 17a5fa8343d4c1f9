"""The audit trail: who did what, when, from where. An append-only capped Redis stream
(``keys.AUDIT``); the API reads it (``GET /api/v1/audit``) and ``warncast audit`` exports it.

Every entry has ``action`` (one of ``Action``), ``key_id`` and ``name`` of the key that acted
("" for the bootstrap admin key), ``org``, ``remote`` (client address), ``t`` (Unix seconds)
and ``what`` (JSON: the object acted on). Nothing in warncast deletes or edits an entry.
"""
from __future__ import annotations

import re
import time
from enum import Enum

import orjson

from . import keys

#: Entries kept; older ones are trimmed (approximately) as new ones arrive.
MAX_ENTRIES = 1_000_000
_CURSOR = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


class Action(str, Enum):
    KEY_CREATED = "key.created"                 #: an API key was created
    KEY_REVOKED = "key.revoked"                 #: an API key was revoked; it is refused from then on
    KEY_ROTATED = "key.rotated"                 #: an API key got a new secret; the old one is refused
    ALERT_PUBLISHED = "alert.published"         #: an alert was accepted (held or sending)
    ALERT_APPROVED = "alert.approved"           #: a held alert was approved
    ALERT_REJECTED = "alert.rejected"           #: a held alert was rejected
    ALERT_CANCELLED = "alert.cancelled"         #: an alert was cancelled through the cancel endpoint
    ALERT_DELEGATED = "alert.delegated"         #: another organisation may now amend an alert
    DELIVERIES_RETRIED = "deliveries.retried"   #: an operator queued an alert's failed deliveries again
    SUBSCRIBERS_IMPORTED = "subscribers.imported"  #: a bulk import of subscribers
    APPROVAL_RULE_CHANGED = "approval-rule.changed"  #: which alerts wait for approval changed
    COST_BUDGET = "cost.budget"                 #: an alert's organisation is over its monthly cost budget
    CONSOLE_SIGNED_IN = "console.signed-in"     #: someone signed in to the console with their key
    CONSOLE_SIGNED_OUT = "console.signed-out"   #: someone signed out of the console
    DRAFT_SAVED = "draft.saved"                 #: a console draft was written: a new draft or a new version
    DRAFT_SUBMITTED = "draft.submitted"         #: a draft version was sent for approval
    DRAFT_APPROVED = "draft.approved"           #: a second person approved a draft version (it is then published)
    DRAFT_REJECTED = "draft.rejected"           #: a draft version was rejected with a reason
    DRAFT_CANCELLED = "draft.cancelled"         #: a draft was withdrawn, or its published alert cancelled


def _who(who) -> dict[str, str]:
    """A Caller (or a plain name for the command line and system actions) as entry fields."""
    if isinstance(who, str):
        return {"key_id": "", "name": who, "org": ""}
    key_id = getattr(who, "key_id", None)
    return {"key_id": "" if key_id is None else str(key_id), "name": who.name, "org": getattr(who, "org", "")}


async def record(redis, action: Action | str, who, remote: str | None, **what) -> str:
    """Append one entry; returns its stream id. ``who`` is a Caller or a name."""
    action = Action(action)
    fields = {"action": action.value, **_who(who), "remote": remote or "", "t": repr(time.time()),
              "what": orjson.dumps(what, default=str)}
    entry_id = await redis.xadd(keys.AUDIT, fields, maxlen=MAX_ENTRIES, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def entry(entry_id, fields: dict) -> dict:
    """One stream entry as the JSON the API and the export show."""
    f = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
         for k, v in fields.items()}
    return {"id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id, "action": f.get("action", ""),
            "key_id": int(f["key_id"]) if f.get("key_id", "").isdigit() else None, "name": f.get("name", ""),
            "org": f.get("org", ""), "remote": f.get("remote", ""), "t": float(f.get("t") or 0),
            "what": orjson.loads(f["what"]) if f.get("what") else {}}


def valid_cursor(cursor: str) -> bool:
    return bool(_CURSOR.fullmatch(cursor))


async def read(redis, *, action: str | None = None, limit: int = 100, before: str | None = None,
               chunk: int = 500) -> tuple[list[dict], str | None]:
    """Newest first, up to ``limit`` entries older than the ``before`` entry id, optionally of one
    action. Returns (entries, cursor of the next page or None)."""
    out: list[dict] = []
    top = f"({before}" if before else "+"
    while len(out) < limit:
        batch = await redis.xrevrange(keys.AUDIT, max=top, min="-", count=chunk)
        if not batch:
            return out, None
        for entry_id, fields in batch:
            e = entry(entry_id, fields)
            if action is None or e["action"] == action:
                out.append(e)
                if len(out) == limit:
                    return out, e["id"]
        top = "(" + entry(batch[-1][0], {})["id"]
    return out, None


async def export(redis, chunk: int = 1000):
    """Every entry, oldest first, a chunk at a time (for NDJSON export)."""
    low = "-"
    while True:
        batch = await redis.xrange(keys.AUDIT, min=low, max="+", count=chunk)
        if not batch:
            return
        for entry_id, fields in batch:
            yield entry(entry_id, fields)
        low = "(" + entry(batch[-1][0], {})["id"]


async def approval_rule(redis, severities: tuple[str, ...], who: str = "settings") -> bool:
    """Record a change of which severities wait for approval (WARNCAST_APPROVAL_SEVERITIES) the
    first time a process starts with it; True if it changed."""
    rule = ",".join(sorted(severities))
    previous = await redis.getset(keys.APPROVAL_RULE, rule)
    previous = previous.decode() if previous is not None else None
    if previous == rule or (previous is None and not rule):
        return False
    await record(redis, Action.APPROVAL_RULE_CHANGED, who, "environment", severities=list(severities),
                 previous=previous.split(",") if previous else [])
    return True

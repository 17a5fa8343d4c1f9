"""Which alerts wait for a second person's approval: operator settings kept in Redis.

A rule names severities, statuses and issuing organisations ("*" = any); an alert waits when any
rule matches all three. Until an operator saves rules in the console, the rule is the environment's
(WARNCAST_APPROVAL_SEVERITIES: those severities, Actual alerts, every organisation), as before.
A Cancel never waits: stopping a warning is never held.

    wc:approval-rules   JSON {"rules": [...], "by": "key 3 (duty)", "at": <unix s>}
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from . import keys
from .cap import SEVERITY_RANK

SEVERITIES = tuple(sorted(SEVERITY_RANK, key=SEVERITY_RANK.get, reverse=True))   #: Extreme … Unknown
STATUSES = ("Actual", "Exercise", "Test")
ANY = "*"
#: Most rules kept; each names at most this many organisations.
MAX_RULES = 50
MAX_ORGS = 100


class RuleError(ValueError):
    """A rule field that is wrong; ``field`` names it (rules[i].severities …)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class Rule:
    severities: tuple[str, ...]
    statuses: tuple[str, ...] = ("Actual",)
    orgs: tuple[str, ...] = (ANY,)

    def matches(self, severity: str, status: str, org: str) -> bool:
        return (severity in self.severities or ANY in self.severities) and \
            (status in self.statuses or ANY in self.statuses) and (org in self.orgs or ANY in self.orgs)

    def as_dict(self) -> dict:
        return {"severities": list(self.severities), "statuses": list(self.statuses), "orgs": list(self.orgs)}


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    source: str                  #: "settings" (the environment's default) or "operator"
    by: str = ""
    at: float = 0.0

    def needs_approval(self, severity: str, status: str, org: str, msg_type: str = "Alert") -> bool:
        if msg_type == "Cancel":
            return False
        return any(r.matches(severity, status, org) for r in self.rules)

    def as_dict(self) -> dict:
        return {"rules": [r.as_dict() for r in self.rules], "source": self.source, "by": self.by, "at": self.at}


def from_settings(severities: tuple[str, ...]) -> Rules:
    return Rules((Rule(tuple(severities)),) if severities else (), "settings")


def _names(raw, allowed: tuple[str, ...] | None, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_ORGS:
        raise RuleError(where, f"{where}: give a list of 1 to {MAX_ORGS} values (or [\"*\"] for any)")
    for v in raw:
        if not isinstance(v, str) or not v or len(v) > 64 or (allowed and v != ANY and v not in allowed):
            hint = ", ".join(allowed) if allowed else "organisation names"
            raise RuleError(where, f"{where}: {str(v)[:40]!r} is not one of {hint} or *")
    return tuple(dict.fromkeys(raw))


def parse(body) -> tuple[Rule, ...]:
    """Rules from an operator's JSON ({"rules": [{"severities": [...], "statuses": [...], "orgs": [...]}]})."""
    raw = body.get("rules") if isinstance(body, dict) else None
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        raise RuleError("rules", f"rules: give a list of at most {MAX_RULES} rules ([] = nothing waits)")
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict):
            raise RuleError(f"rules[{i}]", f"rules[{i}]: each rule is an object")
        out.append(Rule(_names(r.get("severities"), SEVERITIES, f"rules[{i}].severities"),
                        _names(r.get("statuses", ["Actual"]), STATUSES, f"rules[{i}].statuses"),
                        _names(r.get("orgs", [ANY]), None, f"rules[{i}].orgs")))
    return tuple(out)


async def load(redis, default_severities: tuple[str, ...]) -> Rules:
    """The rules in force: the operator's, else the environment's."""
    raw = await redis.get(keys.APPROVAL_RULES)
    if raw is None:
        return from_settings(default_severities)
    d = orjson.loads(raw)
    return Rules(tuple(Rule(tuple(r["severities"]), tuple(r["statuses"]), tuple(r["orgs"])) for r in d["rules"]),
                 "operator", d.get("by", ""), float(d.get("at", 0)))


async def save(redis, rules: tuple[Rule, ...], by: str) -> Rules:
    saved = Rules(rules, "operator", by, time.time())
    await redis.set(keys.APPROVAL_RULES, orjson.dumps({"rules": [r.as_dict() for r in rules], "by": by,
                                                       "at": saved.at}))
    return saved


async def reset(redis) -> None:
    """Back to the environment's rule."""
    await redis.delete(keys.APPROVAL_RULES)

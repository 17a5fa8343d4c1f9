"""A subscriber as the API sees it, and the validation of every field a client may send."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from channels import endpoints as endpoint_checks

from . import columns as C
from . import regions
from .errors import ValidationError

SUBSCRIBER_CHANNELS = ("inapp", "hms", "fcm", "apns", "webpush", "sms")
SEVERITIES = ("Minor", "Moderate", "Severe", "Extreme")
#: minsev column value per minimum severity: the alert's rank must reach it.
MIN_SEVERITY_CELL = {"Unknown": 0, "Minor": 0, "Moderate": 2, "Severe": 3, "Extreme": 4}
COHORTS = ("test", "exercise")
#: Channels a subscriber registers an endpoint for (in-app needs none).
ENDPOINT_CHANNELS = tuple(c for c in SUBSCRIBER_CHANNELS if c != "inapp")
FIELDS = {"regions", "location", "language", "channels", "endpoints", "preferences", "cohorts", "external_id"}
#: An operator's own id for a subscriber (unique per installation): what a repeated import updates by.
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._:@/+-]{1,128}\Z")
# \Z, not $: "$" also matches before a trailing newline, which would let "22:00\n" through.
_CODE = re.compile(r"^[0-9]+\Z")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])\Z")
_OFFSET = re.compile(r"^([+-])(0[0-9]|1[0-4]):([0-5][0-9])\Z")
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")


@dataclass
class Subscriber:
    regions: list[str]
    language: str = "zh-CN"
    channels: list[str] = field(default_factory=lambda: ["inapp"])
    endpoints: dict[str, str] = field(default_factory=dict)
    location: tuple[float, float] | None = None
    categories: list[str] | None = None          #: None = every category
    min_severity: str = "Minor"
    quiet_hours: dict[str, str] | None = None    #: {"start": "22:00", "end": "07:00", "utc_offset": "+08:00"}
    cohorts: list[str] = field(default_factory=list)
    #: The operator's id for this subscriber, set by an import; None for self-registered ones.
    external_id: str | None = None
    id: int | None = None
    created: float = 0.0

    # -- the record as stored (endpoints live in their own per-channel hashes) --
    def record(self) -> dict[str, Any]:
        r: dict[str, Any] = {"r": self.regions, "l": self.language, "c": self.channels, "t": int(self.created)}
        if self.location:
            r["loc"] = list(self.location)
        if self.categories is not None:
            r["cat"] = self.categories
        if self.min_severity != "Minor":
            r["ms"] = self.min_severity
        if self.quiet_hours:
            r["q"] = self.quiet_hours
        if self.cohorts:
            r["co"] = self.cohorts
        if self.external_id:
            r["x"] = self.external_id
        return r

    @classmethod
    def from_record(cls, sid: int, rec: dict[str, Any], endpoints: dict[str, str]) -> "Subscriber":
        return cls(id=sid, regions=rec["r"], language=rec["l"], channels=rec["c"], endpoints=endpoints,
                   location=tuple(rec["loc"]) if rec.get("loc") else None, categories=rec.get("cat"),
                   min_severity=rec.get("ms", "Minor"), quiet_hours=rec.get("q"), cohorts=rec.get("co", []),
                   external_id=rec.get("x"), created=rec.get("t", 0))

    def public(self) -> dict[str, Any]:
        """The API representation."""
        return {
            "id": self.id, "regions": self.regions,
            "region_names": {c: regions.name(c, self.language) for c in self.regions},
            "language": self.language, "channels": self.channels,
            "endpoints": {k: _mask(k, v) for k, v in self.endpoints.items()},
            "location": {"lat": self.location[0], "lon": self.location[1]} if self.location else None,
            "preferences": {"categories": self.categories, "min_severity": self.min_severity,
                            "quiet_hours": self.quiet_hours},
            "cohorts": self.cohorts, "created": self.created,
            **({"external_id": self.external_id} if self.external_id else {}),
        }

    # -- the column cells targeting reads --
    def flags(self) -> int:
        f = C.EXISTS
        if "test" in self.cohorts:
            f |= C.COHORT_TEST
        if "exercise" in self.cohorts:
            f |= C.COHORT_EXERCISE
        if self.location:
            f |= C.LOCATED
        if self.quiet_hours:
            f |= C.QUIET
        return f

    def opted_out(self) -> int:
        if self.categories is None:
            return 0
        accepted = 0
        for c in self.categories:
            accepted |= C.CATEGORY_BIT[c]
        return C.ALL_CATEGORIES & ~accepted

    def quiet_cell(self) -> int:
        if not self.quiet_hours:
            return 0
        offset = _offset_minutes(self.quiet_hours.get("utc_offset", "+08:00"))
        start = (_minutes(self.quiet_hours["start"]) - offset) % 1440
        end = (_minutes(self.quiet_hours["end"]) - offset) % 1440
        return start << 16 | end

    def cells(self) -> dict[C.Column, Any]:
        cells: dict[C.Column, Any] = {
            C.FLAGS: self.flags(), C.MIN_SEVERITY: MIN_SEVERITY_CELL[self.min_severity],
            C.OPTED_OUT: self.opted_out(), C.QUIET_HOURS: self.quiet_cell(),
            C.LANGUAGE: C.language_index(self.language), C.CHAIN: C.pack_chain(self.channels),
        }
        for i, col in enumerate(C.REGIONS):
            cells[col] = C.pad_code(self.regions[i]) if i < len(self.regions) else 0
        return cells


def _mask(channel: str, value: str) -> str:
    """Endpoints are shown masked: enough to recognise, not enough to use."""
    if channel in ("sms",):
        return value[:4] + "****" + value[-2:]
    if channel == "webpush":
        return "subscription"
    return value[:6] + "…" + value[-4:]


def _minutes(hhmm: str) -> int:
    m = _HHMM.match(hhmm)
    return int(m.group(1)) * 60 + int(m.group(2))


def _offset_minutes(off: str) -> int:
    m = _OFFSET.match(off)
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 60 + int(m.group(3)))


def validate(data: Any, base: Subscriber | None = None, operator: bool = False) -> Subscriber:
    """A Subscriber from client input; with ``base``, a partial update of it (PATCH). Only an
    operator (an import) may set ``external_id``.

    Raises ValidationError naming every bad field; nothing is stored on error.
    """
    errors: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        raise ValidationError([("body", "must be a JSON object")])
    for k in data:
        if k not in FIELDS:
            errors.append((k, f"unknown field (allowed: {', '.join(sorted(FIELDS))})"))
    s = Subscriber(**{k: v for k, v in vars(base).items()}) if base else Subscriber(regions=[])
    if base:
        s.endpoints = dict(base.endpoints)

    if "regions" in data or base is None:
        s.regions = _regions(data.get("regions"), errors)
    if "language" in data:
        lang = data["language"]
        if not isinstance(lang, str) or not _LANG.match(lang):
            errors.append(("language", "must be a language tag such as zh-CN or en"))
        else:
            s.language = lang
    if "location" in data:
        s.location = _location(data["location"], errors)
    if "endpoints" in data:
        eps = data["endpoints"]
        if not isinstance(eps, dict):
            errors.append(("endpoints", "must be an object of channel → endpoint"))
        else:
            for ch, value in eps.items():
                if ch not in ENDPOINT_CHANNELS:
                    errors.append((f"endpoints.{ch}", f"unknown channel (allowed: {', '.join(ENDPOINT_CHANNELS)})"))
                elif value is None:
                    s.endpoints.pop(ch, None)
                else:
                    try:
                        s.endpoints[ch] = endpoint_checks.validate(ch, value)
                    except ValueError as exc:
                        errors.append((f"endpoints.{ch}", str(exc)))
    if "channels" in data:
        s.channels = _channels(data["channels"], errors)
    elif base is None:
        # in-app must stay in the chain, which holds at most MAX_CHAIN channels
        s.channels = [c for c in ENDPOINT_CHANNELS if c in s.endpoints][:C.MAX_CHAIN - 1] + ["inapp"]
    for ch in s.channels:
        if ch != "inapp" and ch not in s.endpoints and not any(f.startswith("endpoints.") for f, _ in errors):
            errors.append(("channels", f"channel {ch} needs endpoints.{ch}"))
    if "preferences" in data:
        _preferences(data["preferences"], s, errors)
    if "external_id" in data:
        s.external_id = _external_id(data["external_id"], operator, errors)
    if "cohorts" in data:
        co = data["cohorts"]
        if not isinstance(co, list) or any(c not in COHORTS for c in co):
            errors.append(("cohorts", f"must be a list of {', '.join(COHORTS)}"))
        else:
            s.cohorts = sorted(set(co))
    if errors:
        raise ValidationError(errors)
    return s


def _regions(value: Any, errors: list) -> list[str]:
    if not isinstance(value, list) or not value:
        errors.append(("regions", "must be a non-empty list of region codes"))
        return []
    if len(value) > C.MAX_REGIONS:
        errors.append(("regions", f"at most {C.MAX_REGIONS} region codes"))
    out = []
    for i, code in enumerate(value):
        if not isinstance(code, str) or not _CODE.match(code) or len(code) not in (2, 4, 6, 9, 12):
            errors.append((f"regions[{i}]", "must be a GB/T 2260-style code of 2, 4, 6, 9 or 12 digits"))
        elif not regions.reachable(code):
            errors.append((f"regions[{i}]", f"{code} is not in the region registry: no alert could reach it"))
        elif code not in out:
            out.append(code)
    return out


def _external_id(value: Any, operator: bool, errors: list) -> str | None:
    if not operator:
        errors.append(("external_id", "is set only by an operator's import"))
        return None
    if value is None:
        return None
    if not isinstance(value, str) or not _EXTERNAL_ID.match(value):
        errors.append(("external_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ / + -"))
        return None
    return value


def _location(value: Any, errors: list) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(("location", "must be {\"lat\": …, \"lon\": …} or null"))
        return None
    out = []
    for key, limit in (("lat", 90), ("lon", 180)):
        v = value.get(key)
        # the range comparison also rejects NaN and ±inf, and unlike math.isfinite cannot overflow on a huge int
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not -limit <= v <= limit:
            errors.append((f"location.{key}", f"must be a number between -{limit} and {limit}"))
        else:
            out.append(float(v))
    return (out[0], out[1]) if len(out) == 2 else None


def _channels(value: Any, errors: list) -> list[str]:
    if not isinstance(value, list) or not value:
        errors.append(("channels", "must be a non-empty list in preference order"))
        return ["inapp"]
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch not in SUBSCRIBER_CHANNELS:
            errors.append((f"channels[{i}]", f"unknown channel (allowed: {', '.join(SUBSCRIBER_CHANNELS)})"))
        elif ch not in out:
            out.append(ch)
    if "inapp" not in out:
        out.append("inapp")
    if len(out) > C.MAX_CHAIN:
        errors.append(("channels", f"at most {C.MAX_CHAIN} channels including inapp"))
    return out


def _preferences(value: Any, s: Subscriber, errors: list) -> None:
    if not isinstance(value, dict):
        errors.append(("preferences", "must be an object"))
        return
    for k in value:
        if k not in ("categories", "min_severity", "quiet_hours"):
            errors.append((f"preferences.{k}", "unknown preference"))
    if "categories" in value:
        cats = value["categories"]
        if cats is None:
            s.categories = None
        elif not isinstance(cats, list) or not all(isinstance(c, str) and c in C.CATEGORY_BIT for c in cats):
            errors.append(("preferences.categories", f"must be null (all) or a list of {', '.join(C.CATEGORIES)}"))
        else:
            s.categories = [c for c in C.CATEGORIES if c in cats]
    if "min_severity" in value:
        ms = value["min_severity"]
        if ms not in SEVERITIES:
            errors.append(("preferences.min_severity", f"must be one of {', '.join(SEVERITIES)}"))
        else:
            s.min_severity = ms
    if "quiet_hours" in value:
        q = value["quiet_hours"]
        if q is None:
            s.quiet_hours = None
        elif (not isinstance(q, dict) or not _HHMM.match(str(q.get("start", "")))
              or not _HHMM.match(str(q.get("end", ""))) or not _OFFSET.match(str(q.get("utc_offset", "+08:00")))):
            errors.append(("preferences.quiet_hours",
                           'must be {"start": "HH:MM", "end": "HH:MM", "utc_offset": "+08:00"} or null'))
        else:
            s.quiet_hours = {"start": q["start"], "end": q["end"], "utc_offset": q.get("utc_offset", "+08:00")}

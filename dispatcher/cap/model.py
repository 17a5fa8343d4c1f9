"""A CAP 1.2 alert as plain dataclasses, in CAP's terms with Python spelling.

Instances built by :func:`parse_xml` / :func:`parse_json` have passed every
check in :mod:`dispatcher.cap.validate`; instances built by hand have not.
Coordinates are ``(lat, lon)`` as in CAP; circle radii are kilometres.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .vocab import SEVERITY_RANK, URGENCY_RANK


@dataclass
class Geocode:
    value_name: str
    value: str


@dataclass
class EventCode:
    value_name: str
    value: str


@dataclass
class Parameter:
    value_name: str
    value: str


@dataclass
class Area:
    area_desc: str
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    circles: list[tuple[float, float, float]] = field(default_factory=list)
    geocodes: list[Geocode] = field(default_factory=list)
    #: feet above mean sea level, as in CAP
    altitude: float | None = None
    ceiling: float | None = None


@dataclass
class Resource:
    resource_desc: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass
class Info:
    language: str = "en-US"
    categories: list[str] = field(default_factory=list)
    event: str = ""
    response_types: list[str] = field(default_factory=list)
    urgency: str = "Unknown"
    severity: str = "Unknown"
    certainty: str = "Unknown"
    audience: str | None = None
    event_codes: list[EventCode] = field(default_factory=list)
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: list[Parameter] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)

    def parameter(self, name: str) -> str | None:
        """Value of the first parameter with this valueName (case-insensitive)."""
        wanted = name.casefold()
        for p in self.parameters:
            if p.value_name.casefold() == wanted:
                return p.value
        return None


@dataclass
class Reference:
    sender: str
    identifier: str
    #: kept as the original string: it is part of the referenced alert's identity
    sent: str

    def identity(self) -> tuple[str, str, str]:
        return (self.sender, self.identifier, self.sent)


@dataclass
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str = "Actual"
    msg_type: str = "Alert"
    source: str | None = None
    scope: str = "Public"
    restriction: str | None = None
    addresses: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    note: str | None = None
    references: list[Reference] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    infos: list[Info] = field(default_factory=list)
    #: the sent value exactly as given; with sender and identifier it identifies the alert
    sent_text: str = ""
    #: what the reader accepted but wants looked at (FieldErrors): not part of the alert itself
    warnings: list = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.sent_text and self.sent is not None:
            self.sent_text = self.sent.isoformat()

    def identity(self) -> tuple[str, str, str]:
        return (self.sender, self.identifier, self.sent_text)

    def expires_at(self) -> datetime | None:
        """Latest expiry over the infos; None when any info (or the alert) has no expiry."""
        if not self.infos or any(i.expires is None for i in self.infos):
            return None
        return max(i.expires for i in self.infos)

    def info_for(self, lang: str) -> Info:
        """The info to show a reader of ``lang``: exact tag, then same primary subtag, then the first."""
        if not self.infos:
            raise LookupError(f"alert {self.identifier!r} has no info")
        wanted = lang.casefold()
        for info in self.infos:
            if info.language.casefold() == wanted:
                return info
        primary = wanted.split("-", 1)[0]
        for info in self.infos:
            if info.language.casefold().split("-", 1)[0] == primary:
                return info
        return self.infos[0]

    def severity(self) -> str:
        """Highest severity over the infos (Unknown when there are none)."""
        return max((i.severity for i in self.infos), key=lambda s: SEVERITY_RANK.get(s, 0),
                   default="Unknown")

    def urgency(self) -> str:
        """Most pressing urgency over the infos (Unknown when there are none)."""
        return max((i.urgency for i in self.infos), key=lambda u: URGENCY_RANK.get(u, 0),
                   default="Unknown")

    def categories(self) -> set[str]:
        return {c for i in self.infos for c in i.categories}

    def geocodes(self) -> list[str]:
        """Values of every area's geocodes, each once, in order of appearance."""
        seen: dict[str, None] = {}
        for info in self.infos:
            for area in info.areas:
                for g in area.geocodes:
                    seen.setdefault(g.value, None)
        return list(seen)

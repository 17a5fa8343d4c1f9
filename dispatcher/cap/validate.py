"""Every CAP 1.2 rule, applied once to the plain form both readers produce.

:func:`build_alert` takes the plain form (see :mod:`dispatcher.cap.schema`),
checks each rule, collects every problem with its element path, and either
returns an :class:`Alert` or raises one :class:`CapError` listing them all.
"""
from __future__ import annotations

import difflib
import math
import re
from datetime import datetime
from typing import Any

from . import vocab
from .datetimes import parse_datetime
from .errors import CapError, FieldError
from .geometry import parse_circle, parse_polygon
from .levels import is_level_parameter, level_to_severity
from .model import Alert, Area, EventCode, Geocode, Info, Parameter, Reference, Resource

_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_WHOLE = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_QUOTED_OR_WORD = re.compile(r'"([^"]*)"|(\S+)')
#: Misspelt names get a "did you mean" only among the first errors: the rest are not read by anyone.
MAX_SUGGESTIONS = 50


def build_alert(raw: dict[str, Any], errors: list[FieldError] | None = None) -> Alert:
    """An Alert from the plain form, or CapError with ``errors`` plus every problem found here."""
    checker = _Checker(list(errors or ()))
    alert = checker.alert(raw, "alert")
    if checker.errors:
        raise CapError(checker.errors)
    assert alert is not None
    alert.warnings = checker.warnings
    return alert


def split_quoted(text: str) -> list[str]:
    """Space-separated items, multi-word ones in double quotes (CAP addresses and incidents)."""
    items = (m.group(1) if m.group(1) is not None else m.group(2) for m in _QUOTED_OR_WORD.finditer(text))
    return [item for item in items if item]


class _Checker:
    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        self.warnings: list[FieldError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(FieldError(path, message))

    # -- values ---------------------------------------------------------------

    def clean(self, value: str, path: str) -> str:
        value = value.strip()
        bad = _CONTROL.search(value)
        if bad:
            self.error(path, f"contains the control character U+{ord(bad.group()):04X}, which CAP cannot carry")
        return value

    def text(self, node: dict, name: str, path: str, required: bool = False) -> str | None:
        value = node.get(name)
        value = self.clean(value, f"{path}/{name}") if value is not None else None
        if not value:
            if required:
                self.error(f"{path}/{name}", "is required")
            return None
        return value

    def texts(self, node: dict, name: str, path: str, empty_ok: bool = False) -> list[tuple[str, str]]:
        """(path, value) for each non-empty item of a repeated element. Empty items are errors, or,
        where the schema allows an empty string (``empty_ok``), skipped with a warning."""
        out = []
        for i, value in enumerate(node.get(name) or ()):
            if value is None:  # already reported by the reader
                continue
            item_path = f"{path}/{name}[{i}]"
            value = self.clean(value, item_path)
            if value:
                out.append((item_path, value))
            elif empty_ok:
                self.warn(item_path, "is empty and was ignored")
            else:
                self.error(item_path, "must not be empty")
        return out

    @staticmethod
    def nodes(node: dict, name: str) -> list[tuple[int, dict]]:
        """(index, child) of a repeated element, skipping items the reader already reported."""
        return [(i, child) for i, child in enumerate(node.get(name) or ()) if child is not None]

    def enum(self, value: str | None, allowed: tuple[str, ...], path: str) -> str | None:
        if value is None or value in allowed:
            return value
        hint = next((a for a in allowed if a.casefold() == value.casefold()), None)
        message = f"{value!r} is not one of {', '.join(allowed)}"
        self.error(path, message + (f" (values are case-sensitive: did you mean {hint!r}?)" if hint else ""))
        return None

    def token(self, value: str | None, path: str) -> str | None:
        if value is not None and (bad := _FORBIDDEN_IN_ID.search(value)):
            self.error(path, f"must not contain whitespace, commas, '<' or '&' (found {bad.group()!r})")
        return value

    def date_time(self, node: dict, name: str, path: str, required: bool = False) -> tuple[datetime | None, str | None]:
        text = self.text(node, name, path, required)
        if text is None:
            return None, None
        try:
            return parse_datetime(text), text
        except ValueError as exc:
            self.error(f"{path}/{name}", str(exc))
            return None, None

    def number(self, node: dict, name: str, path: str) -> float | None:
        value = node.get(name)
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            if math.isfinite(value):
                return float(value)
            self.error(f"{path}/{name}", f"{value!r} is not a finite number")
            return None
        text = self.text(node, name, path)
        if text is None:
            return None
        if not _DECIMAL.fullmatch(text):
            self.error(f"{path}/{name}", f"{text!r} is not a decimal number")
            return None
        return float(text)

    def pairs(self, node: dict, name: str, path: str, cls: type) -> list:
        """(path, pair) of each valueName/value pair; an empty ``<value/>`` (the schema allows it) is kept
        as '' for parameters and event codes, and a geocode with no value is ignored with a warning."""
        out = []
        for i, pair in self.nodes(node, name):
            pair_path = f"{path}/{name}[{i}]"
            value_name = self.text(pair, "valueName", pair_path, required=True)
            if "value" not in pair:
                self.error(f"{pair_path}/value", "is required")
                continue
            value = self.text(pair, "value", pair_path) or ""
            if value_name is None:
                continue
            if not value and name == "geocode":
                self.warn(f"{pair_path}/value", f"is empty: this {value_name} geocode was ignored")
                continue
            out.append((pair_path, cls(value_name, value)))
        return out

    # -- elements -------------------------------------------------------------

    def alert(self, raw: dict, path: str) -> Alert | None:
        identifier = self.token(self.text(raw, "identifier", path, required=True), f"{path}/identifier")
        sender = self.token(self.text(raw, "sender", path, required=True), f"{path}/sender")
        sent, sent_text = self.date_time(raw, "sent", path, required=True)
        status = self.enum(self.text(raw, "status", path, required=True), vocab.STATUS, f"{path}/status")
        msg_type = self.enum(self.text(raw, "msgType", path, required=True), vocab.MSG_TYPE, f"{path}/msgType")
        scope = self.enum(self.text(raw, "scope", path, required=True), vocab.SCOPE, f"{path}/scope")
        restriction = self.text(raw, "restriction", path)
        if scope == "Restricted" and restriction is None:
            self.error(f"{path}/restriction", "is required when scope is Restricted")
        addresses = self.quoted_list(raw, "addresses", path)
        if scope == "Private" and not addresses:
            self.error(f"{path}/addresses", "is required when scope is Private")
        references = self.references(raw, path)
        if msg_type in vocab.NEEDS_REFERENCES and not references and f"{path}/references" not in self.paths():
            self.error(f"{path}/references", f"is required when msgType is {msg_type}")
        infos = [self.info(info, f"{path}/info[{i}]") for i, info in self.nodes(raw, "info")]
        alert = Alert(
            identifier=identifier, sender=sender, sent=sent, sent_text=sent_text, status=status,
            msg_type=msg_type, source=self.text(raw, "source", path), scope=scope, restriction=restriction,
            addresses=addresses, codes=[v for _, v in self.texts(raw, "code", path, empty_ok=True)],
            note=self.text(raw, "note", path), references=references,
            incidents=self.quoted_list(raw, "incidents", path), infos=infos,
        )
        return None if self.errors else alert

    def paths(self) -> set[str]:
        return {e.path for e in self.errors}

    def quoted_list(self, raw: dict, name: str, path: str) -> list[str]:
        text = self.text(raw, name, path)
        if text is None:
            return []
        if text.count('"') % 2:
            self.error(f"{path}/{name}", "has an unclosed double quote")
            return []
        return split_quoted(text)

    def references(self, raw: dict, path: str) -> list[Reference]:
        text = self.text(raw, "references", path)
        if text is None:
            return []
        out = []
        for i, triple in enumerate(text.split()):
            parts = triple.split(",")
            if len(parts) != 3 or not all(parts):
                self.error(f"{path}/references", f"reference {i} {triple!r} is not sender,identifier,sent")
                continue
            try:
                parse_datetime(parts[2])
            except ValueError as exc:
                self.error(f"{path}/references", f"reference {i} sent: {exc}")
                continue
            out.append(Reference(*parts))
        return out

    def info(self, raw: dict, path: str) -> Info | None:
        language = self.text(raw, "language", path) or "en-US"
        if not _LANGUAGE.fullmatch(language):
            self.error(f"{path}/language", f"{language!r} is not a language tag such as zh-CN or en-US")
        categories = [self.enum(v, vocab.CATEGORY, p) for p, v in self.texts(raw, "category", path)]
        if not raw.get("category"):
            self.error(f"{path}/category", "is required (at least one)")
        event = self.text(raw, "event", path, required=True)
        response_types = [self.enum(v, vocab.RESPONSE_TYPE, p) for p, v in self.texts(raw, "responseType", path)]
        urgency = self.enum(self.text(raw, "urgency", path, required=True), vocab.URGENCY, f"{path}/urgency")
        severity = self.enum(self.text(raw, "severity", path, required=True), vocab.SEVERITY, f"{path}/severity")
        certainty = self.enum(self.text(raw, "certainty", path, required=True), vocab.CERTAINTY, f"{path}/certainty")
        effective, _ = self.date_time(raw, "effective", path)
        onset, _ = self.date_time(raw, "onset", path)
        expires, expires_text = self.date_time(raw, "expires", path)
        if expires is not None and effective is not None and expires <= effective:
            self.error(f"{path}/expires", f"{expires_text} is not after effective ({effective.isoformat()})")
        parameters = self.pairs(raw, "parameter", path, Parameter)
        severity = self.level(parameters, severity)
        resources = [self.resource(r, f"{path}/resource[{i}]") for i, r in self.nodes(raw, "resource")]
        areas = [self.area(a, f"{path}/area[{i}]") for i, a in self.nodes(raw, "area")]
        return Info(
            language=language, categories=categories, event=event, response_types=response_types,
            urgency=urgency, severity=severity, certainty=certainty,
            audience=self.text(raw, "audience", path),
            event_codes=[c for _, c in self.pairs(raw, "eventCode", path, EventCode)],
            effective=effective, onset=onset, expires=expires,
            sender_name=self.text(raw, "senderName", path), headline=self.text(raw, "headline", path),
            description=self.text(raw, "description", path), instruction=self.text(raw, "instruction", path),
            web=self.text(raw, "web", path), contact=self.text(raw, "contact", path),
            parameters=[p for _, p in parameters], resources=resources, areas=areas,
        )

    def level(self, parameters: list[tuple[str, Parameter]], severity: str | None) -> str | None:
        """Check China warning-level parameters against severity; fill an Unknown severity from them."""
        for path, p in parameters:
            if not is_level_parameter(p.value_name):
                continue
            try:
                implied = level_to_severity(p.value)
            except ValueError as exc:
                self.error(path, str(exc))
                continue
            if severity == "Unknown":
                severity = implied
            elif severity is not None and severity != implied:
                self.error(path, f"level {p.value} means severity {implied} but severity is {severity}")
        return severity

    def resource(self, raw: dict, path: str) -> Resource | None:
        desc = self.text(raw, "resourceDesc", path, required=True)
        mime_type = self.text(raw, "mimeType", path, required=True)
        if mime_type is not None and "/" not in mime_type:
            self.error(f"{path}/mimeType", f"{mime_type!r} is not a MIME type such as image/png")
        size = None
        raw_size = raw.get("size")
        if isinstance(raw_size, int) and not isinstance(raw_size, bool):
            size = raw_size
        elif raw_size is not None:
            text = self.clean(str(raw_size), f"{path}/size")
            if _WHOLE.fullmatch(text):
                size = int(text)
            else:
                self.error(f"{path}/size", f"{raw_size!r} is not a whole number of bytes")
        if size is not None and size < 0:
            self.error(f"{path}/size", f"{size} is negative; size is a number of bytes >= 0")
        return Resource(resource_desc=desc, mime_type=mime_type, size=size, uri=self.text(raw, "uri", path),
                        deref_uri=self.text(raw, "derefUri", path), digest=self.text(raw, "digest", path))

    def area(self, raw: dict, path: str) -> Area | None:
        desc = self.text(raw, "areaDesc", path, required=True)
        polygons = []
        for item_path, text in self.texts(raw, "polygon", path, empty_ok=True):
            try:
                polygons.append(parse_polygon(text))
            except ValueError as exc:
                self.error(item_path, str(exc))
        circles = []
        for item_path, text in self.texts(raw, "circle", path, empty_ok=True):
            try:
                circles.append(parse_circle(text))
            except ValueError as exc:
                self.error(item_path, str(exc))
        altitude = self.number(raw, "altitude", path)
        ceiling = self.number(raw, "ceiling", path)
        if ceiling is not None and altitude is None and f"{path}/altitude" not in self.paths():
            self.error(f"{path}/ceiling", "may only be given together with altitude")
        elif ceiling is not None and altitude is not None and ceiling < altitude:
            self.error(f"{path}/ceiling", f"{ceiling:g} is below altitude {altitude:g}")
        return Area(area_desc=desc, polygons=polygons, circles=circles,
                    geocodes=[g for _, g in self.pairs(raw, "geocode", path, Geocode)],
                    altitude=altitude, ceiling=ceiling)


def suggest(name: str, allowed: list[str]) -> str:
    """'; did you mean …?' for a misspelt element name, or ''."""
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.75)
    if not close:
        folded = {a.casefold(): a for a in allowed}
        close = [folded[name.casefold()]] if name.casefold() in folded else []
    return f"; did you mean {close[0]!r}?" if close else ""

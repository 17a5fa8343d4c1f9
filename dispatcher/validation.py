"""Validate a CAP document without storing or sending it: the checks intake applies, as a report.

Used by ``warncast validate FILE…`` (offline) and ``POST /api/v1/alerts:validate``
(which adds what only a running installation knows: unknown references, the
caller's scopes and the audience estimate).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import cap, intake
from .cap.errors import FieldError
from .errors import TooLarge
from .settings import Settings

VALID, WARNINGS, ERRORS = 0, 1, 2


@dataclass
class Report:
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)
    alert: cap.Alert | None = None

    @property
    def outcome(self) -> int:
        """0 valid, 1 valid with warnings, 2 refused (the CLI's exit code)."""
        return ERRORS if self.errors else (WARNINGS if self.warnings else VALID)

    def as_dict(self) -> dict:
        return {"valid": not self.errors,
                "errors": [{"path": e.path, "message": e.message} for e in self.errors],
                "warnings": [{"path": w.path, "message": w.message} for w in self.warnings]}


def media_type_of(body: bytes) -> str:
    """JSON when the document starts with '{' (after a BOM and spaces), else CAP XML."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "application/json" if head == b"{" else "application/cap+xml"


def validate(body: bytes, content_type: str | None, settings: Settings) -> Report:
    """Every error and warning intake would give this document (references and scopes aside)."""
    report = Report()
    try:
        alert = cap.parse(body, content_type or media_type_of(body), settings.max_body_bytes)
    except cap.CapError as exc:
        report.errors = list(exc.errors)
        return report
    try:
        found = intake.review(alert, settings)
    except TooLarge as exc:
        report.errors = [FieldError(e["path"], e["message"]) for e in exc.errors]
        report.warnings = list(alert.warnings)
        return report
    report.errors, report.warnings, report.alert = found.errors, found.warnings, alert
    expires = alert.expires_at()
    if expires is not None and expires.timestamp() <= time.time():
        report.errors.append(FieldError("alert/info/expires", f"expired at {expires.isoformat()}; "
                                        "nothing would be sent"))
    return report

"""What intake checks beyond the CAP standard, shared by publishing and validating.

:func:`review` applies the installation's own rules to a parsed alert and
returns every error (the message is refused) and warning (accepted, but look
at this); :func:`unknown_references` names the referenced alerts this
installation never saw. Per-alert size limits raise at once (413) so an
oversized alert costs no more than a count.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from subscribers.columns import LANGUAGES

from . import geocodes, limits
from .cap import Alert
from .cap.errors import FieldError
from .settings import Settings

#: An expiry further away than this is probably a mistake (a year typed wrong): warn.
FAR_EXPIRY_S = 30 * 86_400


@dataclass
class Review:
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    def as_lists(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        return _dicts(self.errors), _dicts(self.warnings)


def _dicts(items: list[FieldError]) -> list[dict[str, str]]:
    return [{"path": e.path, "message": e.message} for e in items]


def review(alert: Alert, settings: Settings, now: float | None = None) -> Review:
    """Errors and warnings of a parsed alert; TooLarge when it is over a per-alert limit."""
    limits.check(alert, settings)
    out = Review(warnings=list(alert.warnings))
    errors, warnings = geocodes.review(alert)
    out.errors += errors
    out.warnings += warnings
    out.warnings += _info_warnings(alert, time.time() if now is None else now)
    return out


def _has_template(language: str) -> bool:
    primary = language.split("-", 1)[0].casefold()
    return any(known.split("-", 1)[0].casefold() == primary for known in LANGUAGES)


def _info_warnings(alert: Alert, now: float) -> list[FieldError]:
    out = []
    for i, info in enumerate(alert.infos):
        path = f"alert/info[{i}]"
        if not info.areas and alert.msg_type != "Cancel":
            out.append(FieldError(f"{path}/area", "this info has no area: it reaches no one by region or location"))
        if info.expires is not None and info.expires.timestamp() - now > FAR_EXPIRY_S:
            days = int((info.expires.timestamp() - now) // 86_400)
            out.append(FieldError(f"{path}/expires", f"{info.expires.isoformat()} is {days} days away; "
                                  "is the date right?"))
        if not _has_template(info.language):
            out.append(FieldError(f"{path}/language", f"no message template for {info.language!r} "
                                  f"(templates: {', '.join(LANGUAGES)}); subscribers get a templated language"))
    return out


def reference_warnings(unknown: list[str]) -> list[FieldError]:
    return [FieldError("alert/references", f"references {identity}, an alert this installation never saw; "
                       "the message reaches its own area only") for identity in unknown]

"""CAP 1.2 date-times: ``YYYY-MM-DDThh:mm:ss[.fff]±hh:mm``, always with an explicit offset."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:(?P<sign>[+-])([0-9]{2}):([0-9]{2})|(?P<z>Z))?"
)

SHAPE = "YYYY-MM-DDThh:mm:ss±hh:mm, e.g. 2026-07-30T14:00:00+08:00"


def parse_datetime(text: str) -> datetime:
    """A tz-aware datetime; ValueError with a message fit for an issuer otherwise."""
    m = _DATETIME.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a CAP date-time {SHAPE}")
    year, month, day, hour, minute, second, fraction, _, off_h, off_m, _ = m.groups()
    if m.group("z"):
        raise ValueError(f"{text!r} needs an explicit offset such as +08:00; a trailing Z is not allowed in CAP 1.2 "
                         "(write UTC as -00:00 or +00:00)")
    if m.group("sign") is None:
        raise ValueError(f"{text!r} needs an explicit offset such as +08:00")
    if int(off_h) > 14 or int(off_m) > 59:
        raise ValueError(f"{text!r} has an impossible offset {m.group('sign')}{off_h}:{off_m}")
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    if m.group("sign") == "-":
        offset = -offset
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                        tzinfo=timezone(offset))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real date-time: {exc}") from None


def format_datetime(value: datetime) -> str:
    """CAP text for a tz-aware datetime, keeping its offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value!r} has no offset; CAP date-times need one")
    return value.isoformat()

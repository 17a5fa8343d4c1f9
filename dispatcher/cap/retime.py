"""Move a CAP document's times so that it is current: ``warncast publish --now``.

``sent`` becomes now; ``effective``, ``onset`` and ``expires`` move by the same amount, so
their spacing is kept (a sample that expired six hours after it was sent does so again).
Everything else in the document is left as it is written, byte for byte in XML.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from .datetimes import format_datetime, parse_datetime

TIMES = ("sent", "effective", "onset", "expires")
_XML_TIME = re.compile(rb"(<(?:[\w.-]+:)?(sent|effective|onset|expires)>)(\s*)([^<]*?)(\s*)(</)")


class RetimeError(ValueError):
    """The document has no readable ``sent`` to move from."""


def shift(value: str, delta: timedelta) -> str:
    moved = parse_datetime(value) + delta
    return format_datetime(moved)


def delta_to_now(sent: str, now: datetime | None = None) -> timedelta:
    try:
        when = parse_datetime(sent.strip())
    except ValueError as exc:
        raise RetimeError(f"sent: {exc}") from None
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    return now - when.replace(microsecond=0)


def retime_xml(data: bytes, now: datetime | None = None) -> bytes:
    sent = next((m for m in _XML_TIME.finditer(data) if m.group(2) == b"sent"), None)
    if sent is None:
        raise RetimeError("the alert has no <sent> element to move from")
    delta = delta_to_now(sent.group(4).decode("utf-8", "replace"), now)

    def move(m: re.Match) -> bytes:
        try:
            value = shift(m.group(4).decode(), delta).encode()
        except (UnicodeDecodeError, ValueError):
            return m.group(0)      # left for validation to name
        return m.group(1) + m.group(3) + value + m.group(5) + m.group(6)

    return _XML_TIME.sub(move, data)


def retime_json(data: bytes, now: datetime | None = None) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise RetimeError(f"not valid JSON ({exc})") from None
    alert = doc.get("alert", doc) if isinstance(doc, dict) else None
    if not isinstance(alert, dict) or not isinstance(alert.get("sent"), str):
        raise RetimeError("the alert has no \"sent\" to move from")
    delta = delta_to_now(alert["sent"], now)
    _walk(alert, delta)
    return json.dumps(doc, ensure_ascii=False, indent=2).encode()


def _walk(node, delta: timedelta) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, delta)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in TIMES and isinstance(value, str):
                try:
                    node[key] = shift(value, delta)
                except ValueError:
                    pass           # left for validation to name
            else:
                _walk(value, delta)


def retime(data: bytes, is_json: bool, now: datetime | None = None) -> bytes:
    """The document with sent = now and its other times moved by as much."""
    return retime_json(data, now) if is_json else retime_xml(data, now)

"""Shared builders for the CAP tests: a minimal valid alert in the JSON form, and its XML twin."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from dispatcher.cap.schema import CAP_NS

SAMPLES = Path(__file__).resolve().parents[3] / "dispatcher" / "samples"

#: Marks a key to remove in :func:`patched`.
DELETE = object()

_MINIMAL: dict[str, Any] = {
    "identifier": "bjmb-20260730-001",
    "sender": "bjmb@cma.gov.cn",
    "sent": "2026-07-30T14:00:00+08:00",
    "status": "Actual",
    "msgType": "Alert",
    "scope": "Public",
    "info": [
        {
            "language": "zh-CN",
            "category": ["Met"],
            "event": "暴雨",
            "urgency": "Immediate",
            "severity": "Extreme",
            "certainty": "Likely",
            "expires": "2026-07-30T20:00:00+08:00",
            "parameter": [{"valueName": "level", "value": "red"}],
            "area": [{"areaDesc": "东城区", "geocode": [{"valueName": "GB/T 2260", "value": "110101"}]}],
        },
        {
            "language": "en-US",
            "category": ["Met"],
            "event": "Rainstorm",
            "urgency": "Immediate",
            "severity": "Extreme",
            "certainty": "Likely",
            "expires": "2026-07-30T20:00:00+08:00",
            "area": [{"areaDesc": "Dongcheng", "geocode": [{"valueName": "GB/T 2260", "value": "110101"}]}],
        },
    ],
}


def minimal() -> dict[str, Any]:
    """A fresh copy of a small valid alert (two infos, zh-CN first) in the JSON form."""
    return copy.deepcopy(_MINIMAL)


def patched(changes: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (default :func:`minimal`) with dotted-path changes, e.g. ``{"info.0.area.0.polygon": [...]}``.

    An index one past the end of a list appends to it.
    """
    doc = copy.deepcopy(base) if base is not None else minimal()
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        elif isinstance(node, list) and key == len(node):
            node.append(value)
        else:
            node[key] = value
    return doc


def xml_of(doc: dict[str, Any]) -> bytes:
    """The JSON form written as CAP XML, keys in the order given — no validation, so invalid alerts stay invalid."""

    def element(name: str, value: Any) -> str:
        if isinstance(value, list):
            return "".join(element(name, item) for item in value)
        if isinstance(value, dict):
            return f"<{name}>" + "".join(element(k, v) for k, v in value.items()) + f"</{name}>"
        return f"<{name}>{escape(str(value))}</{name}>"

    body = "".join(element(k, v) for k, v in doc.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="{CAP_NS}">{body}</alert>'.encode()

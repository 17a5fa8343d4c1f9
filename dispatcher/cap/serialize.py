"""Write an Alert as CAP 1.2: the JSON form (:func:`to_dict`) and XML (:func:`to_xml`).

Both come out in the standard's element order and read back, through
:func:`parse_json` and :func:`parse_xml`, to an equal Alert. ``sent`` is
written exactly as it was received, since it is part of the alert's identity.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

from .datetimes import format_datetime
from .model import Alert, Area, Info, Resource
from .schema import CAP_NS, ELEMENTS, Kind


def to_dict(alert: Alert) -> dict[str, Any]:
    """The JSON form: CAP element names as keys, repeated elements as arrays, empty ones left out."""
    return _prune({
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent_text or format_datetime(alert.sent),
        "status": alert.status,
        "msgType": alert.msg_type,
        "source": alert.source,
        "scope": alert.scope,
        "restriction": alert.restriction,
        "addresses": _join_quoted(alert.addresses),
        "code": list(alert.codes),
        "note": alert.note,
        "references": " ".join(f"{r.sender},{r.identifier},{r.sent}" for r in alert.references),
        "incidents": _join_quoted(alert.incidents),
        "info": [_info(i) for i in alert.infos],
    })


def to_xml(alert: Alert) -> bytes:
    """CAP 1.2 XML in UTF-8, indented, namespace ``urn:oasis:names:tc:emergency:cap:1.2``."""
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _fill(root, "alert", to_dict(alert))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", default_namespace=CAP_NS)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8") + b"\n"


def _fill(parent: ET.Element, kind_name: str, node: dict[str, Any]) -> None:
    for name, (kind, child_kind) in ELEMENTS[kind_name].items():
        if name not in node:
            continue
        value = node[name]
        if kind is Kind.TEXT:
            ET.SubElement(parent, f"{{{CAP_NS}}}{name}").text = value
        elif kind is Kind.NUMBER:
            ET.SubElement(parent, f"{{{CAP_NS}}}{name}").text = _number(value)
        elif kind is Kind.TEXTS:
            for item in value:
                ET.SubElement(parent, f"{{{CAP_NS}}}{name}").text = item
        else:
            for item in value:
                _fill(ET.SubElement(parent, f"{{{CAP_NS}}}{name}"), child_kind, item)


def _info(info: Info) -> dict[str, Any]:
    return _prune({
        "language": info.language,
        "category": list(info.categories),
        "event": info.event,
        "responseType": list(info.response_types),
        "urgency": info.urgency,
        "severity": info.severity,
        "certainty": info.certainty,
        "audience": info.audience,
        "eventCode": [{"valueName": c.value_name, "value": c.value} for c in info.event_codes],
        "effective": info.effective and format_datetime(info.effective),
        "onset": info.onset and format_datetime(info.onset),
        "expires": info.expires and format_datetime(info.expires),
        "senderName": info.sender_name,
        "headline": info.headline,
        "description": info.description,
        "instruction": info.instruction,
        "web": info.web,
        "contact": info.contact,
        "parameter": [{"valueName": p.value_name, "value": p.value} for p in info.parameters],
        "resource": [_resource(r) for r in info.resources],
        "area": [_area(a) for a in info.areas],
    })


def _resource(resource: Resource) -> dict[str, Any]:
    return _prune({
        "resourceDesc": resource.resource_desc,
        "mimeType": resource.mime_type,
        "size": resource.size,
        "uri": resource.uri,
        "derefUri": resource.deref_uri,
        "digest": resource.digest,
    })


def _area(area: Area) -> dict[str, Any]:
    return _prune({
        "areaDesc": area.area_desc,
        "polygon": [" ".join(f"{_number(lat)},{_number(lon)}" for lat, lon in ring) for ring in area.polygons],
        "circle": [f"{_number(lat)},{_number(lon)} {_number(radius)}" for lat, lon, radius in area.circles],
        "geocode": [{"valueName": g.value_name, "value": g.value} for g in area.geocodes],
        "altitude": area.altitude,
        "ceiling": area.ceiling,
    })


def _prune(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if v is not None and v != "" and v != []}


def _number(value: float | int | str) -> str:
    """Shortest exact decimal text, without exponent or a trailing '.0'."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def _join_quoted(items: list[str]) -> str:
    return " ".join(f'"{item}"' if any(c.isspace() for c in item) else item for item in items)

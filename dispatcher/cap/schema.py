"""The shape of a CAP 1.2 message: each element's children in the standard's order.

Both readers turn their input into the same plain form — a dict per element,
keyed by CAP's own element names, with text, lists of text or lists of child
dicts — and the serializers walk the same table, so element order is defined
once.
"""
from __future__ import annotations

from enum import Enum

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_11_NS = "urn:oasis:names:tc:emergency:cap:1.1"
CAP_10_NS = "http://www.incident.com/cap/1.0"
#: Namespaces read, each as the CAP version it is; everything is read into the 1.2 model.
CAP_VERSIONS = {CAP_NS: "1.2", CAP_11_NS: "1.1", CAP_10_NS: "1.0"}
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


class Kind(str, Enum):
    TEXT = "text"        #: one element holding text
    NUMBER = "number"    #: one element holding a number (a JSON number or string)
    TEXTS = "texts"      #: a repeated element holding text
    NODES = "nodes"      #: a repeated element holding child elements


#: element name -> {child name: (kind, child element type for NODES)}
ELEMENTS: dict[str, dict[str, tuple[Kind, str | None]]] = {
    "alert": {
        "identifier": (Kind.TEXT, None),
        "sender": (Kind.TEXT, None),
        "sent": (Kind.TEXT, None),
        "status": (Kind.TEXT, None),
        "msgType": (Kind.TEXT, None),
        "source": (Kind.TEXT, None),
        "scope": (Kind.TEXT, None),
        "restriction": (Kind.TEXT, None),
        "addresses": (Kind.TEXT, None),
        "code": (Kind.TEXTS, None),
        "note": (Kind.TEXT, None),
        "references": (Kind.TEXT, None),
        "incidents": (Kind.TEXT, None),
        "info": (Kind.NODES, "info"),
    },
    "info": {
        "language": (Kind.TEXT, None),
        "category": (Kind.TEXTS, None),
        "event": (Kind.TEXT, None),
        "responseType": (Kind.TEXTS, None),
        "urgency": (Kind.TEXT, None),
        "severity": (Kind.TEXT, None),
        "certainty": (Kind.TEXT, None),
        "audience": (Kind.TEXT, None),
        "eventCode": (Kind.NODES, "valuePair"),
        "effective": (Kind.TEXT, None),
        "onset": (Kind.TEXT, None),
        "expires": (Kind.TEXT, None),
        "senderName": (Kind.TEXT, None),
        "headline": (Kind.TEXT, None),
        "description": (Kind.TEXT, None),
        "instruction": (Kind.TEXT, None),
        "web": (Kind.TEXT, None),
        "contact": (Kind.TEXT, None),
        "parameter": (Kind.NODES, "valuePair"),
        "resource": (Kind.NODES, "resource"),
        "area": (Kind.NODES, "area"),
    },
    "resource": {
        "resourceDesc": (Kind.TEXT, None),
        "mimeType": (Kind.TEXT, None),
        "size": (Kind.NUMBER, None),
        "uri": (Kind.TEXT, None),
        "derefUri": (Kind.TEXT, None),
        "digest": (Kind.TEXT, None),
    },
    "area": {
        "areaDesc": (Kind.TEXT, None),
        "polygon": (Kind.TEXTS, None),
        "circle": (Kind.TEXTS, None),
        "geocode": (Kind.NODES, "valuePair"),
        "altitude": (Kind.NUMBER, None),
        "ceiling": (Kind.NUMBER, None),
    },
    "valuePair": {
        "valueName": (Kind.TEXT, None),
        "value": (Kind.TEXT, None),
    },
}

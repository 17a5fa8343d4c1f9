"""Pick the reader for a request body by its media type."""
from __future__ import annotations

from .errors import UnsupportedMediaType
from .model import Alert
from .parse_json import parse_json
from .parse_xml import parse_xml

XML_TYPES = frozenset({"application/cap+xml", "application/xml", "text/xml"})
JSON_TYPES = frozenset({"application/json", "application/cap+json"})


def is_xml(content_type: str) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() in XML_TYPES


def parse(body: bytes, content_type: str, max_bytes: int = 1 << 20) -> Alert:
    """An Alert from a request body; UnsupportedMediaType for anything but CAP XML or JSON."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in XML_TYPES:
        return parse_xml(body, max_bytes)
    if media_type in JSON_TYPES:
        return parse_json(body, max_bytes)
    raise UnsupportedMediaType(content_type or "")

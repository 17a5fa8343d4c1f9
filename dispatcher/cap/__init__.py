"""CAP 1.2 alerts: safe parsing of XML and JSON, every rule of the standard, and serialization.

    from dispatcher.cap import parse, to_xml
    alert = parse(body, request.content_type)   # CapError lists every problem with its path
"""
from __future__ import annotations

from .datetimes import format_datetime, parse_datetime
from .errors import CapError, CapTooLarge, FieldError, UnsupportedMediaType
from .levels import LEVEL_PARAMETER_NAMES, SEVERITY_RANK, level_to_severity, severity_to_level
from .media import is_xml, parse
from .model import Alert, Area, EventCode, Geocode, Info, Parameter, Reference, Resource
from .parse_json import parse_json
from .parse_xml import parse_xml
from .schema import CAP_NS
from .serialize import to_dict, to_xml
from .vocab import CERTAINTY_RANK, URGENCY_RANK

__all__ = [
    "Alert", "Area", "CAP_NS", "CERTAINTY_RANK", "CapError", "CapTooLarge", "EventCode", "FieldError",
    "Geocode", "Info", "LEVEL_PARAMETER_NAMES", "Parameter", "Reference", "Resource", "SEVERITY_RANK",
    "URGENCY_RANK", "UnsupportedMediaType", "format_datetime", "is_xml", "level_to_severity", "parse",
    "parse_datetime", "parse_json", "parse_xml", "severity_to_level", "to_dict", "to_xml",
]

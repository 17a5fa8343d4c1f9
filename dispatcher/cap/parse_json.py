"""Read the JSON form of CAP 1.2: CAP's element names as keys, repeated elements as arrays.

``{"alert": {...}}`` is accepted as well as the bare object. A repeated
element may also be given as a single value. Keys CAP does not define are
errors.
"""
from __future__ import annotations

from typing import Any

import orjson

from .errors import CapError, CapTooLarge, FieldError
from .model import Alert
from .schema import ELEMENTS, Kind
from .validate import MAX_SUGGESTIONS, build_alert, suggest


def parse_json(data: bytes | dict, max_bytes: int = 1 << 20) -> Alert:
    """An Alert from the JSON form (bytes or an already-decoded dict); CapError listing every problem otherwise."""
    if isinstance(data, dict):
        doc: Any = data
    else:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > max_bytes:
            raise CapTooLarge(len(data), max_bytes)
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CapError([FieldError("alert", f"malformed JSON: {exc}")]) from exc
    if isinstance(doc, dict) and list(doc) == ["alert"] and isinstance(doc["alert"], dict):
        doc = doc["alert"]
    if not isinstance(doc, dict):
        raise CapError([FieldError("alert", f"must be a JSON object, not {_json_type(doc)}")])
    errors: list[FieldError] = []
    raw = _plain(doc, "alert", "alert", errors)
    return build_alert(raw, errors)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), "null")


def _plain(obj: dict, kind_name: str, path: str, errors: list[FieldError]) -> dict:
    """The object as the plain form of :mod:`dispatcher.cap.schema`, noting structural problems."""
    children = ELEMENTS[kind_name]
    out: dict = {}
    for key, value in obj.items():
        key = str(key)
        key_path = f"{path}/{key}"
        if key not in children:
            hint = suggest(key, list(children)) if len(errors) < MAX_SUGGESTIONS else ""
            errors.append(FieldError(key_path, f"unknown key {key!r}{hint}"))
            continue
        if value is None:
            continue
        kind, child_kind = children[key]
        if kind is Kind.TEXT:
            if isinstance(value, str):
                out[key] = value
            else:
                errors.append(FieldError(key_path, f"must be a string, not {_json_type(value)}"))
        elif kind is Kind.NUMBER:
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                out[key] = value
            else:
                errors.append(FieldError(key_path, f"must be a number, not {_json_type(value)}"))
        elif kind is Kind.TEXTS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list):
                errors.append(FieldError(key_path, f"must be an array of strings, not {_json_type(value)}"))
                continue
            out[key] = []
            for i, item in enumerate(items):
                if isinstance(item, str):
                    out[key].append(item)
                else:
                    out[key].append(None)  # keeps later items' indexes true to the input
                    errors.append(FieldError(f"{key_path}[{i}]", f"must be a string, not {_json_type(item)}"))
        else:
            items = [value] if isinstance(value, dict) else value
            if not isinstance(items, list):
                errors.append(FieldError(key_path, f"must be an array of objects, not {_json_type(value)}"))
                continue
            out[key] = []
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    out[key].append(_plain(item, child_kind, f"{key_path}[{i}]", errors))
                else:
                    out[key].append(None)
                    errors.append(FieldError(f"{key_path}[{i}]", f"must be an object, not {_json_type(item)}"))
    return out

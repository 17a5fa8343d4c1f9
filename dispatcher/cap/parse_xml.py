"""Read CAP 1.2 XML safely: size cap first, then a parser that refuses DTDs and entities.

No DTD, internal or external entity is ever expanded or fetched: a message
carrying one is rejected whole. Elements are read in any order; elements CAP
does not define are errors, except XML signatures (xmldsig) under ``alert``,
which are allowed and not kept.
"""
from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml import ElementTree as SafeET

from .errors import CapError, CapTooLarge, FieldError
from .model import Alert
from .schema import CAP_NS, ELEMENTS, XMLDSIG_NS, Kind
from .validate import MAX_SUGGESTIONS, build_alert, suggest

_POSITION_SUFFIX = re.compile(r":\s*line \d+, column \d+$")


def parse_xml(data: bytes, max_bytes: int = 1 << 20) -> Alert:
    """An Alert from CAP 1.2 XML; CapError listing every problem otherwise."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise CapTooLarge(len(data), max_bytes)
    root = _safe_root(bytes(data))
    ns, local = _split(root.tag)
    if (ns, local) != (CAP_NS, "alert"):
        raise CapError([FieldError("alert", _root_problem(ns, local))])
    errors: list[FieldError] = []
    raw = _plain(root, "alert", "alert", errors)
    return build_alert(raw, errors)


def _safe_root(data: bytes) -> Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden as exc:
        found = f"<!DOCTYPE {exc.name}>" if exc.name else "a DOCTYPE"
        raise CapError([FieldError("alert", f"DTDs and entities are not allowed (found {found})")]) from exc
    except EntitiesForbidden as exc:
        raise CapError([FieldError("alert", f"DTDs and entities are not allowed (found entity {exc.name!r})")]) from exc
    except DefusedXmlException as exc:
        raise CapError([FieldError("alert", f"DTDs and entities are not allowed ({exc})")]) from exc
    except ParseError as exc:
        line, column = exc.position
        reason = _POSITION_SUFFIX.sub("", str(exc))
        if reason == "undefined entity":
            reason += " (DTDs and entities are not allowed)"
        raise CapError([FieldError("alert", f"malformed XML at line {line}, column {column}: {reason}")]) from exc


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _root_problem(ns: str | None, local: str) -> str:
    if local == "alert" and ns is None:
        return f"root element <alert> has no namespace; expected xmlns=\"{CAP_NS}\""
    if local == "alert":
        return f"root element <alert> is in namespace {ns!r}; expected {CAP_NS}"
    where = f"in namespace {ns!r}" if ns else "with no namespace"
    return f"root element is <{local}> {where}; expected <alert> in namespace {CAP_NS}"


def _plain(element: Element, kind_name: str, path: str, errors: list[FieldError]) -> dict:
    """The element as the plain form of :mod:`dispatcher.cap.schema`, noting structural problems."""
    children = ELEMENTS[kind_name]
    out: dict = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        ns, local = _split(child.tag)
        if kind_name == "alert" and ns == XMLDSIG_NS:
            continue
        if ns != CAP_NS or local not in children:
            where = "" if ns == CAP_NS else (f" in namespace {ns!r}" if ns else " with no namespace")
            hint = suggest(local, list(children)) if ns == CAP_NS and len(errors) < MAX_SUGGESTIONS else ""
            errors.append(FieldError(f"{path}/{local}", f"unknown element <{local}>{where}{hint}"))
            continue
        kind, child_kind = children[local]
        if kind in (Kind.TEXT, Kind.NUMBER):
            if local in out:
                errors.append(FieldError(f"{path}/{local}", f"appears more than once; CAP allows one <{local}> here"))
                continue
            out[local] = _text(child, f"{path}/{local}", errors)
        elif kind is Kind.TEXTS:
            items = out.setdefault(local, [])
            items.append(_text(child, f"{path}/{local}[{len(items)}]", errors))
        else:
            items = out.setdefault(local, [])
            items.append(_plain(child, child_kind, f"{path}/{local}[{len(items)}]", errors))
    return out


def _text(element: Element, path: str, errors: list[FieldError]) -> str:
    if len(element):
        errors.append(FieldError(path, "must hold text, not child elements"))
    return element.text or ""

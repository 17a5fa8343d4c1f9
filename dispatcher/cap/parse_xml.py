"""Read CAP XML safely: size cap first, then a parser that refuses DTDs and entities.

No DTD, internal or external entity is ever expanded or fetched: a message
carrying one is rejected whole. Elements are read in any order; elements CAP
does not define are errors, except XML signatures (xmldsig) under ``alert``,
which are allowed and not kept. Any namespace prefix and any encoding the XML
declaration names are read.

CAP 1.1 and 1.0 documents are read into the 1.2 model (and stored and served
as 1.2). What differs and how it is mapped:

* 1.1 → 1.2: the element set is the same; 1.2 only added values
  (responseType ``Avoid``, ``AllClear``), so a 1.1 message reads unchanged.
* 1.0 → 1.2: ``<password>`` (dropped in 1.1) is ignored with a warning;
  ``<eventCode>``, ``<parameter>`` and ``<geocode>`` were plain text
  ``valueName=value`` and become value pairs; certainty ``Very Likely``
  (dropped in 1.1) reads as ``Likely``, with a warning.
"""
from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml import ElementTree as SafeET

from .errors import CapError, CapTooLarge, FieldError
from .model import Alert
from .schema import CAP_10_NS, CAP_NS, CAP_VERSIONS, ELEMENTS, XMLDSIG_NS, Kind
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
    if local != "alert" or ns not in CAP_VERSIONS:
        raise CapError([FieldError("alert", _root_problem(ns, local))])
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    raw = _Reader(ns, errors, warnings).plain(root, "alert", "alert")
    alert = build_alert(raw, errors)
    alert.warnings = warnings + alert.warnings
    return alert


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


_PAIRS_AS_TEXT_IN_10 = ("eventCode", "parameter", "geocode")


class _Reader:
    """Turns an element tree of one CAP version into the plain form, noting structural problems."""

    def __init__(self, ns: str, errors: list[FieldError], warnings: list[FieldError]):
        self.ns, self.errors, self.warnings = ns, errors, warnings
        self.v10 = ns == CAP_10_NS

    def plain(self, element: Element, kind_name: str, path: str) -> dict:
        children = ELEMENTS[kind_name]
        out: dict = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            ns, local = _split(child.tag)
            if kind_name == "alert" and ns == XMLDSIG_NS:
                continue
            if self.v10 and ns == self.ns and kind_name == "alert" and local == "password":
                self.warnings.append(FieldError(f"{path}/password", "CAP 1.0 <password> is not part of CAP 1.2; "
                                                "it was ignored"))
                continue
            if ns != self.ns or local not in children:
                self._unknown(ns, local, children, path)
                continue
            self._child(out, child, local, children[local], path)
        if kind_name == "info" and self.v10 and out.get("certainty") == "Very Likely":
            out["certainty"] = "Likely"
            self.warnings.append(FieldError(f"{path}/certainty", "CAP 1.0 'Very Likely' reads as 'Likely'"))
        return out

    def _unknown(self, ns: str | None, local: str, children: dict, path: str) -> None:
        where = "" if ns == self.ns else (f" in namespace {ns!r}" if ns else " with no namespace")
        hint = suggest(local, list(children)) if ns == self.ns and len(self.errors) < MAX_SUGGESTIONS else ""
        self.errors.append(FieldError(f"{path}/{local}", f"unknown element <{local}>{where}{hint}"))

    def _child(self, out: dict, child: Element, local: str, shape: tuple, path: str) -> None:
        kind, child_kind = shape
        if kind in (Kind.TEXT, Kind.NUMBER):
            if local in out:
                self.errors.append(FieldError(f"{path}/{local}", f"appears more than once; CAP allows one <{local}> here"))
                return
            out[local] = _text(child, f"{path}/{local}", self.errors)
        elif kind is Kind.TEXTS:
            items = out.setdefault(local, [])
            items.append(_text(child, f"{path}/{local}[{len(items)}]", self.errors))
        else:
            items = out.setdefault(local, [])
            item_path = f"{path}/{local}[{len(items)}]"
            if self.v10 and local in _PAIRS_AS_TEXT_IN_10 and not len(child):
                name, _, value = (child.text or "").strip().partition("=")
                items.append({"valueName": name.strip(), "value": value.strip()})
            else:
                items.append(self.plain(child, child_kind, item_path))


def _text(element: Element, path: str, errors: list[FieldError]) -> str:
    if len(element):
        errors.append(FieldError(path, "must hold text, not child elements"))
    return element.text or ""

"""Bulk import of households: JSON lines or CSV; every record valid, or nothing imported.

JSON lines: one household object per line, as for ``POST /api/v1/households``. Members and
subscriber contacts may name a subscriber by id (a number) or by the external id it was imported
with (a string), so a building's import can be written before anyone knows warncast's ids.

CSV: a header row with ``external_id, name, region, delay_s, members, contacts``; ``members``
separated by ``;``; ``contacts`` separated by ``;``, each ``sms:+8613912345678@300`` or
``subscriber:<id or external id>@300`` (the number after ``@`` is the contact's delay in seconds).

A record with an ``external_id`` already known replaces that household, so an import can be repeated.
Errors name the line and the field; a phone number never appears in an error.
"""
from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from .errors import BadRequest, Rejected
from .households import Household, HouseholdStore, validate

#: Most households one import may hold.
MAX_HOUSEHOLDS = 200_000
CSV_COLUMNS = ("external_id", "name", "region", "delay_s", "members", "contacts")


def parse_lines(data: bytes, fmt: str) -> tuple[list[tuple[int, Any]], list[dict]]:
    """(line, raw record) pairs, and errors of lines that are not records at all."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [{"line": 1, "field": "file", "message": f"is not UTF-8 text (byte {exc.start})"}]
    return _csv(text) if fmt == "csv" else _ndjson(text)


def _ndjson(text: str) -> tuple[list[tuple[int, Any]], list[dict]]:
    rows, errors = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((n, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            errors.append({"line": n, "field": "line", "message": f"not JSON ({exc})"})
    return rows, errors


def _csv_contact(cell: str) -> Any:
    kind, _, rest = cell.strip().partition(":")
    who, _, delay = rest.rpartition("@") if "@" in rest else (rest, "", "")
    out: dict[str, Any] = {"delay_s": int(delay) if delay.strip().isdigit() else delay or 120}
    if kind == "sms":
        out["sms"] = who
    elif kind == "subscriber":
        out["subscriber_id"] = int(who) if who.isdigit() else who
    else:
        return cell          # validation names it
    return out


def _csv(text: str) -> tuple[list[tuple[int, Any]], list[dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("members",) if c not in (reader.fieldnames or [])]
    if missing:
        return [], [{"line": 1, "field": "header", "message": f"needs the columns {', '.join(CSV_COLUMNS)}"}]
    rows = []
    for rec in reader:
        n = reader.line_num
        out: dict[str, Any] = {}
        for k in ("external_id", "name", "region"):
            if (rec.get(k) or "").strip():
                out[k] = rec[k].strip()
        if (rec.get("delay_s") or "").strip():
            d = rec["delay_s"].strip()
            out["delay_s"] = int(d) if d.isdigit() else d
        out["members"] = [int(m) if m.strip().isdigit() else m.strip()
                          for m in (rec.get("members") or "").split(";") if m.strip()]
        out["contacts"] = [_csv_contact(c) for c in (rec.get("contacts") or "").split(";") if c.strip()]
        rows.append((n, out))
    return rows, []


def _external_refs(rows: list[tuple[int, Any]]) -> set[str]:
    found = set()
    for _, rec in rows:
        if isinstance(rec, dict):
            found.update(m for m in rec.get("members") or [] if isinstance(m, str))
            found.update(c["subscriber_id"] for c in rec.get("contacts") or []
                         if isinstance(c, dict) and isinstance(c.get("subscriber_id"), str))
    return found


def _resolve(rec: Any, ids: dict[str, int], line: int, errors: list[dict]) -> Any:
    """Subscriber external ids → subscriber ids (an unknown one is an error naming the field)."""
    if not isinstance(rec, dict):
        return rec
    rec = dict(rec)
    if isinstance(rec.get("members"), list):
        for i, m in enumerate(rec["members"]):
            if isinstance(m, str) and m not in ids:
                errors.append({"line": line, "field": f"members[{i}]", "message": f"no subscriber with external id {m!r}"})
        rec["members"] = [ids.get(m, -1) if isinstance(m, str) else m for m in rec["members"]]
    if isinstance(rec.get("contacts"), list):
        rec["contacts"] = [dict(c, subscriber_id=ids.get(c["subscriber_id"], -1))
                           if isinstance(c, dict) and isinstance(c.get("subscriber_id"), str) else c
                           for c in rec["contacts"]]
    return rec


async def import_households(store: HouseholdStore, data: bytes, fmt: str) -> dict:
    """Validate every record, then store them all; BadRequest (422 at the API) listing errors by line."""
    rows, errors = parse_lines(data, fmt)
    if len(rows) > MAX_HOUSEHOLDS:
        raise BadRequest(f"at most {MAX_HOUSEHOLDS} households per import", [{"field": "body", "message": "too many"}])
    refs = sorted(_external_refs(rows))
    ids = await store.subscribers.external_ids(refs) if refs else {}
    valid: list[Household] = []
    for line, raw in rows:
        rec = _resolve(raw, ids, line, errors)
        try:
            h = validate(rec)
            await store.check_subscribers(h)
            valid.append(h)
        except BadRequest as exc:
            errors.extend({"line": line, **e} for e in exc.errors)
    if errors:
        raise Rejected(f"{len(errors)} error(s); nothing was imported", errors)
    saved, replaced = await store.save_many(valid)
    return {"imported": len(saved), "created": len(saved) - replaced, "updated": replaced,
            "ids": [h.id for h in saved]}

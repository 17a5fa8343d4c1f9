"""Bulk import of devices: JSON lines or CSV; every record valid, or nothing imported.

JSON lines: one device per line as for ``POST /api/v1/devices``; ``household`` may be a household
id or the external id the household was imported with. CSV: a header row with
``id, household, kind, name, location, warning, alarm`` (the thresholds may be left empty).
A device id already registered is replaced, so an import can be repeated.
"""
from __future__ import annotations

from typing import Any

from . import keys
from .devices import MAX_DEVICES, DeviceStore, validate
from .errors import BadRequest, Rejected
from .household_import import parse_lines


def _from_csv(rec: dict) -> dict:
    out: dict[str, Any] = {k: rec[k] for k in ("id", "kind", "name", "location") if rec.get(k)}
    h = rec.get("household") or ""
    out["household"] = int(h) if h.isdigit() else h
    limits = {}
    for k in ("warning", "alarm"):
        try:
            if rec.get(k):
                limits[k] = float(rec[k])
        except ValueError:
            limits[k] = rec[k]
    if limits:
        out["thresholds"] = limits
    return out


async def import_devices(store: DeviceStore, data: bytes, fmt: str) -> dict:
    if fmt == "csv":
        import csv
        import io
        try:
            reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
            rows = [(reader.line_num, _from_csv(r)) for r in reader]
        except UnicodeDecodeError:
            raise BadRequest("the file is not UTF-8 text", [{"field": "file", "message": "not UTF-8"}]) from None
        errors: list[dict] = []
    else:
        rows, errors = parse_lines(data, "ndjson")
    if len(rows) > MAX_DEVICES:
        raise BadRequest(f"at most {MAX_DEVICES} devices per import", [{"field": "body", "message": "too many"}])
    exts = sorted({r["household"] for _, r in rows if isinstance(r, dict) and isinstance(r.get("household"), str)})
    found = await store.redis.hmget(keys.HOUSEHOLD_EXTERNAL, exts) if exts else []
    by_ext = {x: int(v) for x, v in zip(exts, found) if v is not None}
    devices = []
    for line, rec in rows:
        if isinstance(rec, dict) and isinstance(rec.get("household"), str):
            if rec["household"] not in by_ext:
                errors.append({"line": line, "field": "household", "message": f"no household {rec['household']!r}"})
                continue
            rec = {**rec, "household": by_ext[rec["household"]]}
        try:
            devices.append((line, validate(rec)))
        except BadRequest as exc:
            errors.extend({"line": line, **e} for e in exc.errors)
    if not errors and devices:
        try:
            created = await store.save_many([d for _, d in devices])
            return {"imported": len(devices), "created": created, "updated": len(devices) - created}
        except BadRequest as exc:
            errors.extend(exc.errors)
    if errors:
        raise Rejected(f"{len(errors)} error(s); nothing was imported", errors)
    return {"imported": 0, "created": 0, "updated": 0}

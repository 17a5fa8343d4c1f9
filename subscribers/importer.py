"""Bulk import of subscribers from CSV or NDJSON.

The whole input is validated first; if any line is bad, nothing is imported
and every bad line is reported with its field. Then the rows are written in
slices of one MULTI each, a second pass over the input so memory stays flat.

CSV header (any order; only ``regions`` is required)::

    regions,language,channels,location_lat,location_lon,hms,fcm,apns,sms,
    categories,min_severity,quiet_start,quiet_end,utc_offset,cohorts

List cells (regions, channels, categories, cohorts) separate items with ``;``.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Callable, Iterator

import orjson

from .model import validate
from .errors import ValidationError
from .store import SubscriberStore

CSV_COLUMNS = ("regions", "language", "channels", "location_lat", "location_lon", "hms", "fcm", "apns", "sms",
               "webpush", "categories", "min_severity", "quiet_start", "quiet_end", "utc_offset", "cohorts")


@dataclass
class ImportReport:
    imported: int = 0
    lines: int = 0
    #: (line number, field, message) for every problem; non-empty means nothing was imported.
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    def as_dict(self, limit: int = 1000) -> dict:
        return {"imported": self.imported, "lines": self.lines, "error_count": len(self.errors),
                "errors": [{"line": ln, "field": f, "message": m} for ln, f, m in self.errors[:limit]]}


def detect_format(name: str, content_type: str = "") -> str:
    if name.lower().endswith(".csv") or "csv" in content_type:
        return "csv"
    return "ndjson"


def _list(cell: str) -> list[str]:
    return [x.strip() for x in cell.split(";") if x.strip()]


def _number(cell: str) -> float | str:
    """The cell as a number, or as the text it is (which validation then names as wrong)."""
    try:
        return float(cell)
    except ValueError:
        return cell


def _csv_row(row: dict[str, str]) -> dict:
    data: dict = {"regions": _list(row.get("regions") or "")}
    if row.get("language"):
        data["language"] = row["language"].strip()
    eps = {ch: row[ch].strip() for ch in ("hms", "fcm", "apns", "sms", "webpush") if (row.get(ch) or "").strip()}
    if eps:
        data["endpoints"] = eps
    if row.get("channels"):
        data["channels"] = _list(row["channels"])
    lat, lon = (row.get("location_lat") or "").strip(), (row.get("location_lon") or "").strip()
    if lat or lon:
        # each coordinate on its own, so only the bad one is reported
        data["location"] = {"lat": _number(lat), "lon": _number(lon)}
    prefs: dict = {}
    if row.get("categories"):
        prefs["categories"] = _list(row["categories"])
    if row.get("min_severity"):
        prefs["min_severity"] = row["min_severity"].strip()
    if row.get("quiet_start") or row.get("quiet_end"):
        prefs["quiet_hours"] = {"start": (row.get("quiet_start") or "").strip(),
                                "end": (row.get("quiet_end") or "").strip(),
                                "utc_offset": (row.get("utc_offset") or "+08:00").strip()}
    if prefs:
        data["preferences"] = prefs
    if row.get("cohorts"):
        data["cohorts"] = _list(row["cohorts"])
    return data


def rows(data: bytes, fmt: str) -> Iterator[tuple[int, dict | ValidationError]]:
    """(line number, row dict or the error that made it unreadable) for each data line."""
    text = data.decode("utf-8-sig", errors="strict")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        problems = [("header", f"unknown column {c!r} (allowed: {', '.join(CSV_COLUMNS)})")
                    for c in header if c not in CSV_COLUMNS]
        if "regions" not in header:
            problems.insert(0, ("header", "needs a regions column"))
        if problems:
            yield 1, ValidationError(problems)
            return
        for row in reader:
            if None in row:
                yield reader.line_num, ValidationError([("row", "has more cells than the header")])
            else:
                yield reader.line_num, _csv_row(row)
        return
    # split on newlines only: str.splitlines also breaks at U+2028, form feed and others,
    # which may sit inside a JSON string and would shift every line number after them
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            yield n, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield n, ValidationError([("json", f"not valid JSON ({exc})")])


async def import_bytes(store: SubscriberStore, data: bytes, fmt: str,
                       progress: Callable[[int, int], None] | None = None, slice_size: int = 8_192) -> ImportReport:
    """Validate everything, then import everything — or nothing, with the errors."""
    report = ImportReport()
    try:
        for line, row in rows(data, fmt):
            report.lines += 1
            try:
                if isinstance(row, ValidationError):
                    raise row
                validate(row)
            except ValidationError as exc:
                report.errors.extend((line, f, m) for f, m in exc.errors)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        report.errors.append((line, "file", f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"))
    if report.errors:
        return report
    batch = []
    for _, row in rows(data, fmt):
        batch.append(validate(row))
        if len(batch) >= slice_size:
            await store.write_many(batch)
            report.imported += len(batch)
            batch = []
            if progress:
                progress(report.imported, report.lines)
    if batch:
        await store.write_many(batch)
        report.imported += len(batch)
    if progress:
        progress(report.imported, report.lines)
    return report

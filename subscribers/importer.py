"""Bulk import of subscribers from CSV or NDJSON.

The whole input is validated first; if any line is bad, nothing is imported
and every bad line is reported with its field. Then the rows are written in
slices of one MULTI each, a second pass over the input so memory stays flat.

Imports can be repeated. A line's ``external_id`` (the operator's own id for the
person, unique per installation) makes it an upsert: the subscriber with that id is
updated, or left alone if nothing changed. A line naming an endpoint (push token,
phone number) that another stored subscriber holds is skipped, so nobody gets every
SMS twice; the same external id or endpoint twice within one file is an error. The
report counts what was created, updated and skipped.

CSV header (any order; only ``regions`` is required)::

    external_id,regions,language,channels,location_lat,location_lon,hms,fcm,apns,sms,
    webpush,categories,min_severity,quiet_start,quiet_end,utc_offset,cohorts

List cells (regions, channels, categories, cohorts) separate items with ``;``.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from typing import Callable, Iterator

import orjson

from .model import Subscriber, validate
from .errors import ValidationError
from .store import SubscriberStore

CSV_COLUMNS = ("external_id", "regions", "language", "channels", "location_lat", "location_lon", "hms", "fcm", "apns", "sms",
               "webpush", "categories", "min_severity", "quiet_start", "quiet_end", "utc_offset", "cohorts")


#: Progress callback: (phase, done, total). Phases, in order: "checking" (reading and validating
#: every line), "comparing" (against the subscribers already stored) and "writing".
Progress = Callable[[str, int, int], None]
#: Skipped lines listed in a report at most (all are counted).
LISTED_SKIPS = 1_000


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    #: Lines left alone: unchanged, or naming an endpoint another stored subscriber holds.
    skipped: int = 0
    lines: int = 0
    #: (line number, field, message) for every problem; non-empty means nothing was imported.
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    #: (line number, why) for the first LISTED_SKIPS skipped lines.
    skips: list[tuple[int, str]] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated

    def skip(self, line: int, why: str) -> None:
        self.skipped += 1
        if len(self.skips) < LISTED_SKIPS:
            self.skips.append((line, why))

    def as_dict(self, limit: int = 1000) -> dict:
        return {"imported": self.imported, "created": self.created, "updated": self.updated,
                "skipped": self.skipped, "lines": self.lines, "error_count": len(self.errors),
                "errors": [{"line": ln, "field": f, "message": m} for ln, f, m in self.errors[:limit]],
                "skipped_lines": [{"line": ln, "reason": r} for ln, r in self.skips[:limit]]}


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
    if (row.get("external_id") or "").strip():
        data["external_id"] = row["external_id"].strip()
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


def _digest(channel: str, endpoint: str) -> bytes:
    """A short fingerprint of an endpoint, so a file's endpoints fit in memory (and no number is kept)."""
    return hashlib.blake2b(f"{channel}\0{endpoint}".encode(), digest_size=12).digest()


@dataclass
class _Seen:
    """What the checking pass remembers of the file: where each external id and endpoint first appears."""
    external: dict[str, int] = field(default_factory=dict)
    endpoints: dict[bytes, int] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)
    #: endpoint fingerprint → the stored subscriber that already holds it
    owners: dict[bytes, int] = field(default_factory=dict)
    #: external id → the stored subscriber it names
    known: dict[str, int] = field(default_factory=dict)


def _tick(progress: Progress | None, phase: str, done: int, total: int) -> None:
    if progress:
        progress(phase, done, total)


def _check(data: bytes, fmt: str, report: ImportReport, progress: Progress | None, every: int) -> _Seen:
    """Read and validate every line; note duplicates of an external id or an endpoint within the file."""
    seen = _Seen()
    total = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    try:
        for line, row in rows(data, fmt):
            report.lines += 1
            try:
                if isinstance(row, ValidationError):
                    raise row
                _remember(seen, line, validate(row, operator=True), report)
            except ValidationError as exc:
                report.errors.extend((line, f, m) for f, m in exc.errors)
            if report.lines % every == 0:
                _tick(progress, "checking", min(line, total), total)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        report.errors.append((line, "file", f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"))
    _tick(progress, "checking", total, total)
    return seen


def _remember(seen: _Seen, line: int, sub: Subscriber, report: ImportReport) -> None:
    if sub.external_id:
        first = seen.external.setdefault(sub.external_id, line)
        if first != line:
            report.errors.append((line, "external_id", f"{sub.external_id} is also on line {first}"))
    for ch, endpoint in sub.endpoints.items():
        first = seen.endpoints.setdefault(_digest(ch, endpoint), line)
        seen.channels.add(ch)
        if first != line:
            report.errors.append((line, f"endpoints.{ch}", f"the same {ch} endpoint is on line {first}"))


async def _compare(store: SubscriberStore, seen: _Seen, progress: Progress | None) -> None:
    """Find which of the file's external ids and endpoints the store already has, and whose they are."""
    ids = list(seen.external)
    for i in range(0, len(ids), 10_000):
        seen.known.update(await store.external_ids(ids[i:i + 10_000]))
    shards = await store.shard_count()
    channels = sorted(seen.channels)
    total = max(1, shards * len(channels))
    for n, (shard, ch) in enumerate((s, c) for s in range(shards) for c in channels):
        async for page in store.scan_endpoints(shard, ch):
            for sid, endpoint in page:
                digest = _digest(ch, endpoint)
                if digest in seen.endpoints:
                    seen.owners[digest] = sid
        _tick(progress, "comparing", n + 1, total)
    _tick(progress, "comparing", total, total)


def _owner_conflict(seen: _Seen, sub: Subscriber, target: int | None) -> str | None:
    """Why a line cannot be written: one of its endpoints belongs to another stored subscriber."""
    for ch, endpoint in sub.endpoints.items():
        owner = seen.owners.get(_digest(ch, endpoint))
        if owner is not None and owner != target:
            return (f"endpoints.{ch} is already registered to subscriber {owner}"
                    + ("" if sub.external_id else "; give the line an external_id to update that subscriber"
                       if target is None else ""))
    return None


async def _write(store: SubscriberStore, data: bytes, fmt: str, seen: _Seen, report: ImportReport,
                 progress: Progress | None, slice_size: int) -> None:
    """Second pass: create new subscribers, update the ones named by external id, skip the rest."""
    creates: list[Subscriber] = []
    updates: list[tuple[int, Subscriber]] = []
    done = 0
    for line, row in rows(data, fmt):
        sub = validate(row, operator=True)
        target = seen.known.get(sub.external_id) if sub.external_id else None
        conflict = _owner_conflict(seen, sub, target)
        if conflict:
            report.skip(line, conflict)
        elif target is None:
            creates.append(sub)
        else:
            updates.append((line, sub))
        done += 1
        if len(creates) + len(updates) >= slice_size:
            await _flush(store, seen, creates, updates, report)
            _tick(progress, "writing", done, report.lines)
    await _flush(store, seen, creates, updates, report)
    _tick(progress, "writing", report.lines, report.lines)


async def _flush(store: SubscriberStore, seen: _Seen, creates: list[Subscriber],
                 updates: list[tuple[int, Subscriber]], report: ImportReport) -> None:
    if creates:
        await store.write_many(creates)
        report.created += len(creates)
    if updates:
        previous = await store.get_many([seen.known[s.external_id] for _, s in updates])
        changed = []
        for line, sub in updates:
            before = previous.get(seen.known[sub.external_id])
            if before is None:                       # deleted since: the external id is free again
                await store.write_many([sub])
                report.created += 1
            elif _same(before, sub):
                report.skip(line, f"unchanged (subscriber {before.id})")
            else:
                changed.append((before, sub))
        await store.replace_many(changed)
        report.updated += len(changed)
    creates.clear()
    updates.clear()


def _same(before: Subscriber, after: Subscriber) -> bool:
    after.id, after.created = before.id, before.created
    return before.record() == after.record() and before.endpoints == after.endpoints


async def import_bytes(store: SubscriberStore, data: bytes, fmt: str, progress: Progress | None = None,
                       slice_size: int = 8_192) -> ImportReport:
    """Validate everything, then import everything — or nothing, with the errors.

    A line with an ``external_id`` already stored updates that subscriber (or is skipped if nothing
    changed); a line naming an endpoint another stored subscriber holds is skipped; the same
    external id or endpoint twice in the file is an error."""
    report = ImportReport()
    seen = _check(data, fmt, report, progress, slice_size)
    if report.errors:
        return report
    await _compare(store, seen, progress)
    await _write(store, data, fmt, seen, report, progress, slice_size)
    return report

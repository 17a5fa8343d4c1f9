"""Reading shelters from CSV or GeoJSON: every record valid, or nothing imported.

CSV: a header row with the columns ``name, address, district, lat, lon, capacity, kinds,
status`` (``kinds`` separated by ``;``; ``status`` open or closed, default open) and optionally
``name_en, address_en, external_id``. Lines starting with ``#`` are comments.

GeoJSON: a FeatureCollection of Point features; the same fields are the feature's
``properties`` and the position is its geometry (``[lon, lat]``).

Errors name the line (CSV) or feature number (GeoJSON, from 1) and the field. A record with an
``external_id`` already in the registry replaces that shelter, so an import can be repeated.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import orjson

from .errors import BadRequest
from .shelters import Shelter, validate

#: Most shelters one import may hold.
MAX_SHELTERS = 100_000


@dataclass
class ShelterImport:
    shelters: list[Shelter] = field(default_factory=list)
    errors: list[tuple[str, str, str]] = field(default_factory=list)   #: (where, field, message)

    def error_list(self) -> list[dict[str, str]]:
        return [{"line": w, "field": f, "message": m} for w, f, m in self.errors]


def detect_format(filename: str, content_type: str = "") -> str:
    name = filename.lower()
    if name.endswith((".geojson", ".json")) or "json" in content_type:
        return "geojson"
    return "csv"


def parse(data: bytes, fmt: str) -> ShelterImport:
    if fmt == "geojson":
        return _parse_geojson(data)
    return _parse_csv(data)


def _add(out: ShelterImport, where: str, record: dict) -> None:
    try:
        out.shelters.append(validate(record))
    except BadRequest as exc:
        out.errors.extend((where, e["field"], e["message"]) for e in exc.errors)


def _rows(text: str):
    """(line number, cells) of each CSV row that is not blank or a # comment."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, exc
            return
        if any(c.strip() for c in row) and not row[0].lstrip().startswith("#"):
            yield reader.line_num, row


def _parse_csv(data: bytes) -> ShelterImport:
    out = ShelterImport()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.errors.append(("1", "file", f"is not UTF-8 text (byte {exc.start})"))
        return out
    header: list[str] | None = None
    for number, row in _rows(text):
        if isinstance(row, csv.Error):
            out.errors.append((str(number), "line", f"is not valid CSV ({row})"))
        elif header is None:
            header = [h.strip() for h in row]
        elif len(out.shelters) + len(out.errors) >= MAX_SHELTERS:
            out.errors.append((str(number), "file", f"more than {MAX_SHELTERS} shelters"))
            break
        elif len(row) != len(header):
            out.errors.append((str(number), "line", f"has {len(row)} columns, the header has {len(header)}"))
        else:
            _add(out, str(number), {h: v for h, v in zip(header, row) if v.strip() != ""})
    if header is None and not out.errors:
        out.errors.append(("1", "file", "has no header row"))
    elif not out.shelters and not out.errors:
        out.errors.append(("2", "file", "has no shelters below the header row"))
    return out


def _parse_geojson(data: bytes) -> ShelterImport:
    out = ShelterImport()
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        out.errors.append(("1", "file", f"is not JSON: {exc}"))
        return out
    features = doc.get("features") if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" else None
    if not isinstance(features, list):
        out.errors.append(("1", "type", "must be a GeoJSON FeatureCollection with a features list"))
        return out
    for i, feature in enumerate(features[:MAX_SHELTERS], 1):
        where = f"feature {i}"
        geom = feature.get("geometry") if isinstance(feature, dict) else None
        coords = geom.get("coordinates") if isinstance(geom, dict) and geom.get("type") == "Point" else None
        if not isinstance(coords, list) or len(coords) < 2:
            out.errors.append((where, "geometry", "must be a Point with [lon, lat] coordinates"))
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            out.errors.append((where, "properties", "must be an object"))
            continue
        _add(out, where, {**props, "lon": coords[0], "lat": coords[1]})
    if not features:
        out.errors.append(("1", "features", "has no shelters"))
    return out

"""What an issuer writes in the console's composer (a "form"), checked field by field, and the CAP
1.2 document it becomes when it is published. The document then goes through the same parsing,
review, authorisation and intake as one posted to POST /api/v1/alerts.

A form (JSON):

    {"template": "rainstorm" | null, "level": "orange" | null,
     "status": "Actual" | "Exercise" | "Test", "msg_type": "Alert" | "Update", "update_of": <alert id> | null,
     "severity": "Severe", "urgency": "Expected", "certainty": "Likely", "category": "Met",
     "sender": "bjmb@cma.gov.cn", "sender_name": "北京市气象台", "expires": "2026-07-21T18:00:00+08:00",
     "languages": ["zh-CN", "en"],
     "texts": {"zh-CN": {"event", "headline", "description", "instruction"}, "en": {…}},
     "area": {"codes": ["110105"], "polygons": [[[lat, lon], …]], "circles": [[lat, lon, radius_km]],
              "desc": {"zh-CN": "…", "en": "…"}}}
"""
from __future__ import annotations

import re
from datetime import datetime

from subscribers import regions

from . import cap
from .cap import CERTAINTY_RANK, SEVERITY_RANK, URGENCY_RANK

LANGUAGES = ("zh-CN", "en")
CAP_LANGUAGE = {"zh-CN": "zh-CN", "en": "en-US"}
TEXT_LIMITS = {"event": 100, "headline": 160, "description": 4000, "instruction": 2000}
MAX_CODES, MAX_SHAPES, MAX_POINTS = 500, 20, 2000
LEVELS = ("blue", "yellow", "orange", "red")
CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE",
              "Other")
#: The fields a form keeps; anything else sent is dropped.
KNOWN = frozenset({"template", "level", "status", "msg_type", "update_of", "severity", "urgency", "certainty",
                   "category", "sender", "sender_name", "expires", "languages", "texts", "area"})
_SENDER = re.compile(r"[^\s,<&]{1,200}")
_CODE = re.compile(r"[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12}")


class FormError(ValueError):
    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def _choice(form: dict, name: str, allowed, default: str, out: list) -> str:
    value = form.get(name, default)
    if value not in allowed:
        out.append({"field": name, "message": f"one of {', '.join(allowed)}"})
    return value


def _texts(form: dict, languages: list[str], out: list) -> None:
    texts = form.get("texts")
    if not isinstance(texts, dict):
        out.append({"field": "texts", "message": "give the texts per language"})
        return
    for lang in languages:
        t = texts.get(lang)
        for name, limit in TEXT_LIMITS.items():
            value = t.get(name) if isinstance(t, dict) else None
            where = f"texts.{lang}.{name}"
            if not isinstance(value, str) or (name in ("event", "headline") and not value.strip()):
                out.append({"field": where, "message": "required" if name in ("event", "headline") else "text"})
            elif len(value) > limit:
                out.append({"field": where, "message": f"at most {limit} characters"})


def _point(p) -> bool:
    return (isinstance(p, list) and len(p) == 2 and all(isinstance(x, (int, float)) for x in p)
            and -90 <= p[0] <= 90 and -180 <= p[1] <= 180)


def _area(form: dict, out: list) -> None:
    area = form.get("area")
    if not isinstance(area, dict):
        out.append({"field": "area", "message": "choose districts or draw an area"})
        return
    codes, polygons, circles = area.get("codes", []), area.get("polygons", []), area.get("circles", [])
    if not isinstance(codes, list) or len(codes) > MAX_CODES or not all(
            isinstance(c, str) and _CODE.fullmatch(c) for c in codes):
        out.append({"field": "area.codes", "message": f"up to {MAX_CODES} region codes of 2/4/6/9/12 digits"})
    if not isinstance(polygons, list) or len(polygons) > MAX_SHAPES or not all(
            isinstance(p, list) and 3 <= len(p) <= MAX_POINTS and all(map(_point, p)) for p in polygons):
        out.append({"field": "area.polygons", "message": f"up to {MAX_SHAPES} polygons of 3 or more [lat, lon] points"})
    if not isinstance(circles, list) or len(circles) > MAX_SHAPES or not all(
            isinstance(c, list) and len(c) == 3 and _point(c[:2]) and isinstance(c[2], (int, float))
            and 0 < c[2] <= 500 for c in circles):
        out.append({"field": "area.circles", "message": "circles as [lat, lon, radius_km] with 0 < radius ≤ 500"})
    if not out and not (codes or polygons or circles):
        out.append({"field": "area", "message": "choose at least one district or draw an area on the map"})


def check(form) -> dict:
    """The form with defaults filled in; FormError listing every field that is wrong."""
    if not isinstance(form, dict):
        raise FormError([{"field": "form", "message": "a JSON object"}])
    out: list[dict[str, str]] = []
    languages = form.get("languages", list(LANGUAGES))
    if not isinstance(languages, list) or not languages or any(x not in LANGUAGES for x in languages):
        out.append({"field": "languages", "message": "one or both of zh-CN, en"})
        languages = [x for x in LANGUAGES if isinstance(languages, list) and x in languages] or ["zh-CN"]
    _choice(form, "status", ("Actual", "Exercise", "Test"), "Actual", out)
    _choice(form, "msg_type", ("Alert", "Update"), "Alert", out)
    _choice(form, "severity", tuple(SEVERITY_RANK), "Unknown", out)
    _choice(form, "urgency", tuple(URGENCY_RANK), "Unknown", out)
    _choice(form, "certainty", tuple(CERTAINTY_RANK), "Unknown", out)
    if form.get("msg_type") == "Update" and not isinstance(form.get("update_of"), int):
        out.append({"field": "update_of", "message": "an Update names the alert it updates"})
    if not isinstance(form.get("sender"), str) or not _SENDER.fullmatch(form.get("sender", "")):
        out.append({"field": "sender", "message": "the CAP sender (no spaces, commas, < or &)"})
    if not isinstance(form.get("sender_name", ""), str) or len(form.get("sender_name", "")) > 200:
        out.append({"field": "sender_name", "message": "at most 200 characters"})
    try:
        expires = cap.parse_datetime(form.get("expires", "")) if isinstance(form.get("expires"), str) else None
    except (ValueError, cap.CapError):
        expires = None
    if expires is None:
        out.append({"field": "expires", "message": "a date and time with its offset, e.g. 2026-07-21T18:00:00+08:00"})
    _texts(form, languages, out)
    _area(form, out)
    if form.get("level") not in (None, *LEVELS):
        out.append({"field": "level", "message": f"one of {', '.join(LEVELS)}, or none"})
    if form.get("template") is not None and not (isinstance(form["template"], str) and len(form["template"]) <= 64):
        out.append({"field": "template", "message": "a template id"})
    if form.get("category", "Met") not in CATEGORIES:
        out.append({"field": "category", "message": f"one of {', '.join(CATEGORIES)}"})
    if out:
        raise FormError(out)
    defaults = {"template": None, "level": None, "status": "Actual", "msg_type": "Alert", "category": "Met",
                "sender_name": "", "update_of": None}
    return {**defaults, **{k: v for k, v in form.items() if k in KNOWN}, "languages": languages}


def area_desc(area: dict, lang: str) -> str:
    """The area as people read it: the form's own words, else the names of its regions and shapes."""
    given = (area.get("desc") or {}).get(lang, "")
    if given.strip():
        return given.strip()
    names = [regions.name(c, "zh-CN" if lang == "zh-CN" else "en") or c for c in area.get("codes", [])]
    if area.get("polygons") or area.get("circles"):
        names.append("地图绘制区域" if lang == "zh-CN" else "area drawn on the map")
    return ("、" if lang == "zh-CN" else ", ").join(names)


def _info(form: dict, lang: str, expires: str) -> dict:
    texts, area = form["texts"][lang], form["area"]
    cap_area: dict = {"areaDesc": area_desc(area, lang)}
    if area.get("codes"):
        cap_area["geocode"] = [{"valueName": "GB/T 2260", "value": c} for c in area["codes"]]
    if area.get("polygons"):
        cap_area["polygon"] = [" ".join(f"{lat},{lon}" for lat, lon in p + [p[0]] * (p[0] != p[-1]))
                               for p in area["polygons"]]
    if area.get("circles"):
        cap_area["circle"] = [f"{lat},{lon} {r}" for lat, lon, r in area["circles"]]
    info = {"language": CAP_LANGUAGE[lang], "category": [form.get("category", "Met")], "event": texts["event"],
            "urgency": form["urgency"], "severity": form["severity"], "certainty": form["certainty"],
            "expires": expires, "headline": texts["headline"], "area": [cap_area]}
    for name in ("description", "instruction"):
        if texts.get(name, "").strip():
            info[name] = texts[name]
    if form.get("sender_name"):
        info["senderName"] = form["sender_name"]
    if form.get("level"):
        info["parameter"] = [{"valueName": "level", "value": form["level"]}]
    return info


def to_cap(form: dict, *, identifier: str, sent: datetime, references: str = "") -> dict:
    """The CAP 1.2 document (JSON form) of a checked form, sent at ``sent``."""
    doc = {"identifier": identifier, "sender": form["sender"], "sent": cap.format_datetime(sent),
           "status": form["status"], "msgType": form["msg_type"], "scope": "Public",
           "info": [_info(form, lang, form["expires"]) for lang in form["languages"]]}
    if references:
        doc["references"] = references
    return doc

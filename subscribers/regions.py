"""The region registry: administrative codes, their names and seats, shipped as data.

Codes follow GB/T 2260 with the township and village extensions: 2 digits a province (11
Beijing), 4 a prefecture (1101 its districts), 6 a county-level district (110105 Chaoyang),
9 a township or street (110105001 Jianwai), 12 a community or village. Zero-padded forms
(110000, 110100, 110105000000) are read as the shorter code they pad (``normalize``).

Matching rule (used by targeting, stated here because it is a property of the codes):

* an area code matches itself and every code under it — ``matches(area, code)`` is a
  prefix test on normalised codes, so an alert for 1101 reaches a subscriber registered
  at 110105001, but an alert for 110105001 does not reach one registered at 110105 as a
  whole district;
* a subscriber **with no location** is matched by region code only: it is reached by an
  alert whose areas carry a geocode equal to or above one of its registered codes, and
  never by an alert's polygons or circles (there is no point to test; a region's seat
  is not where the subscriber is);
* a subscriber with a location is matched by polygons and circles through
  ``subscribers.geo`` and, independently, by its registered codes; the audience is the
  union of both.
"""
from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

#: Lengths of valid codes, coarse to fine.
CODE_LENGTHS = (2, 4, 6, 9, 12)
_DIGITS = re.compile(r"[0-9]+")
#: Trailing padding that turns a code into the shorter one: (length, padding).
_PADDING = ((12, "000"), (9, "000"), (6, "00"), (4, "00"))


@cache
def registry() -> dict[str, Any]:
    """All known regions: code → {"zh-CN", "en-US", "level", "centroid"?} (loaded once)."""
    text = resources.files("subscribers").joinpath("data/regions.json").read_text(encoding="utf-8")
    return json.loads(text)["regions"]


def valid_code_format(code: str) -> bool:
    """True for a string of 2, 4, 6, 9 or 12 ASCII digits."""
    return isinstance(code, str) and len(code) in CODE_LENGTHS and _DIGITS.fullmatch(code) is not None


def normalize(code: str) -> str:
    """The shortest code a zero-padded one stands for (110000 → 11, 110105000 → 110105)."""
    if not valid_code_format(code):
        raise ValueError(f"region code must be 2, 4, 6, 9 or 12 digits, got {code!r}")
    for length, padding in _PADDING:
        if len(code) == length and code.endswith(padding):
            code = code[: -len(padding)]
    return code


def ancestors(code: str) -> list[str]:
    """Codes above ``code``, nearest first (110105001 → 110105, 1101, 11)."""
    code = normalize(code)
    return [code[:n] for n in reversed(CODE_LENGTHS) if n < len(code)]


def matches(area_code: str, subscriber_code: str) -> bool:
    """Whether an alert's area code covers a subscriber's registered code."""
    return normalize(subscriber_code).startswith(normalize(area_code))


def _language(lang: str) -> str:
    return "en-US" if lang.lower().startswith("en") else "zh-CN"


def name(code: str, lang: str = "zh-CN") -> str | None:
    """Display name; an unknown code reads as its nearest known ancestor plus the code."""
    if not valid_code_format(code):
        return None
    known = registry()
    key = _language(lang)
    short = normalize(code)
    if short in known:
        return known[short][key]
    for parent in ancestors(short):
        if parent in known:
            return f"{known[parent][key]} ({code})"
    return None


#: Codes finer than a district (streets, villages) are not all listed; under a listed district they are
#: accepted, since an alert for the district (or the street, once listed) reaches them.
LISTED_DOWN_TO = 6


def reachable(code: str) -> bool:
    """Whether an alert could name this code or one above it that the registry knows at district level
    or finer: 999999 or 110199 could never be reached, 110105001001 (under Chaoyang) can."""
    if not valid_code_format(code):
        return False
    short = normalize(code)
    known = registry()
    return short in known or (len(short) > LISTED_DOWN_TO and short[:LISTED_DOWN_TO] in known)


def district_codes() -> list[str]:
    """The 6-digit district codes in the registry, sorted."""
    return sorted(c for c, r in registry().items() if r.get("level") == "district")


def centroid(code: str) -> tuple[float, float] | None:
    """Seat (lat, lon) of a known region, else None (an ancestor's seat would mislead)."""
    if not valid_code_format(code):
        return None
    region = registry().get(normalize(code))
    if region is None or "centroid" not in region:
        return None
    lat, lon = region["centroid"]
    return float(lat), float(lon)

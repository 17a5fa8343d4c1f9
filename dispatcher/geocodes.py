"""Geocode schemes warncast knows, and the check that every value under them names a known region.

A CAP ``<geocode>`` is a (valueName, value) pair; the valueName names the
scheme. Under a scheme registered here, a value that is malformed or not in
the region registry (``subscribers/data/regions.json``) is an error naming the
geocode: it would otherwise reach nobody, silently. A scheme not registered
here is accepted with a warning (its values do not select subscribers).

Scheme names are compared without case, spaces, '/', '-', '_' or '.', so
``GB/T 2260``, ``GB2260`` and ``gb-t-2260`` are one scheme.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from subscribers import regions

from .cap import Alert
from .cap.errors import FieldError

_NOISE = re.compile(r"[\s/_.\-]+")


def scheme_key(value_name: str) -> str:
    return _NOISE.sub("", value_name).casefold()


def _gb2260(value: str) -> str | None:
    """None when ``value`` is a region code in the registry, else what is wrong with it."""
    if not regions.valid_code_format(value):
        return (f"{value!r} is not a GB/T 2260 region code (2, 4, 6, 9 or 12 ASCII digits); "
                "a mistyped code would reach nobody")
    if regions.normalize(value) not in regions.registry():
        return f"{value!r} is not in the region registry; it would reach nobody"
    return None


#: scheme key → check of one value (None when it is fine). Register new schemes here.
SCHEMES: dict[str, Callable[[str], str | None]] = {
    "gbt2260": _gb2260,
    "gb2260": _gb2260,
}


def is_region_scheme(value_name: str) -> bool:
    """Whether a geocode's values select subscribers by region code."""
    return scheme_key(value_name) in SCHEMES


def review(alert: Alert) -> tuple[list[FieldError], list[FieldError]]:
    """(errors, warnings) for every geocode of every area of every info."""
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    unknown: dict[str, str] = {}
    for i, info in enumerate(alert.infos):
        for j, area in enumerate(info.areas):
            for k, geocode in enumerate(area.geocodes):
                path = f"alert/info[{i}]/area[{j}]/geocode[{k}]"
                check = SCHEMES.get(scheme_key(geocode.value_name))
                if check is None:
                    unknown.setdefault(geocode.value_name, path)
                elif (problem := check(geocode.value.strip())) is not None:
                    errors.append(FieldError(f"{path}/value", f"geocode {problem}"))
    for name, path in unknown.items():
        warnings.append(FieldError(f"{path}/valueName", f"geocode scheme {name!r} is not known here: its values "
                                   f"select no subscribers (known: GB/T 2260)"))
    return errors, warnings

"""China's four warning levels (red, orange, yellow, blue) and CAP severity.

A CAP ``parameter`` whose valueName is one of :data:`LEVEL_PARAMETER_NAMES`
carries the level; red/orange/yellow/blue map to Extreme/Severe/Moderate/Minor.
"""
from __future__ import annotations

from .vocab import SEVERITY_RANK

__all__ = ["LEVEL_PARAMETER_NAMES", "SEVERITY_RANK", "is_level_parameter", "level_to_severity",
           "severity_to_level"]

#: valueNames (compared case-insensitively) that mark a parameter as a China warning level.
LEVEL_PARAMETER_NAMES = frozenset({"level", "warninglevel", "预警级别", "颜色", "color"})

_LEVELS = {
    "red": "Extreme", "红色": "Extreme",
    "orange": "Severe", "橙色": "Severe",
    "yellow": "Moderate", "黄色": "Moderate",
    "blue": "Minor", "蓝色": "Minor",
}
_SEVERITY_LEVEL = {"Extreme": "red", "Severe": "orange", "Moderate": "yellow", "Minor": "blue"}


def is_level_parameter(value_name: str) -> bool:
    return value_name.strip().casefold() in LEVEL_PARAMETER_NAMES


def level_to_severity(level: str) -> str:
    """CAP severity for a China warning level; ValueError for anything else."""
    severity = _LEVELS.get(level.strip().casefold()) if isinstance(level, str) else None
    if severity is None:
        raise ValueError(f"unrecognised warning level {level!r}; expected red, orange, yellow or blue "
                         "(红色, 橙色, 黄色, 蓝色)")
    return severity


def severity_to_level(severity: str) -> str | None:
    """The China level for a CAP severity, or None for Unknown and anything else."""
    return _SEVERITY_LEVEL.get(severity)

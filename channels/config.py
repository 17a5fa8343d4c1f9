"""Adapter settings from the environment: ``WARNCAST_<PROVIDER>_<FIELD>`` for each field of an
adapter's frozen settings dataclass, parsed by the type of the field's default."""
from __future__ import annotations

import os
from dataclasses import fields
from typing import Mapping, TypeVar

T = TypeVar("T")
TRUE = ("1", "true", "yes", "on")


def from_env(cls: type[T], provider: str, env: Mapping[str, str] | None = None,
             names: Mapping[str, str] | None = None) -> T:
    """``cls`` with every field whose variable is set taken from it; ``names`` renames a field's
    variable (e.g. private_key_pem → WARNCAST_APNS_PRIVATE_KEY). URLs lose a trailing slash."""
    env = os.environ if env is None else env
    defaults = cls()
    values = {}
    for f in fields(cls):
        var = f"WARNCAST_{provider}_{(names or {}).get(f.name, f.name).upper()}"
        if var not in env:
            continue
        raw, default = env[var], getattr(defaults, f.name)
        if isinstance(default, bool):
            values[f.name] = raw.strip().lower() in TRUE
        elif isinstance(default, int):
            values[f.name] = int(raw)
        elif isinstance(default, float):
            values[f.name] = float(raw)
        else:
            values[f.name] = raw.rstrip("/") if f.name.endswith("url") else raw
    return cls(**values)

"""The device registry: which home a sensor is in, what it measures and when it alarms.

A device has an id (the IoT platform's), the household it belongs to, a kind, an optional
location and thresholds. Each kind has default thresholds (``KINDS``); a device may override
them. A reading at or above ``warning`` opens an incident at warning level, at or above ``alarm``
at alarm level; the incident ends (all-clear) once a reading falls below ``clear_ratio`` of the
warning threshold, so a sensor hovering at the threshold does not flap.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import keys
from .errors import BadRequest, NotFound

#: Default thresholds per kind, in the unit the platform reports.
KINDS: dict[str, dict[str, Any]] = {
    "co": {"unit": "ppm", "warning": 50.0, "alarm": 150.0},          # carbon monoxide
    "gas": {"unit": "%LEL", "warning": 10.0, "alarm": 25.0},         # natural gas, lower explosive limit
    "smoke": {"unit": "%/m", "warning": 4.0, "alarm": 10.0},         # obscuration per metre
    "water-leak": {"unit": "mm", "warning": 1.0, "alarm": 20.0},     # water on the floor
}
#: An incident ends when a reading falls below this share of the warning threshold.
CLEAR_RATIO = 0.8
DEVICE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
FIELDS = {"id", "household", "kind", "location", "thresholds", "name"}
MAX_DEVICES = 500_000


@dataclass
class Device:
    id: str
    household: int
    kind: str
    name: str = ""
    location: str = ""                                   #: where in the home: "kitchen", "boiler room"
    thresholds: dict[str, float] = field(default_factory=dict)

    def limits(self) -> tuple[float, float]:
        """(warning, alarm) thresholds: the device's own, else its kind's."""
        base = KINDS[self.kind]
        return (self.thresholds.get("warning", base["warning"]), self.thresholds.get("alarm", base["alarm"]))

    def level(self, value: float) -> int:
        """2 alarm, 1 warning, 0 in between (an open incident goes on), -1 clear."""
        warning, alarm = self.limits()
        if value >= alarm:
            return 2
        if value >= warning:
            return 1
        return -1 if value < warning * CLEAR_RATIO else 0

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "household": self.household, "kind": self.kind, "name": self.name,
                "location": self.location, "thresholds": self.thresholds}

    def public(self) -> dict[str, Any]:
        warning, alarm = self.limits()
        return {**self.record(), "unit": KINDS[self.kind]["unit"], "warning": warning, "alarm": alarm}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _thresholds(value: Any, kind: str, errors: list[tuple[str, str]]) -> dict[str, float]:
    if not isinstance(value, dict) or set(value) - {"warning", "alarm"}:
        errors.append(("thresholds", 'must be {"warning": N, "alarm": N} (either may be left out)'))
        return {}
    out = {}
    for k, v in value.items():
        if not _number(v) or v <= 0:
            errors.append((f"thresholds.{k}", "must be a positive number"))
        else:
            out[k] = float(v)
    if kind in KINDS:
        base = KINDS[kind]
        if out.get("warning", base["warning"]) > out.get("alarm", base["alarm"]):
            errors.append(("thresholds", "warning must not be above alarm"))
    return out


def validate(data: Any, base: Device | None = None) -> Device:
    """A device from JSON (a whole record, or changes to ``base``); BadRequest naming each field."""
    if not isinstance(data, dict):
        raise BadRequest("a device is a JSON object", [{"field": "body", "message": "must be an object"}])
    errors: list[tuple[str, str]] = [(k, "unknown field") for k in sorted(set(data) - FIELDS)]
    d = Device(**base.__dict__) if base else Device("", -1, "")
    if base is None or "id" in data:
        if base is not None and data.get("id") != base.id:
            errors.append(("id", "a device's id cannot change"))
        elif not isinstance(data.get("id"), str) or not DEVICE_ID.fullmatch(data["id"]):
            errors.append(("id", "must be 1-64 letters, digits or ._:-"))
        else:
            d.id = data["id"]
    if base is None or "household" in data:
        h = data.get("household")
        if not isinstance(h, int) or isinstance(h, bool) or h < 1:
            errors.append(("household", "must be a household id"))
        else:
            d.household = h
    if base is None or "kind" in data:
        if data.get("kind") not in KINDS:
            errors.append(("kind", f"must be one of {', '.join(KINDS)}"))
        else:
            d.kind = data["kind"]
    for k in ("name", "location"):
        if k in data:
            if not isinstance(data[k], str) or len(data[k]) > 200:
                errors.append((k, "must be text of at most 200 characters"))
            else:
                setattr(d, k, data[k])
    if "thresholds" in data:
        d.thresholds = _thresholds(data["thresholds"], d.kind, errors)
    if errors:
        raise BadRequest(f"invalid device: {errors[0][0]} {errors[0][1]}", [{"field": f, "message": m} for f, m in errors])
    return d


class DeviceStore:
    def __init__(self, redis):
        self.redis = redis

    async def _check_households(self, devices: list[Device]) -> None:
        ids = sorted({d.household for d in devices})
        found = await self.redis.hmget(keys.HOUSEHOLDS, ids) if ids else []
        missing = {i for i, r in zip(ids, found) if r is None}
        errors = [{"field": "household", "message": f"no household {d.household} (device {d.id})"}
                  for d in devices if d.household in missing]
        if errors:
            raise BadRequest(f"invalid device: {errors[0]['message']}", errors)

    async def save_many(self, devices: list[Device]) -> int:
        """Store devices (a known id is replaced: imports can be repeated); returns how many were new."""
        await self._check_households(devices)
        pipe = self.redis.pipeline(transaction=True)
        for d in devices:
            pipe.hset(keys.DEVICES, d.id, orjson.dumps(d.record()))
        return sum(await pipe.execute())

    async def get(self, device_id: str) -> Device:
        raw = await self.redis.hget(keys.DEVICES, device_id)
        if raw is None:
            raise NotFound(f"no device {device_id[:64]}", [{"field": "device_id", "message": "unknown device"}])
        return Device(**orjson.loads(raw))

    async def get_many(self, ids: list[str]) -> dict[str, Device]:
        raw = await self.redis.hmget(keys.DEVICES, ids) if ids else []
        return {i: Device(**orjson.loads(r)) for i, r in zip(ids, raw) if r is not None}

    async def update(self, device_id: str, changes: Any) -> Device:
        d = validate(changes, base=await self.get(device_id))
        await self.save_many([d])
        return d

    async def delete(self, device_id: str) -> None:
        if not await self.redis.hdel(keys.DEVICES, device_id):
            raise NotFound(f"no device {device_id[:64]}", [{"field": "device_id", "message": "unknown device"}])

    async def list(self, household: int | None = None) -> list[Device]:
        found = [Device(**orjson.loads(v)) for v in (await self.redis.hgetall(keys.DEVICES)).values()]
        return sorted((d for d in found if household is None or d.household == household), key=lambda d: d.id)

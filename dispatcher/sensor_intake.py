"""Sensor events → incidents → household alarms.

A batch's events are checked one by one (a bad event is reported by its index, the good ones are
taken); each reading is classified against its device's thresholds and moves the device's
incident in one Lua step (``DECIDE``), so concurrent batches never open two incidents for one
device:

    no incident ──warning/alarm──▶ open (CAP Alert)
    open ──a higher level──▶ raise (CAP Update)       same or lower level, or in between: nothing
    open ──below clear_ratio × warning──▶ clear (all-clear CAP Update)

One alert per device per incident, however often a sensor flaps around its threshold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import keys
from .devices import Device
from .lua import Lua

#: KEYS[1] = the device's incident hash; ARGV = level (2 alarm, 1 warning, 0 in between, -1 clear),
#: a new incident id. Returns {action, incident id, seq, last message, root alert id, previous level}.
DECIDE = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
local lvl = tonumber(ARGV[1])
if lvl > cur then
  if cur == 0 then
    redis.call('HSET', KEYS[1], 'incident', ARGV[2], 'seq', 0, 'level', lvl, 'last', '', 'root', '')
    return {'open', ARGV[2], 0, '', '', 0}
  end
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('HSET', KEYS[1], 'level', lvl)
  local h = redis.call('HMGET', KEYS[1], 'incident', 'last', 'root')
  return {'raise', h[1], seq, h[2], h[3], cur}
elseif lvl == -1 and cur > 0 then
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  local h = redis.call('HMGET', KEYS[1], 'incident', 'last', 'root')
  redis.call('DEL', KEYS[1])
  return {'clear', h[1], seq, h[2], h[3], cur}
end
return {'none', '', 0, '', '', cur}
"""
#: Record the latest message of an incident, only while that incident is still open:
#: KEYS[1] = incident hash; ARGV = incident id, last, root (or '' to keep it).
SET_LAST = """
if redis.call('HGET', KEYS[1], 'incident') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'last', ARGV[2])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'root', ARGV[3]) end
end
return 1
"""
FORGET = """
if redis.call('HGET', KEYS[1], 'incident') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


@dataclass
class Reading:
    index: int
    device: Device
    value: float
    at: float


@dataclass
class Decision:
    reading: Reading
    action: str              #: open, raise, clear
    incident: str
    seq: int
    last: str                #: "identifier sent alert_id" of the incident's latest message ('' if none yet)
    root: str                #: the incident's first alert id ('' if not yet published)
    level: int               #: the level after the reading


def check_events(events: Any, devices: dict[str, Device], now: float, window_s: int
                 ) -> tuple[list[Reading], list[dict]]:
    """(readings, rejections by index with the field at fault)."""
    readings, rejected = [], []
    for i, ev in enumerate(events):
        errors = _event_errors(i, ev, devices, now, window_s)
        if errors:
            rejected.append({"index": i, "errors": errors})
            continue
        readings.append(Reading(i, devices[ev["device_id"]], float(ev["value"]), float(ev.get("at", now))))
    return readings, rejected


def _event_errors(i: int, ev: Any, devices: dict[str, Device], now: float, window_s: int) -> list[dict]:
    p = f"events[{i}]"
    if not isinstance(ev, dict):
        return [{"field": p, "message": 'must be {"device_id": …, "value": N, "at": unix seconds}'}]
    errors = [{"field": f"{p}.{k}", "message": "unknown field"} for k in sorted(set(ev) - {"device_id", "value", "at", "kind"})]
    dev = ev.get("device_id")
    if not isinstance(dev, str) or dev not in devices:
        errors.append({"field": f"{p}.device_id", "message": "not a registered device"})
    elif "kind" in ev and ev["kind"] != devices[dev].kind:
        errors.append({"field": f"{p}.kind", "message": f"the device is registered as {devices[dev].kind}"})
    v = ev.get("value")
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        errors.append({"field": f"{p}.value", "message": "must be a non-negative number"})
    at = ev.get("at", now)
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not math.isfinite(at) \
            or at > now + window_s or at < now - 86_400:
        errors.append({"field": f"{p}.at", "message": "must be unix seconds within the last day, not in the future"})
    return errors


class Incidents:
    """The incident state machine over Redis (one hash per device with an open incident)."""

    def __init__(self, redis):
        self.redis = redis
        self._decide = Lua(redis, DECIDE)
        self._set_last = Lua(redis, SET_LAST)
        self._forget = Lua(redis, FORGET)

    async def decide(self, readings: list[Reading], new_incident) -> list[Decision]:
        """Every reading through its device's incident, in order of time, in one round trip."""
        ordered = sorted(readings, key=lambda r: (r.at, r.index))
        pipe = self.redis.pipeline(transaction=False)
        for r in ordered:
            self._decide.queue(pipe, [keys.incident(r.device.id)], [r.device.level(r.value), new_incident(r)])
        out = []
        for r, res in zip(ordered, await pipe.execute()):
            action, incident, seq, last, root, _prev = (x.decode() if isinstance(x, bytes) else x for x in res)
            if action != "none":
                out.append(Decision(r, action, incident, int(seq), last, root, r.device.level(r.value)))
        return out

    async def published(self, device_id: str, incident: str, last: str, root: str = "",
                        alert_id: int | None = None, alert_root: str = "") -> None:
        """The incident's latest message (and first, when it opens it); the message's alert record
        learns the incident's first alert (its escalation) in the same round trip."""
        pipe = self.redis.pipeline(transaction=False)
        self.queue_published(pipe, device_id, incident, last, root, alert_id, alert_root)
        await pipe.execute()

    def queue_published(self, pipe, device_id: str, incident: str, last: str, root: str = "",
                        alert_id: int | None = None, alert_root: str = "") -> None:
        self._set_last.queue(pipe, [keys.incident(device_id)], [incident, last, root])
        if alert_id is not None and alert_root:
            pipe.hset(keys.alert(alert_id), "escalation_root", alert_root)

    async def forget(self, device_id: str, incident: str) -> None:
        """Drop an incident whose alert could not be published (only that incident, if still open)."""
        await self._forget(keys=[keys.incident(device_id)], args=[incident])

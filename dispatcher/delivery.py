"""Delivery state per (alert, subscriber): one byte per subscriber in a per-shard string.

Transitions are applied in bulk by one Lua script that only moves a subscriber
whose current state allows it (a claim is ``TARGETED → SENDING``: a re-run job
never sends twice what another claimed or completed). Counters count every
transition per (alert, channel, state); latency histograms bucket the time from
the alert's acceptance (see latency.py).
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

from . import keys, latency
from .lua import Lua


class State(IntEnum):
    NONE = 0
    TARGETED = 1     #: in the audience, waiting for its shard job
    QUEUED = 2       #: waiting for a delayed retry
    SENDING = 3      #: claimed by a job; the provider has it or is about to
    SENT = 4         #: the provider accepted it
    DELIVERED = 5    #: the provider or the device confirmed delivery
    READ = 6         #: the subscriber opened it
    CONFIRMED = 7    #: the subscriber acknowledged it
    FAILED = 8       #: no channel could deliver it
    EXPIRED = 9      #: the alert expired before it went out
    CANCELLED = 10   #: the alert was cancelled or superseded before it went out
    SUPPRESSED = 11  #: in the area, declined by preferences or quiet hours
    FAILOVER = 12    #: the current channel gave up; the next one takes over

    @property
    def label(self) -> str:
        return self.name.lower()


S = State
PENDING = (S.NONE, S.TARGETED, S.QUEUED, S.FAILOVER)
REACHED = (S.SENT, S.DELIVERED, S.READ, S.CONFIRMED)
ALLOWED_FROM: dict[State, tuple[State, ...]] = {
    S.TARGETED: (S.NONE,),
    S.QUEUED: (S.TARGETED, S.SENDING, S.FAILOVER),
    S.SENDING: (S.TARGETED, S.QUEUED, S.FAILOVER),
    S.SENT: (S.SENDING,),
    S.DELIVERED: (S.SENDING, S.SENT),
    S.READ: (S.SENDING, S.SENT, S.DELIVERED),
    S.CONFIRMED: (S.SENDING, S.SENT, S.DELIVERED, S.READ),
    S.FAILED: (S.SENDING, S.SENT, S.FAILOVER, S.QUEUED),
    S.EXPIRED: PENDING + (S.SENDING,),
    S.CANCELLED: PENDING + (S.SENDING,),
    S.SUPPRESSED: (S.NONE,),
    S.FAILOVER: (S.SENDING, S.SENT),
}


def mask(states) -> int:
    m = 0
    for s in states:
        m |= 1 << int(s)
    return m


#: KEYS: state string, channel string. ARGV: new state, allowed-from mask, channel byte (0 = leave),
#: offsets as little-endian uint16, sorted. Returns the offsets that moved, packed the same way. The
#: bytes between the first and last moved offset are rewritten with one SETRANGE per key.
TRANSITION_LUA = """
local key, chkey = KEYS[1], KEYS[2]
local new, allowed, chan, offs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local cur = redis.call('GET', key) or ''
local curlen = #cur
local moved, nmoved = {}, 0
for i = 1, #offs - 1, 2 do
  local lo, hi = string.byte(offs, i, i + 1)
  local off = lo + hi * 256
  local s = 0
  if off < curlen then s = string.byte(cur, off + 1) end
  if bit.band(allowed, bit.lshift(1, s)) ~= 0 then
    nmoved = nmoved + 1
    moved[nmoved] = off
  end
end
if nmoved == 0 then return '' end
-- Rewrite the span from the first to the last moved offset in one SETRANGE per key, built from the
-- old bytes between runs of moved offsets and one string.rep per run (offsets are sorted).
local first, last = moved[1], moved[#moved]
local function rewrite(k, value)
  local old = (k == key) and cur or (redis.call('GET', k) or '')
  local byte = string.char(value)
  local parts, n = {}, 0
  local at = first                      -- next offset of the span still to emit
  local i, count = 1, #moved
  while i <= count do
    local s = moved[i]
    local e = s
    while i < count and moved[i + 1] == e + 1 do
      i = i + 1
      e = e + 1
    end
    if s > at then
      local gap = string.sub(old, at + 1, s)
      if #gap < s - at then gap = gap .. string.rep('\\0', s - at - #gap) end
      n = n + 1
      parts[n] = gap
    end
    n = n + 1
    parts[n] = string.rep(byte, e - s + 1)
    at = e + 1
    i = i + 1
  end
  redis.call('SETRANGE', k, first, table.concat(parts))
end
rewrite(key, new)
if chan > 0 then rewrite(chkey, chan) end
if nmoved * 2 == #offs then return offs end
local out = {}
for j = 1, nmoved do out[j] = string.char(moved[j] % 256, math.floor(moved[j] / 256)) end
return table.concat(out)
"""


class Transitions:
    """Bulk state changes for one shard of one alert."""

    def __init__(self, redis):
        self.script = Lua(redis, TRANSITION_LUA)

    def queue(self, pipe, shard: int, alert_id: int, new: State, offsets: np.ndarray, channel_id: int = 0,
              allowed: tuple[State, ...] | None = None) -> None:
        """Add the transition to a pipeline; its reply is the packed offsets that moved."""
        offs = np.asarray(offsets, dtype="<u2")
        self.script.queue(pipe, [keys.delivery_state(shard, alert_id), keys.delivery_channel(shard, alert_id)],
                          [int(new), mask(allowed or ALLOWED_FROM[new]), channel_id, offs.tobytes()])

    async def apply(self, redis, shard: int, alert_id: int, new: State, offsets: np.ndarray,
                    channel_id: int = 0, allowed: tuple[State, ...] | None = None) -> np.ndarray:
        if len(offsets) == 0:
            return np.zeros(0, dtype="<u2")
        pipe = redis.pipeline(transaction=False)
        self.queue(pipe, shard, alert_id, new, offsets, channel_id, allowed)
        (moved,) = await pipe.execute()
        return unpack(moved)


def unpack(packed: bytes) -> np.ndarray:
    return np.frombuffer(packed or b"", dtype="<u2").astype(np.int64)


def states(raw: bytes | None, size: int) -> np.ndarray:
    arr = np.zeros(size, dtype=np.uint8)
    if raw:
        n = min(size, len(raw))
        arr[:n] = np.frombuffer(raw, dtype=np.uint8, count=n)
    return arr


# -- counters and latency ----------------------------------------------------
def count(pipe, alert_id: int, channel: str, state: State, n: int, latency_ms: float | None = None) -> None:
    """Add n transitions into ``state`` on ``channel`` (and their latency from the alert's acceptance,
    in the alert's histogram and the one over all alerts) to a pipeline."""
    if n <= 0:
        return
    pipe.hincrby(keys.counters(alert_id), f"{channel}:{state.label}", n)
    pipe.hincrby(keys.TOTALS, f"{channel}:{state.label}", n)
    if latency_ms is not None:
        f = latency.field(channel, state.label, latency_ms)
        pipe.hincrby(keys.latency(alert_id), f, n)
        pipe.hincrby(keys.LATENCY_TOTALS, f, n)


def percentiles(hist: dict[str, int], channel: str | None, state: State, qs=(50, 95, 99)) -> dict[str, float | None]:
    """Percentiles (ms, within 2 %) from a latency hash, for one channel or all."""
    return latency.percentiles(latency.buckets(hist, channel, state.label), qs)

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


#: ``transition(key, chkey, new, allowed, chan, offs)``: move the offsets (little-endian uint16, sorted)
#: whose state in ``key`` is in the ``allowed`` mask to ``new``, and set their byte in ``chkey`` to
#: ``chan`` (0 = leave it); returns the offsets that moved, packed the same way. The bytes between the
#: first and last moved offset are rewritten with one SETRANGE per key, built from the old bytes between
#: runs of moved offsets and one string per run. Shared by every script that moves states.
TRANSITION_FN = """
local function transition(key, chkey, new, allowed, chan, offs)
  if #offs < 2 then return '' end
  local byte, sub, rep, char, concat = string.byte, string.sub, string.rep, string.char, table.concat
  local cur = redis.call('GET', key) or ''
  local ok = {}
  for s = 0, 31 do ok[s] = bit.band(allowed, bit.lshift(1, s)) ~= 0 end
  local rs, re, nruns, moved, nmoved = {}, {}, 0, {}, 0
  for i = 1, #offs - 1, 2 do
    local lo, hi = byte(offs, i, i + 1)
    local off = lo + hi * 256
    if ok[byte(cur, off + 1) or 0] then
      nmoved = nmoved + 1
      moved[nmoved] = off
      if nruns > 0 and re[nruns] == off - 1 then
        re[nruns] = off
      else
        nruns = nruns + 1
        rs[nruns], re[nruns] = off, off
      end
    end
  end
  if nmoved == 0 then return '' end
  local first, last = rs[1], re[nruns]
  local function rewrite(k, old, value)
    if #old <= last then old = old .. rep('\\0', last + 1 - #old) end
    local c = char(value)
    local parts, n, at = {}, 0, first
    for r = 1, nruns do
      local s, e = rs[r], re[r]
      if s > at then
        n = n + 1
        parts[n] = sub(old, at + 1, s)
      end
      n = n + 1
      if e == s then parts[n] = c else parts[n] = rep(c, e - s + 1) end
      at = e + 1
    end
    redis.call('SETRANGE', k, first, concat(parts))
  end
  rewrite(key, cur, new)
  if chan > 0 then rewrite(chkey, redis.call('GET', chkey) or '', chan) end
  if nmoved * 2 == #offs then return offs end
  local out = {}
  for j = 1, nmoved do out[j] = char(moved[j] % 256, math.floor(moved[j] / 256)) end
  return concat(out)
end
"""
#: KEYS: state string, channel string. ARGV: new state, allowed-from mask, channel byte (0 = leave),
#: offsets as little-endian uint16, sorted. Returns the offsets that moved, packed the same way.
TRANSITION_LUA = TRANSITION_FN + """
return transition(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
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

"""A circuit breaker per provider, shared by every worker through Redis.

::

    CLOSED ──(failures ≥ threshold and ≥ ratio of outcomes within window_s)──▶ OPEN
    OPEN ──(open_s passed; the next caller anywhere gets the one probe)──▶ HALF_OPEN
    HALF_OPEN ──(probe succeeded)──▶ CLOSED
    HALF_OPEN ──(probe failed)──▶ OPEN for another open_s

While the probe is out, other callers are told to WAIT: the guard holds their batches until the
probe answers (then sends them, or fails them over if the circuit re-opened), at most until the
probe's timeout, when one of them becomes the next probe. A provider that came back keeps its
subscribers instead of losing every batch that asked during the probe's round trip.

One hash per provider holds the state, the outcome counts of the sliding window
(ten buckets of ``window_s / 10``) and the ``opened`` / ``closed`` transition
counters operators read through ``snapshot``. Every state change happens in a
Lua script, so two workers never both hold the half-open probe. A probe whose
holder never reports (a crashed worker) is handed to someone else after
``probe_timeout_s``.

Outcomes are counted per batch: the sender calls ``permit`` (or ``allow``) once
before a batch and ``record`` once after it, with only the transient / provider
failures it decided should count. Outcomes recorded while the circuit is not
CLOSED (batches that were in flight when it opened) are not counted; only the
probe's result moves a half-open circuit.

Time is the Redis server's unless a ``clock`` is injected (tests).
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Callable

from . import keys
from .lua import Lua


class CircuitState(str, Enum):
    CLOSED = "closed"        #: sends go through; outcomes are counted
    OPEN = "open"            #: sends are refused until open_s has passed
    HALF_OPEN = "half_open"  #: one probe batch is out; everyone else is refused until it reports


class Permit(str, Enum):
    """What ``permit`` grants a caller."""

    DENIED = "denied"    #: do not send; the circuit is open
    ALLOWED = "allowed"  #: send; the circuit is closed
    PROBE = "probe"      #: send, and report the outcome with ``record(..., probe=True)``
    WAIT = "wait"        #: half-open and the probe is out: ask again when it has answered


#: Buckets the failure window is cut into; outcomes age out a bucket at a time.
WINDOW_BUCKETS = 10

_NOW_LUA = """
redis.replicate_commands()
local function server_now(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.6f', x) end
"""

#: KEYS: circuit hash. ARGV: now ("" = server time), open_s, probe_timeout_s. Returns a Permit value.
PERMIT_LUA = _NOW_LUA + """
local key = KEYS[1]
local now, open_s, probe_timeout_s = server_now(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', key, 'state', 'changed_at', 'probe_at')
local state = h[1] or 'closed'
if state == 'closed' then return 'allowed' end
if state == 'open' then
  if now - tonumber(h[2] or '0') < open_s then return 'denied' end
  redis.call('HSET', key, 'state', 'half_open', 'changed_at', fmt(now), 'probe_at', fmt(now))
  return 'probe'
end
if h[3] == false or now - tonumber(h[3]) >= probe_timeout_s then
  redis.call('HSET', key, 'probe_at', fmt(now))
  return 'probe'
end
if state == 'half_open' then return 'wait' end
return 'denied'
"""

#: KEYS: circuit hash, index of providers. ARGV: now ("" = server time), successes, failures, probe (0/1),
#: failure_threshold, failure_ratio, window_s, provider. Returns the state after the record.
RECORD_LUA = _NOW_LUA + """
local key, index = KEYS[1], KEYS[2]
local now = server_now(ARGV[1])
local succ, fail, probe = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local threshold, ratio, window_s = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local nbuckets = """ + str(WINDOW_BUCKETS) + """
redis.call('SADD', index, ARGV[8])
local state = redis.call('HGET', key, 'state') or 'closed'

local function clear_window()
  local fields = redis.call('HKEYS', key)
  for _, f in ipairs(fields) do
    local p = string.sub(f, 1, 2)
    if p == 's:' or p == 'f:' then redis.call('HDEL', key, f) end
  end
end
local function go(new)
  clear_window()
  redis.call('HSET', key, 'state', new, 'changed_at', fmt(now))
  redis.call('HDEL', key, 'probe_at')
  redis.call('HINCRBY', key, new == 'open' and 'opened' or 'closed', 1)
  return new
end

if state == 'half_open' then
  if not probe then return state end
  local total = succ + fail
  if total == 0 then
    -- the probe sent nothing: let the next caller probe
    redis.call('HDEL', key, 'probe_at')
    return state
  end
  if succ > 0 and fail / total < ratio then return go('closed') end
  return go('open')
end
if state == 'open' then return state end

local bucket = math.floor(now / (window_s / nbuckets))
if succ > 0 then redis.call('HINCRBY', key, 's:' .. bucket, succ) end
if fail > 0 then redis.call('HINCRBY', key, 'f:' .. bucket, fail) end
local s_sum, f_sum = 0, 0
local h = redis.call('HGETALL', key)
for i = 1, #h, 2 do
  local p = string.sub(h[i], 1, 2)
  if p == 's:' or p == 'f:' then
    if tonumber(string.sub(h[i], 3)) <= bucket - nbuckets then
      redis.call('HDEL', key, h[i])
    elseif p == 's:' then
      s_sum = s_sum + tonumber(h[i + 1])
    else
      f_sum = f_sum + tonumber(h[i + 1])
    end
  end
end
if f_sum > 0 and f_sum >= threshold and f_sum / (s_sum + f_sum) >= ratio then return go('open') end
return 'closed'
"""


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class Circuits:
    """Circuit breakers for every provider, one Redis hash each."""

    def __init__(self, redis, *, failure_threshold: int = 20, failure_ratio: float = 0.5, window_s: float = 10.0,
                 open_s: float = 5.0, probe_timeout_s: float = 60.0, clock: Callable[[], float] | None = None):
        #: ``clock`` (unix seconds) replaces the Redis server's clock; for tests only.
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold!r}")
        if not 0 < failure_ratio <= 1:
            raise ValueError(f"failure_ratio must be in (0, 1], got {failure_ratio!r}")
        if window_s <= 0 or open_s < 0 or probe_timeout_s <= 0:
            raise ValueError("window_s and probe_timeout_s must be positive, open_s not negative")
        self.redis = redis
        self.failure_threshold = failure_threshold
        self.failure_ratio = failure_ratio
        self.window_s = window_s
        self.open_s = open_s
        self.probe_timeout_s = probe_timeout_s
        self.clock = clock
        self._permit = Lua(redis, PERMIT_LUA)
        self._record = Lua(redis, RECORD_LUA)

    def _now_arg(self) -> str:
        return "" if self.clock is None else repr(float(self.clock()))

    async def permit(self, provider: str) -> Permit:
        """Whether a batch may go to the provider, and whether it is the half-open probe."""
        reply = await self._permit(keys=[keys.circuit(provider)],
                                   args=[self._now_arg(), repr(float(self.open_s)), repr(float(self.probe_timeout_s))])
        return Permit(_text(reply))

    def queue_permit(self, pipe, provider: str) -> None:
        """``permit`` queued in a pipeline; read its reply with ``Permit(reply.decode())``."""
        self._permit.queue(pipe, [keys.circuit(provider)],
                           [self._now_arg(), repr(float(self.open_s)), repr(float(self.probe_timeout_s))])

    def queue_record(self, pipe, provider: str, successes: int, failures: int, probe: bool = False) -> None:
        """``record`` queued in a pipeline (its reply is the new state)."""
        self._record.queue(pipe, [keys.circuit(provider), keys.CIRCUIT_INDEX],
                           [self._now_arg(), int(successes), int(failures), int(bool(probe)),
                            int(self.failure_threshold), repr(float(self.failure_ratio)), repr(float(self.window_s)),
                            provider])

    async def allow(self, provider: str) -> bool:
        """CLOSED → True. OPEN → False until open_s has passed, then exactly one caller (across
        every process) gets True as the half-open probe; the rest get False until it reports
        (``permit`` tells them to WAIT).

        A sender that must report a probe as such uses ``permit``.
        """
        return await self.permit(provider) in (Permit.ALLOWED, Permit.PROBE)

    async def record(self, provider: str, successes: int, failures: int, probe: bool = False) -> CircuitState:
        """Count outcomes of a batch (only transient/provider failures count: the caller decides).

        In CLOSED: opens when, within window_s, failures >= failure_threshold and
        failures / (successes + failures) >= failure_ratio. A probe's result closes the circuit
        (some successes, failures under the ratio) or re-opens it for another open_s.
        """
        if successes < 0 or failures < 0:
            raise ValueError("successes and failures cannot be negative")
        reply = await self._record(
            keys=[keys.circuit(provider), keys.CIRCUIT_INDEX],
            args=[self._now_arg(), int(successes), int(failures), int(bool(probe)), int(self.failure_threshold),
                  repr(float(self.failure_ratio)), repr(float(self.window_s)), provider])
        return CircuitState(_text(reply))

    async def state(self, provider: str) -> CircuitState:
        """The stored state (an OPEN circuit stays OPEN until a caller takes the probe)."""
        raw = await self.redis.hget(keys.circuit(provider), "state")
        return CircuitState(_text(raw)) if raw else CircuitState.CLOSED

    async def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every provider's circuit for the ops API: state, transition counters, current window."""
        providers = sorted(_text(p) for p in await self.redis.smembers(keys.CIRCUIT_INDEX))
        if not providers:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        if self.clock is None:
            pipe.time()
        for p in providers:
            pipe.hgetall(keys.circuit(p))
        replies = await pipe.execute()
        if self.clock is None:
            sec, usec = replies.pop(0)
            now = sec + usec / 1e6
        else:
            now = float(self.clock())
        oldest = int(now // (self.window_s / WINDOW_BUCKETS)) - WINDOW_BUCKETS
        out: dict[str, dict[str, Any]] = {}
        for provider, raw in zip(providers, replies):
            h = {_text(k): _text(v) for k, v in raw.items()}
            window = {"s": 0, "f": 0}
            for field, value in h.items():
                kind, _, bucket = field.partition(":")
                if kind in window and bucket and int(bucket) > oldest:
                    window[kind] += int(value)
            state = CircuitState(h.get("state", CircuitState.CLOSED.value))
            changed_at = float(h["changed_at"]) if "changed_at" in h else None
            retry_in_s = None
            if state is CircuitState.OPEN and changed_at is not None:
                retry_in_s = max(0.0, changed_at + self.open_s - now)
            out[provider] = {
                "state": state.value,
                "opened": int(h.get("opened", 0)),
                "closed": int(h.get("closed", 0)),
                "changed_at": changed_at,
                "retry_in_s": retry_in_s,
                "window_successes": window["s"],
                "window_failures": window["f"],
            }
        return out

    async def reset(self, provider: str) -> None:
        """Forget a provider's circuit (operator action); it starts CLOSED with zero counters."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.circuit(provider))
        pipe.srem(keys.CIRCUIT_INDEX, provider)
        await pipe.execute()

"""What every provider simulator shares: fault knobs and a ledger of accepted messages.

A simulator speaks its provider's wire protocol on loopback, injects the faults
its ``Faults`` ask for, and records every message it *accepted* in its
``Ledger`` so that tests and benchmarks count deliveries and duplicates exactly.
Each HTTP simulator also serves its ledger at ``GET /_ledger`` and takes new
knobs at ``POST /_faults`` so another process can read and steer it.
"""
from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Faults:
    #: Probability of answering with each error code (protocol-specific keys, e.g. "429", "503",
    #: "UNAVAILABLE", "ESME_RTHROTTLED").
    error_rates: dict[str, float] = field(default_factory=dict)
    #: Answer latency, uniformly drawn from [min, max] milliseconds.
    latency_ms: tuple[float, float] = (0.0, 0.0)
    #: Retry-After the simulator sends with 429/503 (seconds).
    retry_after_s: float = 1.0
    #: Fraction of tokens / numbers that are unregistered or invalid, chosen by a stable hash of
    #: the endpoint so the same endpoint always gets the same answer.
    unregistered_fraction: float = 0.0
    #: Fraction of requests whose connection is dropped before the message is accepted.
    drop_rate: float = 0.0
    #: Fraction of messages accepted (and recorded) whose answer is then held past the client
    #: timeout: the sender sees a timeout although the provider took the message.
    accept_then_stall_rate: float = 0.0
    stall_s: float = 30.0
    #: The provider is entirely down: every connection is refused or answered 503.
    down: bool = False
    #: Receipts: delay range (s), and fractions duplicated, reported failed, or shuffled.
    receipt_delay_s: tuple[float, float] = (0.0, 0.0)
    receipt_duplicate_rate: float = 0.0
    receipt_failed_rate: float = 0.0
    receipt_out_of_order: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def pick_error(self) -> str | None:
        """Draw one error code from ``error_rates`` (None = no error)."""
        x = self.rng.random()
        for code, rate in self.error_rates.items():
            if x < rate:
                return code
            x -= rate
        return None

    def unregistered(self, endpoint: str) -> bool:
        if self.unregistered_fraction <= 0:
            return False
        h = int.from_bytes(hashlib.blake2b(endpoint.encode(), digest_size=8).digest(), "big")
        return (h % 1_000_000) < self.unregistered_fraction * 1_000_000

    def latency(self) -> float:
        lo, hi = self.latency_ms
        return (lo if hi <= lo else self.rng.uniform(lo, hi)) / 1000.0

    def chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("rng", None)
        return d

    def update(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            if k in ("rng",) or not hasattr(self, k):
                raise KeyError(k)
            setattr(self, k, tuple(v) if isinstance(getattr(self, k), tuple) else v)
        if "seed" in values:
            self.rng = random.Random(self.seed)


@dataclass(slots=True)
class Entry:
    message_id: str
    recipient: str
    alert_id: str
    t: float
    #: The collapse key / Topic / apns-collapse-id the message carried (lets a device drop dups).
    collapse_key: str = ""


class Ledger:
    """Every message the simulator accepted, in order, and how many per alert (a harness polling the
    count of a million-message alert every few milliseconds must not walk the whole list each time)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._by_alert: Counter = Counter()

    def record(self, message_id: str, recipient: str, alert_id: str, collapse_key: str = "") -> Entry:
        e = Entry(message_id, recipient, str(alert_id), time.time(), collapse_key)
        self.entries.append(e)
        self._by_alert[e.alert_id] += 1
        return e

    def __len__(self) -> int:
        return len(self.entries)

    def count(self, alert_id: str | int | None = None) -> int:
        if alert_id is None:
            return len(self.entries)
        return self._by_alert[str(alert_id)]

    def duplicates(self, alert_id: str | int | None = None) -> int:
        """Messages beyond the first for the same (alert, recipient)."""
        a = None if alert_id is None else str(alert_id)
        seen = Counter((e.alert_id, e.recipient) for e in self.entries if a is None or e.alert_id == a)
        return sum(n - 1 for n in seen.values() if n > 1)

    def recipients(self, alert_id: str | int) -> set[str]:
        a = str(alert_id)
        return {e.recipient for e in self.entries if e.alert_id == a}

    def summary(self) -> dict[str, Any]:
        by_alert = Counter(e.alert_id for e in self.entries)
        return {"accepted": len(self.entries), "duplicates": self.duplicates(), "by_alert": dict(by_alert)}

    def clear(self) -> None:
        self.entries.clear()
        self._by_alert.clear()

"""Fixed-width per-shard columns: the subscriber attributes targeting reads in bulk.

Each column is one Redis string per shard holding one cell per offset
(``offset * width`` bytes in), so a shard's audience is computed from a few
``GET``s and numpy, with no per-subscriber round trip or decode. A column is
only as long as its highest written offset; missing cells read as zero.

Measured on the embedded Redis (2 cores): fetching per-(value, shard) intsets
for 1,000,000 subscribers with SMEMBERS and converting them took ~300 ms,
while the columns for the same audience are read and matched in a few tens of
milliseconds (``python -m loadtest.bench_fanout`` reports ``resolve_ms``).
Region codes are stored as 12-digit numbers (a 6-digit district code padded
with zeros), so "a code matches itself and every code under it" is one
numeric range per alert code, the same test at every level of the hierarchy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Region slots per subscriber (a subscriber may hold up to this many region codes).
MAX_REGIONS = 4

CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
              "Transport", "Infra", "CBRNE", "Other")
CATEGORY_BIT = {c: 1 << i for i, c in enumerate(CATEGORIES)}
ALL_CATEGORIES = (1 << len(CATEGORIES)) - 1

#: Channel numbers used in the ``chain`` column (a nibble each; 0 ends the chain).
CHANNEL_IDS = {"inapp": 1, "hms": 2, "fcm": 3, "apns": 4, "webpush": 5, "sms": 6, "smpp": 7}
CHANNEL_NAMES = {v: k for k, v in CHANNEL_IDS.items()}
MAX_CHAIN = 4

#: Template languages; a subscriber's language maps to the nearest one.
LANGUAGES = ("zh-CN", "en")

# flag bits
EXISTS = 1
COHORT_TEST = 2
COHORT_EXERCISE = 4
LOCATED = 8
QUIET = 16


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  #: numpy dtype, little-endian

    @property
    def width(self) -> int:
        return np.dtype(self.dtype).itemsize


FLAGS = Column("flags", "u1")
MIN_SEVERITY = Column("minsev", "u1")       #: 0 accept all … 4 Extreme only
OPTED_OUT = Column("optout", "<u2")         #: bit per category the subscriber declined
QUIET_HOURS = Column("quiet", "<u4")        #: UTC minute of day: start << 16 | end
LANGUAGE = Column("lang", "u1")             #: index into LANGUAGES
CHAIN = Column("chain", "<u2")              #: channel ids, first in the low nibble
TOKEN = Column("tok", "V16")                #: first 16 bytes of sha256(subscriber token secret)
REGIONS = tuple(Column(f"reg{i}", "<u8") for i in range(MAX_REGIONS))  #: 12-digit padded codes

ALL = (FLAGS, MIN_SEVERITY, OPTED_OUT, QUIET_HOURS, LANGUAGE, CHAIN, TOKEN) + REGIONS


def cell(column: Column, value) -> bytes:
    """Encode one value as the column's cell bytes."""
    if column is TOKEN:
        return bytes(value).ljust(16, b"\0")[:16]
    return np.array([value], dtype=column.dtype).tobytes()


def decode(column: Column, raw: bytes | None, size: int) -> np.ndarray:
    """A shard's column as an array of ``size`` cells (short or missing strings pad with 0)."""
    arr = np.zeros(size, dtype=column.dtype)
    if raw:
        n = min(size, len(raw) // column.width)
        arr[:n] = np.frombuffer(raw, dtype=column.dtype, count=n)
    return arr


def pad_code(code: str) -> int:
    """12-digit number of a GB/T 2260-style code of 2/4/6/9/12 digits."""
    return int(code.ljust(12, "0"))


def code_range(code: str) -> tuple[int, int]:
    """The padded numbers of ``code`` and every code under it."""
    return int(code.ljust(12, "0")), int(code.ljust(12, "9"))


def pack_chain(channels: list[str]) -> int:
    v = 0
    for i, name in enumerate(channels[:MAX_CHAIN]):
        v |= CHANNEL_IDS[name] << (4 * i)
    return v


def unpack_chain(v: int) -> list[str]:
    out = []
    while v:
        out.append(CHANNEL_NAMES[v & 0xF])
        v >>= 4
    return out


def language_index(lang: str) -> int:
    """Nearest template language: exact, then same primary subtag, else English."""
    if lang in LANGUAGES:
        return LANGUAGES.index(lang)
    primary = lang.split("-")[0].lower()
    for i, known in enumerate(LANGUAGES):
        if known.split("-")[0].lower() == primary:
            return i
    return LANGUAGES.index("en")

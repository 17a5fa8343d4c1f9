"""The shelter registry: where people can go when a warning tells them to shelter or evacuate.

A shelter has a name and address (Chinese, with optional English forms), the district it is
in (a region code from the registry), a position, a capacity in people, the kinds of hazard
it is fit for, and whether it is open. Records live in one Redis hash (``keys.SHELTERS``);
every change bumps ``keys.SHELTER_VERSION`` so the per-process arrays used for nearest-shelter
search (``dispatcher.nearest``) are rebuilt only when something changed.

Kinds: a shelter fits an alert when one of its kinds is one the alert's CAP categories call for
(``kinds_for``), or when it is a ``general`` shelter; an alert whose categories call for no
particular kind is fitted by every shelter.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np
import orjson

from subscribers import regions

from . import cap, keys
from .errors import BadRequest, NotFound

#: Hazard kinds a shelter may be fit for; each is one bit in the search arrays.
KINDS = ("flood", "earthquake", "fire", "storm", "chemical", "general")
KIND_BIT = {k: 1 << i for i, k in enumerate(KINDS)}
#: CAP categories → kinds of shelter they call for.
CATEGORY_KINDS = {"Met": ("flood", "storm"), "Geo": ("earthquake",), "Fire": ("fire",),
                  "CBRNE": ("chemical",), "Env": ("chemical",)}
STATUSES = ("open", "closed")
#: responseType values that send people to shelters.
SHELTER_RESPONSES = ("Shelter", "Evacuate")
_TEXT_LIMITS = {"name": 200, "name_en": 200, "address": 300, "address_en": 300, "external_id": 100}


@dataclass
class Shelter:
    id: int
    name: str
    address: str
    district: str
    lat: float
    lon: float
    capacity: int
    kinds: list[str]
    status: str = "open"
    name_en: str = ""
    address_en: str = ""
    external_id: str = ""
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def public(self) -> dict:
        out = asdict(self)
        out.pop("extra")
        out["district_name"] = regions.name(self.district, "zh-CN")
        out["district_name_en"] = regions.name(self.district, "en")
        return out

    def display_name(self, lang: str) -> str:
        return self.name_en if lang.startswith("en") and self.name_en else self.name

    def display_address(self, lang: str) -> str:
        return self.address_en if lang.startswith("en") and self.address_en else self.address


def kinds_mask(kinds: Iterable[str]) -> int:
    mask = 0
    for k in kinds:
        mask |= KIND_BIT[k]
    return mask


def kinds_for(alert: cap.Alert) -> tuple[str, ...]:
    """Kinds of shelter the alert calls for; empty means any shelter fits."""
    wanted: list[str] = []
    for c in sorted(alert.categories()):
        wanted.extend(k for k in CATEGORY_KINDS.get(c, ()) if k not in wanted)
    return tuple(wanted)


def wants_shelter(alert: cap.Alert) -> bool:
    """Whether the alert tells people to shelter or evacuate (any info's responseType)."""
    return any(r in SHELTER_RESPONSES for i in alert.infos for r in i.response_types)


# -- validation -------------------------------------------------------------
def _text(data: dict, name: str, errors: list, required: bool) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors.append((name, "is required"))
        return ""
    if not isinstance(value, str):
        errors.append((name, f"must be text, got {type(value).__name__}"))
        return ""
    value = value.strip()
    if len(value) > _TEXT_LIMITS[name]:
        errors.append((name, f"must be at most {_TEXT_LIMITS[name]} characters"))
    return value


def _number(data: dict, name: str, limit: float, errors: list) -> float:
    value = data.get(name)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or value is None or not math.isfinite(number) or not -limit <= number <= limit:
        message = f"must be a number, got {value!r}" if math.isnan(number) and isinstance(value, str) \
            else f"must be a number between {-limit:g} and {limit:g}, got {str(value)[:40]!r}"
        errors.append((name, message))
        return 0.0
    return number


def _capacity(data: dict, errors: list) -> int:
    value = data.get("capacity")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000_000:
        errors.append(("capacity", f"must be a whole number of people from 0 to 10000000, got {value!r}"))
        return 0
    return value


def _kinds(data: dict, errors: list) -> list[str]:
    value = data.get("kinds")
    if isinstance(value, str):
        value = [v for v in value.replace("|", ";").replace(",", ";").replace(" ", ";").split(";") if v]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errors.append(("kinds", f"must list one or more of {', '.join(KINDS)}"))
        return []
    bad = [v for v in value if v.strip().lower() not in KIND_BIT]
    if bad:
        errors.append(("kinds", f"unknown kind {bad[0]!r}; use {', '.join(KINDS)}"))
        return []
    return sorted({v.strip().lower() for v in value}, key=KINDS.index)


def _status(data: dict, errors: list) -> str:
    value = data.get("status", "open")
    if isinstance(value, bool):
        return "open" if value else "closed"
    if not isinstance(value, str) or value.strip().lower() not in STATUSES:
        errors.append(("status", f"must be open or closed, got {value!r}"))
        return "open"
    return value.strip().lower()


def _district(data: dict, errors: list) -> str:
    value = data.get("district")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not regions.valid_code_format(value.strip()):
        errors.append(("district", f"must be a region code of 6, 9 or 12 digits, got {value!r}"))
        return ""
    code = regions.normalize(value.strip())
    if len(code) < 6 or regions.name(code) is None:
        errors.append(("district", f"{value!r} is not a district (or below) in the region registry"))
    return code


def validate(data: Any, shelter_id: int = 0) -> Shelter:
    """A Shelter from a JSON object or CSV row; BadRequest names every bad field."""
    if not isinstance(data, dict):
        raise BadRequest("a shelter is a JSON object", [{"field": "body", "message": "must be an object"}])
    errors: list[tuple[str, str]] = []
    unknown = sorted(set(data) - set(_FIELDS) - {"id", "district_name", "district_name_en"})
    errors.extend((u, "unknown field") for u in unknown)
    shelter = Shelter(
        id=shelter_id, name=_text(data, "name", errors, True), address=_text(data, "address", errors, True),
        district=_district(data, errors), lat=_number(data, "lat", 90.0, errors),
        lon=_number(data, "lon", 180.0, errors), capacity=_capacity(data, errors), kinds=_kinds(data, errors),
        status=_status(data, errors), name_en=_text(data, "name_en", errors, False),
        address_en=_text(data, "address_en", errors, False), external_id=_text(data, "external_id", errors, False))
    if errors:
        raise BadRequest("invalid shelter", [{"field": f, "message": m} for f, m in errors])
    return shelter


_FIELDS = ("name", "address", "district", "lat", "lon", "capacity", "kinds", "status", "name_en", "address_en",
           "external_id")


def _load(raw: bytes) -> Shelter:
    d = orjson.loads(raw)
    return Shelter(**{k: v for k, v in d.items() if k in Shelter.__dataclass_fields__})


def _dump(s: Shelter) -> bytes:
    d = asdict(s)
    d.pop("extra")
    return orjson.dumps(d)


class ShelterStore:
    """Shelters in Redis, with the arrays for nearest-shelter search cached per registry version."""

    def __init__(self, redis):
        self.redis = redis
        self._arrays: tuple[int, ShelterArrays] | None = None
        self._indexes: dict[tuple[str, ...], object] = {}

    async def get(self, shelter_id: int) -> Shelter:
        raw = await self.redis.hget(keys.SHELTERS, shelter_id)
        if raw is None:
            raise NotFound(f"no shelter {shelter_id}")
        return _load(raw)

    async def all(self) -> list[Shelter]:
        raw = await self.redis.hgetall(keys.SHELTERS)
        return sorted((_load(v) for v in raw.values()), key=lambda s: s.id)

    async def create(self, data: Any) -> Shelter:
        created, _ = await self.save_many([validate(data)])
        return created[0]

    async def update(self, shelter_id: int, changes: Any) -> Shelter:
        current = await self.get(shelter_id)
        if not isinstance(changes, dict):
            raise BadRequest("changes are a JSON object", [{"field": "body", "message": "must be an object"}])
        merged = {**{k: v for k, v in asdict(current).items() if k in _FIELDS}, **changes}
        shelter = validate(merged, shelter_id)
        await self._write([shelter])
        return shelter

    async def delete(self, shelter_id: int) -> None:
        shelter = await self.get(shelter_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.SHELTERS, shelter_id)
        if shelter.external_id:
            pipe.hdel(keys.SHELTER_EXTERNAL, shelter.external_id)
        pipe.incr(keys.SHELTER_VERSION)
        await pipe.execute()

    async def save_many(self, shelters: list[Shelter]) -> tuple[list[Shelter], int]:
        """Write validated shelters: those with a known external_id replace it (→ updated count)."""
        ext = [s.external_id for s in shelters if s.external_id]
        known = dict(zip(ext, await self.redis.hmget(keys.SHELTER_EXTERNAL, ext))) if ext else {}
        updated = 0
        fresh = [s for s in shelters if not known.get(s.external_id)]
        first = await self.redis.incrby(keys.SHELTER_SEQ, len(fresh)) - len(fresh) + 1 if fresh else 0
        for s in shelters:
            if known.get(s.external_id):
                s.id, updated = int(known[s.external_id]), updated + 1
            else:
                s.id, first = first, first + 1
        await self._write(shelters)
        return shelters, updated

    async def _write(self, shelters: list[Shelter]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        if shelters:
            pipe.hset(keys.SHELTERS, mapping={s.id: _dump(s) for s in shelters})
            ext = {s.external_id: s.id for s in shelters if s.external_id}
            if ext:
                pipe.hset(keys.SHELTER_EXTERNAL, mapping=ext)
        pipe.incr(keys.SHELTER_VERSION)
        await pipe.execute()

    async def set_status(self, shelter_ids: Iterable[int], status: str) -> list[Shelter]:
        """Open or close these shelters (unknown ids → NotFound naming the first)."""
        ids = list(dict.fromkeys(int(i) for i in shelter_ids))
        raws = await self.redis.hmget(keys.SHELTERS, ids) if ids else []
        missing = [i for i, r in zip(ids, raws) if r is None]
        if missing:
            raise NotFound(f"no shelter {missing[0]}")
        shelters = [_load(r) for r in raws]
        for s in shelters:
            s.status = status
        await self._write(shelters)
        return shelters

    async def set_status_in_area(self, alert: cap.Alert, status: str) -> list[Shelter]:
        """Open or close every shelter in the alert's area: under one of its geocodes, or inside
        one of its polygons or circles."""
        from .geo_targeting import plan_area
        everything = await self.all()
        codes = [regions.normalize(c) for c in alert.geocodes() if regions.valid_code_format(c)]
        chosen = {s.id for s in everything if any(s.district.startswith(c) for c in codes)}
        polygons = [p for i in alert.infos for a in i.areas for p in a.polygons]
        circles = [c for i in alert.infos for a in i.areas for c in a.circles]
        if everything and (polygons or circles):
            plan = plan_area(polygons, circles)
            inside = plan.contains(np.array([s.lat for s in everything]), np.array([s.lon for s in everything]))
            chosen |= {s.id for s, yes in zip(everything, inside) if yes}
        return await self.set_status(sorted(chosen), status) if chosen else []

    async def arrays(self) -> "ShelterArrays":
        """The registry as numpy arrays, rebuilt only when its version changed."""
        version = int(await self.redis.get(keys.SHELTER_VERSION) or 0)
        if self._arrays is None or self._arrays[0] != version:
            self._arrays = (version, ShelterArrays.build(await self.all()))
            self._indexes = {}
        return self._arrays[1]

    async def index(self, kinds: tuple[str, ...]):
        """The grid index (``dispatcher.shelter_index``) of the open shelters fit for ``kinds``, or None
        when there are none; built once per registry version and kinds."""
        from .shelter_index import ShelterIndex
        arrays = await self.arrays()
        if kinds not in self._indexes:
            fitting = arrays.fitting(kinds)
            self._indexes[kinds] = ShelterIndex.build(arrays, fitting) if len(fitting) else None
        return self._indexes[kinds]


@dataclass
class ShelterArrays:
    """Column form of the registry for vectorised search."""
    shelters: list[Shelter]
    lat: np.ndarray
    lon: np.ndarray
    kinds: np.ndarray
    open: np.ndarray

    @classmethod
    def build(cls, shelters: list[Shelter]) -> "ShelterArrays":
        return cls(shelters, np.array([s.lat for s in shelters], dtype=np.float64),
                   np.array([s.lon for s in shelters], dtype=np.float64),
                   np.array([kinds_mask(s.kinds) for s in shelters], dtype=np.int64),
                   np.array([s.is_open for s in shelters], dtype=bool))

    def fitting(self, wanted: Iterable[str]) -> np.ndarray:
        """Indices of open shelters fit for the wanted kinds (any kind when none is wanted)."""
        wanted = tuple(wanted)
        mask = kinds_mask(wanted) | KIND_BIT["general"] if wanted else -1
        return np.flatnonzero(self.open & ((self.kinds & mask) != 0))

"""Who is calling and what they may touch: API keys (stored hashed) with roles and region scopes,
and subscriber tokens (see subscribers.store)."""
from __future__ import annotations

import hashlib
from math import cos, radians
import hmac
import secrets
import time
from dataclasses import dataclass, field

import orjson

from . import cap, keys
from .errors import Forbidden, Unauthorized

ROLES = ("issuer", "operator", "admin")


@dataclass(frozen=True)
class Caller:
    name: str
    role: str                                   #: issuer / operator / admin / subscriber
    scopes: tuple[str, ...] = field(default=())  #: region-code prefixes an issuer may alert; "*" = all
    subscriber_id: int | None = None

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; the caller is {self.role}")

    def may_touch_subscriber(self, sid: int) -> None:
        if self.role in ("operator", "admin"):
            return
        if self.subscriber_id != sid:
            raise Forbidden("a subscriber token gives access to its own record only")


def same_issuer(caller: Caller, issuer: str) -> bool:
    """Whether the caller is the issuer of record ``issuer`` (the one place issuers are compared)."""
    return caller.role == "issuer" and caller.name == issuer


def may_amend(caller: Caller, issuer: str) -> bool:
    """Whether the caller may update or cancel an alert issued by ``issuer``: its own issuer, or an
    operator or admin."""
    return caller.role in ("operator", "admin") or same_issuer(caller, issuer)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, redis, admin_key: str = ""):
        self.redis = redis
        self.admin_key = admin_key

    async def create(self, name: str, role: str, scopes: list[str] | None = None) -> str:
        """A new key, returned once; only its hash is stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        scopes = scopes or (["*"] if role != "issuer" else [])
        if role == "issuer" and not scopes:
            raise ValueError("an issuer key needs scopes: region-code prefixes such as 110105, or *")
        for s in scopes:
            if s != "*" and not (s.isdigit() and len(s) in (2, 4, 6, 9, 12)) and parse_bbox(s) is None:
                raise ValueError(f"scope {s!r} is not a region code of 2/4/6/9/12 digits, "
                                 "bbox:south,west,north,east, or *")
        key = f"wk_{secrets.token_urlsafe(32)}"
        await self.redis.hset(keys.API_KEYS, _hash(key),
                              orjson.dumps({"name": name, "role": role, "scopes": scopes, "created": time.time()}))
        await self.redis.xadd(keys.AUDIT, {"action": "key-created", "name": name, "role": role, "t": repr(time.time())},
                              maxlen=100_000, approximate=True)
        return key

    async def authenticate(self, key: str) -> Caller | None:
        if self.admin_key and hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return Caller("admin", "admin", ("*",))
        raw = await self.redis.hget(keys.API_KEYS, _hash(key))
        if raw is None:
            return None
        d = orjson.loads(raw)
        return Caller(d["name"], d["role"], tuple(d["scopes"]))

    async def list(self) -> list[dict]:
        return [{k: v for k, v in orjson.loads(raw).items()} for raw in (await self.redis.hgetall(keys.API_KEYS)).values()]


def parse_bbox(scope: str) -> tuple[float, float, float, float] | None:
    """A geometry scope "bbox:south,west,north,east" (degrees), or None if it is not one."""
    if not scope.startswith("bbox:"):
        return None
    try:
        south, west, north, east = (float(x) for x in scope[5:].split(","))
    except ValueError:
        return None
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        return None
    return south, west, north, east


def _inside(lat: float, lon: float, boxes) -> bool:
    return any(s <= lat <= n and w <= lon <= e for s, w, n, e in boxes)


def authorize_alert(caller: Caller, alert: cap.Alert) -> None:
    """Issuers may alert only inside their scopes: every geocode under one of their region codes,
    every polygon and circle inside one of their bounding boxes."""
    caller.require("issuer", "admin")
    if "*" in caller.scopes:
        return
    codes_ok = [s for s in caller.scopes if s.isdigit()]
    boxes = [b for b in map(parse_bbox, caller.scopes) if b]
    for i, info in enumerate(alert.infos):
        for j, area in enumerate(info.areas):
            where = f"alert/info[{i}]/area[{j}]"
            for code in (g.value for g in area.geocodes):
                if not any(code.startswith(s) for s in codes_ok):
                    raise Forbidden(f"issuer {caller.name} may alert {', '.join(caller.scopes)} only; "
                                    f"{where} names {code}")
            shapes = [pt for poly in area.polygons for pt in poly]
            shapes += [pt for lat, lon, r in area.circles
                       for pt in ((lat - r / 111.0, lon), (lat + r / 111.0, lon),
                                  (lat, lon - r / (111.0 * max(0.01, cos(radians(lat))))),
                                  (lat, lon + r / (111.0 * max(0.01, cos(radians(lat))))))]
            if shapes and not all(_inside(lat, lon, boxes) for lat, lon in shapes):
                raise Forbidden(f"{where} draws a polygon or circle outside the bounding boxes issuer "
                                f"{caller.name} may alert ({', '.join(s for s in caller.scopes if s.startswith('bbox:')) or 'none'})")
            if not area.geocodes and not shapes:
                raise Forbidden(f"{where} names no region and draws no shape")


def unauthorized() -> Unauthorized:
    return Unauthorized("send an API key or subscriber token as 'Authorization: Bearer …'")

"""API keys: each has a numeric id, a role, scopes, an organisation and the CAP senders it may
use. Only a key's SHA-256 digest is stored; the secret is shown once (at creation or rotation).

Every authentication reads Redis, so a revoked or rotated key is refused at once by every
process (no per-process cache to go stale).

    wc:apikeys          hash digest → key id        (live keys only; revoking deletes the entry)
    wc:apikey:<id>      hash of the key's fields    (kept after revocation, for the record)
    wc:senders          hash CAP sender → organisation that owns it
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

import orjson

from . import keys
from .errors import Conflict, NotFound

ROLES = ("issuer", "operator", "admin")
_ORG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_SCOPE_DIGITS = (2, 4, 6, 9, 12)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class KeyRecord:
    id: int
    name: str
    role: str
    scopes: list[str]
    org: str
    senders: list[str] = field(default_factory=list)
    created: float = 0.0
    revoked: float | None = None
    rotated: float | None = None

    def public(self) -> dict:
        """What an admin sees: never the secret or its digest."""
        return {"id": self.id, "name": self.name, "role": self.role, "scopes": self.scopes, "org": self.org,
                "senders": self.senders, "created": self.created, "revoked": self.revoked,
                "rotated": self.rotated, "active": self.revoked is None}

    @classmethod
    def from_hash(cls, key_id: int, raw: dict) -> "KeyRecord":
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(key_id, f["name"], f["role"], orjson.loads(f["scopes"]), f["org"], orjson.loads(f["senders"]),
                   float(f["created"]), float(f["revoked"]) if f.get("revoked") else None,
                   float(f["rotated"]) if f.get("rotated") else None)


class KeyFieldError(ValueError):
    """A key field that is wrong; ``field`` names it (name, role, scopes, org, senders)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


def check_fields(name: str, role: str, scopes: list[str], org: str, senders: list[str]) -> None:
    """KeyFieldError naming the first field that is wrong."""
    from .scopes import parse_bbox
    if not isinstance(name, str) or not 0 < len(name) <= 100:
        raise KeyFieldError("name", "name: give 1 to 100 characters saying who the key is for")
    if role not in ROLES:
        raise KeyFieldError("role", f"role must be one of {', '.join(ROLES)}")
    if role == "issuer" and not scopes:
        raise KeyFieldError("scopes", "an issuer key needs scopes: region-code prefixes such as 110105, or *")
    for s in scopes:
        if s != "*" and not (s.isascii() and s.isdigit() and len(s) in _SCOPE_DIGITS) and parse_bbox(s) is None:
            raise KeyFieldError("scopes", f"scope {s!r} is not a region code of 2/4/6/9/12 digits, "
                                "bbox:south,west,north,east, or *")
    if not _ORG.fullmatch(org):
        raise KeyFieldError("org", f"org {org!r}: letters, digits and . _ @ - (up to 64), "
                            "starting with a letter or digit")
    for s in senders:
        if not isinstance(s, str) or not s or len(s) > 200 or any(c.isspace() or c in ",<&" for c in s):
            raise KeyFieldError("senders", f"sender {s!r} is not a CAP sender (no spaces, commas, < or &)")


class KeyStore:
    def __init__(self, redis, admin_key: str = ""):
        self.redis = redis
        self.admin_key = admin_key

    async def create(self, name: str, role: str, scopes: list[str] | None = None, *, org: str | None = None,
                     senders: list[str] | None = None) -> str:
        """A new key's secret, returned once; only its digest is stored."""
        return (await self.create_record(name, role, scopes, org=org, senders=senders))[1]

    async def create_record(self, name: str, role: str, scopes: list[str] | None = None, *,
                            org: str | None = None, senders: list[str] | None = None) -> tuple[KeyRecord, str]:
        scopes = list(scopes or (["*"] if role != "issuer" else []))
        senders = list(dict.fromkeys(senders or []))
        check_fields(name, role, scopes, org or "key-0", senders)
        key_id = int(await self.redis.incr(keys.API_KEY_SEQ))
        org = org or f"key-{key_id}"          # without an organisation, a key is one of its own
        await self._claim(org, senders)
        secret = f"wk_{secrets.token_urlsafe(32)}"
        rec = KeyRecord(key_id, name, role, scopes, org, senders, time.time())
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.api_key(key_id), mapping={
            "name": name, "role": role, "scopes": orjson.dumps(scopes), "org": org,
            "senders": orjson.dumps(senders), "created": repr(rec.created), "digest": digest(secret)})
        pipe.zadd(keys.API_KEY_IDS, {key_id: rec.created})
        pipe.hset(keys.API_KEYS, digest(secret), key_id)
        await pipe.execute()
        return rec, secret

    async def _claim(self, org: str, senders: list[str]) -> None:
        """Bind CAP senders to an organisation; a sender another organisation owns is refused."""
        claimed = [s for s in senders if await self.redis.hsetnx(keys.SENDERS, s, org)]
        owners = await self.redis.hmget(keys.SENDERS, senders) if senders else []
        taken = [(s, o.decode()) for s, o in zip(senders, owners) if o is not None and o.decode() != org]
        if taken:
            if claimed:                                  # the key is not made: release what it claimed
                await self.redis.hdel(keys.SENDERS, *claimed)
            raise KeyFieldError("senders", "; ".join(f"sender {s} belongs to organisation {o}" for s, o in taken))

    async def sender_owner(self, sender: str) -> str | None:
        owner = await self.redis.hget(keys.SENDERS, sender)
        return owner.decode() if owner is not None else None

    def is_admin_key(self, secret: str) -> bool:
        return bool(self.admin_key) and hmac.compare_digest(secret.encode("utf-8", "surrogatepass"),
                                                            self.admin_key.encode())

    async def authenticate(self, secret: str):
        """The Caller a secret belongs to, or None (unknown, revoked or rotated away)."""
        from .auth import Caller
        if self.is_admin_key(secret):
            return Caller("admin", "admin", ("*",), org="*")
        key_id = await self.redis.hget(keys.API_KEYS, digest(secret))
        if key_id is None:
            return None
        if key_id.startswith(b"{"):                      # a key stored before keys had ids
            d = orjson.loads(key_id)
            return Caller(d["name"], d["role"], tuple(d["scopes"]), org="legacy-" + digest(secret)[:12])
        rec = await self.get(int(key_id))
        if rec.revoked is not None:
            return None
        return Caller(rec.name, rec.role, tuple(rec.scopes), key_id=rec.id, org=rec.org, senders=tuple(rec.senders))

    async def get(self, key_id: int) -> KeyRecord:
        raw = await self.redis.hgetall(keys.api_key(key_id))
        if not raw:
            raise NotFound(f"no API key {key_id}", [{"field": "id", "message": "unknown key id"}])
        return KeyRecord.from_hash(key_id, raw)

    async def list(self) -> list[KeyRecord]:
        ids = [int(i) for i in await self.redis.zrange(keys.API_KEY_IDS, 0, -1)]
        return [await self.get(i) for i in ids]

    async def revoke(self, key_id: int) -> KeyRecord:
        """Refuse the key from now on, in every process; its record stays."""
        rec = await self.get(key_id)
        if rec.revoked is not None:
            raise Conflict(f"API key {key_id} is already revoked")
        old = await self.redis.hget(keys.api_key(key_id), "digest")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.API_KEYS, old)
        pipe.hset(keys.api_key(key_id), "revoked", repr(time.time()))
        await pipe.execute()
        return await self.get(key_id)

    async def rotate(self, key_id: int) -> tuple[KeyRecord, str]:
        """A new secret for the same key (id, role, scopes, organisation); the old one is refused."""
        rec = await self.get(key_id)
        if rec.revoked is not None:
            raise Conflict(f"API key {key_id} is revoked; create a new one instead")
        old = await self.redis.hget(keys.api_key(key_id), "digest")
        secret = f"wk_{secrets.token_urlsafe(32)}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.API_KEYS, old)
        pipe.hset(keys.API_KEYS, digest(secret), key_id)
        pipe.hset(keys.api_key(key_id), mapping={"digest": digest(secret), "rotated": repr(time.time())})
        await pipe.execute()
        return await self.get(key_id), secret


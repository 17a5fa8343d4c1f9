"""Web Push: RFC 8030 delivery, RFC 8291 aes128gcm message encryption, RFC 8292 VAPID.

Each subscription is its own push service endpoint: one POST per recipient, the
payload encrypted for that subscription with a fresh ephemeral key. VAPID JWTs are
made once per push service origin and reused for ``VAPID_REUSE_S``.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence
from urllib.parse import urlsplit

import aiohttp
import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from channels import netguard
from channels import config
from channels.base import Channel, Notice, Outcome, Reason, Recipient, Result
from channels.http_errors import TRANSPORT_ERRORS, fit_body, result_for_exception, retry_after_from

log = logging.getLogger(__name__)

#: Largest plaintext that fits one 4096-byte aes128gcm record with its header (RFC 8291 §4).
MAX_PLAINTEXT_BYTES = 3993
#: VAPID JWT lifetime (RFC 8292 allows at most 24 h) and how long one is reused.
VAPID_EXPIRY_S = 12 * 3600
VAPID_REUSE_S = 6 * 3600
MIN_TTL_S = 60

_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

#: HTTP status -> (outcome, reason) for push service answers (RFC 8030 §5, §7).
WEBPUSH_STATUSES: dict[int, tuple[Outcome, Reason]] = {
    200: (Outcome.ACCEPTED, Reason.OK),
    201: (Outcome.ACCEPTED, Reason.OK),
    202: (Outcome.ACCEPTED, Reason.OK),
    400: (Outcome.PERMANENT, Reason.BAD_REQUEST),
    401: (Outcome.PERMANENT, Reason.AUTH),
    403: (Outcome.PERMANENT, Reason.AUTH),
    404: (Outcome.GONE, Reason.UNREGISTERED),
    410: (Outcome.GONE, Reason.UNREGISTERED),
    413: (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE),
    429: (Outcome.RETRY, Reason.THROTTLED),
}


def classify_webpush(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None) -> Result:
    """The Result of one push message request."""
    headers = headers or {}
    if status in WEBPUSH_STATUSES:
        outcome, reason = WEBPUSH_STATUSES[status]
    elif status >= 500:
        outcome, reason = Outcome.RETRY, Reason.SERVER_ERROR
    else:
        outcome, reason = Outcome.PERMANENT, Reason.UNKNOWN
    if outcome is Outcome.ACCEPTED:
        return Result(outcome, reason, provider_id=headers.get("Location") or headers.get("location"))
    text = ""
    if body:
        text = str(body.get("reason") or body.get("message") or body.get("error") or "")[:80]
    retry_after = retry_after_from(headers) if outcome is Outcome.RETRY else None
    return Result(outcome, reason, retry_after_s=retry_after, detail=f"{status} {text}".strip())


def b64url_decode(value: str) -> bytes:
    value = value.strip()
    if not _B64URL_RE.match(value):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def topic_for(collapse_key: str) -> str:
    """A Topic header value (≤ 32 base64url characters) standing for ``collapse_key``."""
    if _TOPIC_RE.match(collapse_key):
        return collapse_key
    return b64url_encode(hashlib.sha256(collapse_key.encode()).digest())[:32]


def load_vapid_key(value: str) -> ec.EllipticCurvePrivateKey:
    """A VAPID private key from PEM or from the base64url raw 32-byte scalar (the usual form)."""
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(value.encode(), None)
    else:
        try:
            raw = b64url_decode(value)
        except (ValueError, binascii.Error) as exc:
            raise ValueError("VAPID private key is neither PEM nor base64url") from exc
        if len(raw) != 32:
            raise ValueError(f"VAPID private key must be 32 bytes base64url (got {len(raw)} bytes)")
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("VAPID private key must be a P-256 key")
    return key


@dataclass(frozen=True)
class WebPushSettings:
    #: PEM, or base64url of the raw 32-byte P-256 private scalar; wins over the file.
    vapid_private_key: str = field(default="", repr=False)
    #: Where the key lives when not given inline; made there on first use if missing.
    vapid_private_key_file: str = "var/webpush-vapid-key.pem"
    #: Contact for push services (RFC 8292 ``sub``): a mailto: or https: URI.
    vapid_subject: str = "mailto:ops@warncast.invalid"
    request_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "WebPushSettings":
        return config.from_env(cls, "WEBPUSH", env)

    def vapid_key(self) -> ec.EllipticCurvePrivateKey:
        if self.vapid_private_key:
            return load_vapid_key(self.vapid_private_key)
        path = Path(self.vapid_private_key_file)
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
            os.chmod(tmp, 0o600)
            tmp.replace(path)
            log.warning("made a new VAPID key at %s; subscriptions must use its public key", path)
            return key
        return load_vapid_key(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint: str
    p256dh: bytes
    auth: bytes

    @property
    def origin(self) -> str:
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"


def parse_subscription(value: str) -> Subscription:
    """A subscription from its JSON; ValueError naming the field that is wrong."""
    try:
        sub = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ValueError("Web Push subscription must be a JSON object") from exc
    if not isinstance(sub, dict):
        raise ValueError("Web Push subscription must be a JSON object")
    endpoint = sub.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("Web Push subscription lacks endpoint")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("Web Push subscription endpoint must be an http(s) URL")
    keys = sub.get("keys")
    if not isinstance(keys, dict):
        raise ValueError("Web Push subscription lacks keys")
    try:
        p256dh = b64url_decode(str(keys.get("p256dh") or ""))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("Web Push subscription keys.p256dh is not base64url") from exc
    if len(p256dh) != 65 or p256dh[0] != 4:
        raise ValueError(f"Web Push subscription keys.p256dh must be a 65-byte uncompressed P-256 point "
                         f"(got {len(p256dh)} bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError as exc:
        raise ValueError("Web Push subscription keys.p256dh is not a point on P-256") from exc
    try:
        auth = b64url_decode(str(keys.get("auth") or ""))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("Web Push subscription keys.auth is not base64url") from exc
    if len(auth) != 16:
        raise ValueError(f"Web Push subscription keys.auth must be 16 bytes (got {len(auth)})")
    return Subscription(endpoint, p256dh, auth)


class WebPushChannel(Channel):
    name: ClassVar[str] = "webpush"
    #: Recipients one ``send`` call may carry (each is its own request).
    max_batch: ClassVar[int] = 500
    #: Plaintext limit: one aes128gcm record of 4096 bytes less header, tag and padding.
    max_body_bytes: ClassVar[int] = MAX_PLAINTEXT_BYTES
    max_rate_per_s: ClassVar[int] = 5_000
    #: HTTP requests this adapter keeps in flight at once (shared by all ``send`` calls).
    max_in_flight: ClassVar[int] = 64
    has_receipts: ClassVar[bool] = False
    receipt_timeout_s: ClassVar[float] = 60.0

    def __init__(self, settings: WebPushSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._public_b64 = ""
        #: origin -> (JWT, made at)
        self._vapid: dict[str, tuple[str, float]] = {}
        self._slots = asyncio.Semaphore(self.max_in_flight)

    @staticmethod
    def validate_endpoint(value: str) -> str:
        sub = parse_subscription(value)
        return json.dumps({"endpoint": sub.endpoint,
                           "keys": {"p256dh": b64url_encode(sub.p256dh), "auth": b64url_encode(sub.auth)}},
                          separators=(",", ":"))

    @property
    def vapid_public_key(self) -> str:
        """The application server key browsers subscribe with (base64url uncompressed point)."""
        return self._public_b64

    async def open(self) -> None:
        if self._session is None:
            self._key = self.settings.vapid_key()
            self._public_b64 = b64url_encode(self._key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout_s),
                connector=netguard.connector(limit=self.max_in_flight, limit_per_host=self.max_in_flight),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def vapid_authorization(self, origin: str) -> str:
        now = time.time()
        cached = self._vapid.get(origin)
        if cached is None or now - cached[1] >= VAPID_REUSE_S:
            assert self._key is not None, "open() first"
            token = jwt.encode({"aud": origin, "exp": int(now) + VAPID_EXPIRY_S, "sub": self.settings.vapid_subject},
                               self._key, algorithm="ES256")
            cached = (token, now)
            self._vapid[origin] = cached
        return f"vapid t={cached[0]}, k={self._public_b64}"

    def build_payload(self, notice: Notice) -> bytes:
        """The plaintext every subscriber's service worker receives (before encryption)."""
        data = {**notice.data, "alert_id": str(notice.alert_id), "identifier": notice.identifier,
                "severity": notice.severity, "msgType": notice.msg_type}

        def encoded(body: str) -> bytes:
            return json.dumps({"title": notice.title, "body": body, "lang": notice.lang, "data": data},
                              ensure_ascii=False, separators=(",", ":")).encode()

        payload, _ = fit_body(encoded, notice.body, self.max_body_bytes)
        return payload

    def headers_for(self, notice: Notice, ttl_s: int) -> dict[str, str]:
        return {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(max(MIN_TTL_S, ttl_s)),
            "Urgency": "high" if notice.severity in ("Extreme", "Severe") else "normal",
            "Topic": topic_for(notice.collapse_key),
        }

    @staticmethod
    def encrypt(plaintext: bytes, sub: Subscription) -> bytes:
        """RFC 8291 aes128gcm body for one subscription, with a fresh ephemeral key."""
        return http_ece.encrypt(plaintext, private_key=ec.generate_private_key(ec.SECP256R1()),
                                dh=sub.p256dh, auth_secret=sub.auth, version="aes128gcm")

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        if not recipients:
            return []
        ttl_s = int(notice.expires_at - time.time())
        if ttl_s <= 0:
            return [Result(Outcome.PERMANENT, Reason.EXPIRED, detail="alert expired before sending")
                    for _ in recipients]
        plaintext = self.build_payload(notice)
        headers = self.headers_for(notice, ttl_s)
        return list(await asyncio.gather(*(self._send_one(r.endpoint, plaintext, headers) for r in recipients)))

    async def _send_one(self, endpoint: str, plaintext: bytes, headers: dict[str, str]) -> Result:
        assert self._session is not None, "open() first"
        try:
            sub = parse_subscription(endpoint)
        except ValueError as exc:
            return Result(Outcome.GONE, Reason.INVALID_ENDPOINT, detail=str(exc))
        async with self._slots:
            body = self.encrypt(plaintext, sub)
            request_headers = {**headers, "Authorization": self.vapid_authorization(sub.origin)}
            try:
                async with self._session.post(sub.endpoint, data=body, headers=request_headers) as resp:
                    text = await resp.read()
                    try:
                        answer = json.loads(text) if text else {}
                    except ValueError:
                        answer = {}
                    return classify_webpush(resp.status, answer if isinstance(answer, dict) else {}, resp.headers)
            except TRANSPORT_ERRORS as exc:
                return result_for_exception(exc)

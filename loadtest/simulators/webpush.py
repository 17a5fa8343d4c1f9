"""Web Push service simulator (RFC 8030) that decrypts what it accepts (RFC 8291) and checks VAPID (RFC 8292).

Subscriptions live at ``{url}/push/{name}``. Their keys are derived from the path and
the simulator's ``key_seed``, so any process can make working subscriptions with
``derive_subscription`` without asking the simulator; explicit keys can be given in
``subscriber_keys`` (path -> (private key, auth secret)).

Error knobs (``Faults.error_rates`` keys): ``"400" "404" "410" "413" "429" "500" "503"``.
Unregistered endpoints (``unregistered_fraction``) answer 410.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from typing import Any

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from loadtest.simulators.base import Faults
from loadtest.simulators.http_base import HttpSimulator

MAX_BODY_BYTES = 4096
MAX_VAPID_LIFETIME_S = 24 * 3600
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_N_P256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
DEFAULT_KEY_SEED = "warncast-webpush-sim"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(value: str) -> bytes:
    value = value.strip().rstrip("=")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def derive_keys(path: str, seed: str = DEFAULT_KEY_SEED) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """The subscriber's (P-256 private key, 16-byte auth secret) for an endpoint path."""
    digest = hashlib.sha256(f"{seed}|key|{path}".encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_N_P256 - 1) + 1
    auth = hashlib.sha256(f"{seed}|auth|{path}".encode()).digest()[:16]
    return ec.derive_private_key(scalar, ec.SECP256R1()), auth


def derive_subscription(base_url: str, name: str | int, seed: str = DEFAULT_KEY_SEED) -> dict[str, Any]:
    """A working subscription (PushSubscription.toJSON() shape) for ``{base_url}/push/{name}``."""
    path = f"/push/{name}"
    key, auth = derive_keys(path, seed)
    p256dh = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": f"{base_url.rstrip('/')}{path}", "keys": {"p256dh": _b64(p256dh), "auth": _b64(auth)}}


class WebPushSimulator(HttpSimulator):
    def __init__(self, faults: Faults | None = None, *, key_seed: str = DEFAULT_KEY_SEED,
                 subscriber_keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] | None = None,
                 vapid_public_key: str | None = None) -> None:
        super().__init__(faults)
        self.key_seed = key_seed
        self.subscriber_keys = dict(subscriber_keys or {})
        #: When set, only this application server key (base64url) is accepted (else 403).
        self.vapid_public_key = vapid_public_key
        #: Decrypted plaintext of the last accepted message, and its raw body.
        self.last_plaintext: bytes | None = None
        self.last_raw_body: bytes = b""

    def make_subscription(self, i: str | int) -> dict[str, Any]:
        """A subscription with working keys on this simulator (start it first)."""
        return derive_subscription(self.url, i, self.key_seed)

    def keys_for(self, path: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        if path not in self.subscriber_keys:
            self.subscriber_keys[path] = derive_keys(path, self.key_seed)
        return self.subscriber_keys[path]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/push/{name}", self.apply_faults(self._push))

    def reset(self) -> None:
        super().reset()
        self.last_plaintext = None
        self.last_raw_body = b""

    def _problem(self, status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"code": status, "errno": status, "error": reason, "message": reason},
                                 status=status, headers=headers)

    def _check_vapid(self, authorization: str) -> tuple[int, str] | None:
        """(status, reason) to refuse the VAPID credential with, or None when it is good."""
        if not authorization.lower().startswith("vapid "):
            return 401, "missing VAPID authorization"
        params: dict[str, str] = {}
        for part in authorization[6:].split(","):
            name, _, value = part.strip().partition("=")
            params[name.strip()] = value.strip()
        token, k = params.get("t", ""), params.get("k", "")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(k))
        except (ValueError, TypeError):
            return 401, "bad VAPID k"
        if self.vapid_public_key and _unb64(k) != _unb64(self.vapid_public_key):
            return 403, "VAPID key does not match the subscription's application server key"
        try:
            claims = jwt.decode(token, public, algorithms=["ES256"], audience=self.url,
                                options={"require": ["aud", "exp", "sub"]})
        except jwt.PyJWTError as exc:
            return 401, f"bad VAPID JWT: {exc}"
        if claims["exp"] - time.time() > MAX_VAPID_LIFETIME_S:
            return 401, "VAPID exp more than 24 hours ahead"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return 401, "VAPID sub must be mailto: or https:"
        return None

    async def _push(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.note(request, None)
        self.last_raw_body = raw
        if self.faults.down:
            return self._problem(503, "service unavailable", self.retry_after_header())
        refusal = self._check_vapid(request.headers.get("Authorization", ""))
        if refusal:
            return self._problem(*refusal)
        knob = self.faults.pick_error()
        if knob is not None:
            status = int(knob)
            headers = self.retry_after_header() if status in (429, 503) else None
            return self._problem(status, "injected", headers)
        path = request.path
        if self.faults.unregistered(path):
            return self._problem(410, "push subscription has unsubscribed or expired")
        ttl = request.headers.get("TTL", "")
        if not ttl.isdigit():
            return self._problem(400, "TTL header missing or not a number")
        if request.headers.get("Urgency", "normal") not in ("very-low", "low", "normal", "high"):
            return self._problem(400, "bad Urgency")
        topic = request.headers.get("Topic", "")
        if topic and not _TOPIC_RE.match(topic):
            return self._problem(400, "Topic must be at most 32 base64url characters")
        if len(raw) > MAX_BODY_BYTES:
            return self._problem(413, "payload too large")
        if request.headers.get("Content-Encoding", "") != "aes128gcm":
            return self._problem(415, "Content-Encoding must be aes128gcm")
        private_key, auth = self.keys_for(path)
        try:
            plaintext = http_ece.decrypt(raw, private_key=private_key, auth_secret=auth, version="aes128gcm")
            message = json.loads(plaintext)
        except Exception:  # noqa: BLE001 - any decryption or decoding failure is the sender's fault
            return self._problem(400, "payload does not decrypt")
        self.last_plaintext = plaintext
        self.last_body = message
        data = message.get("data") if isinstance(message, dict) else None
        alert_id = str((data or {}).get("alert_id", "")) if isinstance(data, dict) else ""
        message_id = uuid.uuid4().hex
        self.ledger.record(message_id, request.path.rsplit("/", 1)[-1], alert_id, topic)
        await self.stall()
        return web.Response(status=201, headers={"Location": f"{self.url}/m/{message_id}", "TTL": ttl})


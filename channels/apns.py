"""APNs provider API over HTTP/2 with token (ES256 JWT) authentication.

One request per device token, multiplexed as streams over a small pool of HTTP/2
connections (``channels.h2client``). The provider JWT is reused for ``JWT_REUSE_S`` and made again once when
APNs answers ``ExpiredProviderToken``.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import jwt
import orjson

from channels import config
from channels.base import Channel, Notice, Outcome, Reason, Recipient, Result
from channels.h2client import H2Pool
from channels.http_errors import TRANSPORT_ERRORS, fit_body, result_for_exception, retry_after_from

#: Age after which the provider JWT is made again (APNs accepts 20-60 minutes).
JWT_REUSE_S = 40 * 60

_TOKEN_RE = re.compile(r"^[0-9a-fA-F]{64,200}$")

#: ``reason`` -> (outcome, reason) of the APNs error reference.
APNS_REASONS: dict[str, tuple[Outcome, Reason]] = {
    "Unregistered": (Outcome.GONE, Reason.UNREGISTERED),
    "ExpiredToken": (Outcome.GONE, Reason.UNREGISTERED),
    "BadDeviceToken": (Outcome.GONE, Reason.INVALID_ENDPOINT),
    "DeviceTokenNotForTopic": (Outcome.GONE, Reason.INVALID_ENDPOINT),
    "PayloadTooLarge": (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE),
    "PayloadEmpty": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "BadCollapseId": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "BadExpirationDate": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "BadMessageId": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "BadPriority": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "BadTopic": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "DuplicateHeaders": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "IdleTimeout": (Outcome.RETRY, Reason.CONNECTION),
    "InvalidPushType": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "MissingDeviceToken": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "MissingTopic": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "TopicDisallowed": (Outcome.PERMANENT, Reason.CONFIGURATION),
    "BadCertificate": (Outcome.PERMANENT, Reason.CONFIGURATION),
    "BadCertificateEnvironment": (Outcome.PERMANENT, Reason.CONFIGURATION),
    "Forbidden": (Outcome.PERMANENT, Reason.CONFIGURATION),
    #: made again once first
    "ExpiredProviderToken": (Outcome.PERMANENT, Reason.AUTH),
    "InvalidProviderToken": (Outcome.PERMANENT, Reason.AUTH),
    "MissingProviderToken": (Outcome.PERMANENT, Reason.AUTH),
    "BadPath": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "MethodNotAllowed": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "TooManyProviderTokenUpdates": (Outcome.RETRY, Reason.THROTTLED),
    "TooManyRequests": (Outcome.RETRY, Reason.THROTTLED),
    "InternalServerError": (Outcome.RETRY, Reason.SERVER_ERROR),
    "ServiceUnavailable": (Outcome.RETRY, Reason.SERVER_ERROR),
    "Shutdown": (Outcome.RETRY, Reason.SERVER_ERROR),
}

APNS_STATUSES: dict[int, tuple[Outcome, Reason]] = {
    400: (Outcome.PERMANENT, Reason.BAD_REQUEST),
    403: (Outcome.PERMANENT, Reason.AUTH),
    405: (Outcome.PERMANENT, Reason.BAD_REQUEST),
    410: (Outcome.GONE, Reason.UNREGISTERED),
    413: (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE),
    429: (Outcome.RETRY, Reason.THROTTLED),
}


def collapse_id_for(collapse_key: str) -> str:
    """An ``apns-collapse-id`` (printable ASCII, at most 64 bytes) standing for ``collapse_key``."""
    if collapse_key.isascii() and collapse_key.isprintable() and len(collapse_key) <= 64:
        return collapse_key
    return hashlib.sha256(collapse_key.encode("utf-8")).hexdigest()


def classify_apns(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None) -> Result:
    """The Result of one ``/3/device/{token}`` answer."""
    headers = headers or {}
    if status == 200:
        return Result(Outcome.ACCEPTED, Reason.OK, provider_id=headers.get("apns-id"))
    reason_text = str((body or {}).get("reason") or "")
    if reason_text in APNS_REASONS:
        outcome, reason = APNS_REASONS[reason_text]
    elif status in APNS_STATUSES:
        outcome, reason = APNS_STATUSES[status]
    elif status >= 500:
        outcome, reason = Outcome.RETRY, Reason.SERVER_ERROR
    else:
        outcome, reason = Outcome.PERMANENT, Reason.UNKNOWN
    retry_after = retry_after_from(headers) if outcome is Outcome.RETRY else None
    return Result(outcome, reason, provider_id=headers.get("apns-id") if outcome is Outcome.GONE else None,
                  retry_after_s=retry_after, detail=f"{status} {reason_text}".strip())


@dataclass(frozen=True)
class ApnsSettings:
    url: str = "http://127.0.0.1:9103"
    team_id: str = "WARNCAST01"
    key_id: str = "DEVKEY0001"
    #: The team's .p8 signing key (PEM); wins over ``private_key_file``.
    private_key_pem: str = field(default="", repr=False)
    private_key_file: str = "var/simulators/apns-dev-key.p8"
    #: The app's bundle id, sent as ``apns-topic``.
    topic: str = "org.warncast.app"
    #: Whether the app holds Apple's critical-alerts entitlement.
    critical_allowed: bool = False
    #: CA bundle for a TLS simulator or a private gateway ("" = system trust store).
    ca_file: str = ""
    request_timeout_s: float = 10.0
    #: HTTP/2 connections kept to APNs; streams are spread over them.
    connections: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ApnsSettings":
        return config.from_env(cls, "APNS", env, names={"private_key_pem": "private_key"})

    def signing_key(self) -> str:
        if self.private_key_pem:
            return self.private_key_pem
        try:
            with open(self.private_key_file, encoding="utf-8") as f:
                return f.read()
        except OSError as exc:
            raise ValueError(f"APNs private key file {self.private_key_file!r} cannot be read: {exc.strerror}") from exc


class ApnsChannel(Channel):
    name: ClassVar[str] = "apns"
    #: Recipients one ``send`` call may carry (each is its own HTTP/2 stream).
    max_batch: ClassVar[int] = 500
    max_body_bytes: ClassVar[int] = 4096
    max_rate_per_s: ClassVar[int] = 10_000
    #: HTTP/2 streams this adapter keeps open at once (shared by all ``send`` calls).
    max_in_flight: ClassVar[int] = 200
    has_receipts: ClassVar[bool] = False
    receipt_timeout_s: ClassVar[float] = 60.0

    def __init__(self, settings: ApnsSettings) -> None:
        self.settings = settings
        self._client: H2Pool | None = None
        self._key: str | None = None
        self._jwt: str | None = None
        self._jwt_made_at = 0.0
        self._slots = asyncio.Semaphore(self.max_in_flight)

    @staticmethod
    def validate_endpoint(value: str) -> str:
        token = (value or "").strip().replace(" ", "").strip("<>")
        if not _TOKEN_RE.match(token):
            raise ValueError(f"APNs device token must be 64-200 hexadecimal characters (got {len(token)} characters"
                             + (", not all hexadecimal)" if 64 <= len(token) <= 200 else ")"))
        return token.lower()

    async def open(self) -> None:
        if self._client is None:
            self._key = self.settings.signing_key()
            context = ssl.create_default_context(cafile=self.settings.ca_file or None)
            self._client = H2Pool(self.settings.url, connections=self.settings.connections,
                                  timeout_s=self.settings.request_timeout_s,
                                  ssl_context=context if self.settings.url.startswith("https") else None)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def provider_token(self, stale: str | None = None) -> str:
        """The provider JWT, made again after ``JWT_REUSE_S`` or when ``stale`` was refused."""
        now = time.time()
        if self._jwt is None or self._jwt == stale or now - self._jwt_made_at >= JWT_REUSE_S:
            assert self._key is not None, "open() first"
            self._jwt = jwt.encode({"iss": self.settings.team_id, "iat": int(now)}, self._key,
                                   algorithm="ES256", headers={"kid": self.settings.key_id})
            self._jwt_made_at = now
        return self._jwt

    def build_payload(self, notice: Notice) -> bytes:
        aps: dict[str, Any] = {"alert": {"title": notice.title, "body": notice.body}, "sound": "default"}
        if notice.severity == "Extreme" and self.settings.critical_allowed:
            aps["interruption-level"] = "critical"
            aps["sound"] = {"critical": 1, "name": "default", "volume": 1.0}
        elif notice.severity in ("Extreme", "Severe"):
            aps["interruption-level"] = "time-sensitive"
        extra = {**notice.data, "alert_id": str(notice.alert_id), "identifier": notice.identifier,
                 "severity": notice.severity, "msgType": notice.msg_type}

        def encoded(body: str) -> bytes:
            aps["alert"]["body"] = body
            return json.dumps({**extra, "aps": aps}, ensure_ascii=False, separators=(",", ":")).encode()

        payload, _ = fit_body(encoded, notice.body, self.max_body_bytes)
        return payload

    def headers_for(self, notice: Notice) -> dict[str, str]:
        headers = {
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": str(int(notice.expires_at)),
            "apns-topic": self.settings.topic,
        }
        collapse = collapse_id_for(notice.collapse_key)
        if collapse:
            headers["apns-collapse-id"] = collapse
        return headers

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        if not recipients:
            return []
        if notice.expires_at <= time.time():
            return [Result(Outcome.PERMANENT, Reason.EXPIRED, detail="alert expired before sending")
                    for _ in recipients]
        payload = self.build_payload(notice)
        headers = self.headers_for(notice)
        return list(await asyncio.gather(*(self._send_one(r.endpoint, payload, headers) for r in recipients)))

    async def _send_one(self, token: str, payload: bytes, headers: dict[str, str]) -> Result:
        assert self._client is not None, "open() first"
        path = f"/3/device/{token}"
        refused: str | None = None
        async with self._slots:
            for attempt in (1, 2):
                bearer = self.provider_token(stale=refused)
                try:
                    resp = await self._client.post(path, {**headers, "authorization": f"bearer {bearer}"}, payload)
                except TRANSPORT_ERRORS as exc:
                    return result_for_exception(exc)
                try:
                    body = orjson.loads(resp.body) if resp.body else {}
                except orjson.JSONDecodeError:
                    body = {}
                result = classify_apns(resp.status, body if isinstance(body, dict) else {}, resp.headers)
                if attempt == 1 and result.detail.endswith("ExpiredProviderToken"):
                    refused = bearer
                    continue
                return result
        return result

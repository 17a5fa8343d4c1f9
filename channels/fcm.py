"""FCM HTTP v1: one ``messages:send`` request per message, many in flight.

The bearer comes from the service account: an RS256 JWT assertion exchanged at its
``token_uri`` (OAuth2 JWT bearer grant), cached for its lifetime and fetched again
once when FCM answers 401.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import aiohttp
import jwt

from channels import netguard
from channels import config
from channels.oauth import BearerCache
from channels.apns import collapse_id_for
from channels.base import Channel, Notice, Outcome, Reason, Recipient, Result
from channels.http_errors import TRANSPORT_ERRORS, TokenEndpointError, fit_body, result_for_exception, retry_after_from

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
#: How long before its expiry a cached access token is replaced (s).

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_:\-]{100,4096}$")

#: FcmError errorCode (or google.rpc status when no errorCode is given) -> (outcome, reason).
FCM_ERRORS: dict[str, tuple[Outcome, Reason]] = {
    "UNREGISTERED": (Outcome.GONE, Reason.UNREGISTERED),
    "INVALID_ARGUMENT": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "QUOTA_EXCEEDED": (Outcome.RETRY, Reason.THROTTLED),
    "RESOURCE_EXHAUSTED": (Outcome.RETRY, Reason.THROTTLED),
    "UNAVAILABLE": (Outcome.RETRY, Reason.SERVER_ERROR),
    "INTERNAL": (Outcome.RETRY, Reason.SERVER_ERROR),
    "SENDER_ID_MISMATCH": (Outcome.PERMANENT, Reason.CONFIGURATION),
    "THIRD_PARTY_AUTH_ERROR": (Outcome.PERMANENT, Reason.CONFIGURATION),
    "PERMISSION_DENIED": (Outcome.PERMANENT, Reason.CONFIGURATION),
    #: our OAuth bearer was refused: fetched again once, then permanent
    "UNAUTHENTICATED": (Outcome.PERMANENT, Reason.AUTH),
    "NOT_FOUND": (Outcome.GONE, Reason.UNREGISTERED),
}

#: HTTP status -> (outcome, reason) when the body names nothing known.
FCM_STATUSES: dict[int, tuple[Outcome, Reason]] = {
    400: (Outcome.PERMANENT, Reason.BAD_REQUEST),
    401: (Outcome.PERMANENT, Reason.AUTH),
    403: (Outcome.PERMANENT, Reason.CONFIGURATION),
    404: (Outcome.GONE, Reason.UNREGISTERED),
    413: (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE),
    429: (Outcome.RETRY, Reason.THROTTLED),
}


def _is_token_violation(error: Mapping[str, Any]) -> bool:
    """Whether an INVALID_ARGUMENT is about the registration token rather than the message."""
    for d in error.get("details") or ():
        if isinstance(d, dict) and d.get("@type") == BAD_REQUEST_TYPE:
            for v in d.get("fieldViolations") or ():
                if isinstance(v, dict) and v.get("field") == "message.token":
                    return True
    return "registration token" in str(error.get("message", "")).lower()


def classify_fcm(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None) -> Result:
    """The Result of one ``messages:send`` answer."""
    body = body or {}
    if status == 200:
        return Result(Outcome.ACCEPTED, Reason.OK, provider_id=str(body.get("name") or "") or None)
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = ""
    for d in error.get("details") or ():
        if isinstance(d, dict) and d.get("@type") == FCM_ERROR_TYPE and d.get("errorCode"):
            code = str(d["errorCode"])
            break
    code = code or str(error.get("status") or "")
    if code == "INVALID_ARGUMENT" and _is_token_violation(error):
        outcome, reason = Outcome.GONE, Reason.INVALID_ENDPOINT
    elif code in FCM_ERRORS:
        outcome, reason = FCM_ERRORS[code]
    elif status in FCM_STATUSES:
        outcome, reason = FCM_STATUSES[status]
    elif status >= 500:
        outcome, reason = Outcome.RETRY, Reason.SERVER_ERROR
    else:
        outcome, reason = Outcome.PERMANENT, Reason.UNKNOWN
    retry_after = retry_after_from(headers) if outcome is Outcome.RETRY else None
    return Result(outcome, reason, retry_after_s=retry_after, detail=f"{status} {code}".strip())


@dataclass(frozen=True)
class FcmSettings:
    url: str = "http://127.0.0.1:9102"
    #: Service account JSON file (``client_email``, ``private_key``, ``token_uri``, ``project_id``).
    service_account_file: str = "var/simulators/fcm-service-account.json"
    #: The same JSON inline; wins over the file when set.
    service_account_json: str = field(default="", repr=False)
    #: Overrides the service account's ``token_uri`` (e.g. the simulator's).
    token_url: str = ""
    request_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "FcmSettings":
        return config.from_env(cls, "FCM", env)

    def service_account(self) -> dict[str, Any]:
        """The parsed service account; ValueError naming what is missing."""
        if self.service_account_json:
            raw, where = self.service_account_json, "WARNCAST_FCM_SERVICE_ACCOUNT_JSON"
        else:
            where = self.service_account_file
            try:
                with open(self.service_account_file, encoding="utf-8") as f:
                    raw = f.read()
            except OSError as exc:
                raise ValueError(f"FCM service account file {where!r} cannot be read: {exc.strerror}") from exc
        try:
            account = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"FCM service account in {where!r} is not JSON") from exc
        missing = [k for k in ("client_email", "private_key", "token_uri", "project_id") if not account.get(k)]
        if missing:
            raise ValueError(f"FCM service account in {where!r} lacks {', '.join(missing)}")
        return account


class FcmChannel(Channel):
    name: ClassVar[str] = "fcm"
    #: Recipients one ``send`` call may carry (each is its own request).
    max_batch: ClassVar[int] = 500
    max_body_bytes: ClassVar[int] = 4096
    max_rate_per_s: ClassVar[int] = 10_000
    #: HTTP requests this adapter keeps in flight at once (shared by all ``send`` calls).
    max_in_flight: ClassVar[int] = 64
    has_receipts: ClassVar[bool] = False
    receipt_timeout_s: ClassVar[float] = 60.0

    def __init__(self, settings: FcmSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._account: dict[str, Any] | None = None
        self._bearer = BearerCache()
        self._slots = asyncio.Semaphore(self.max_in_flight)

    @staticmethod
    def validate_endpoint(value: str) -> str:
        token = (value or "").strip()
        if not 100 <= len(token) <= 4096:
            raise ValueError(f"FCM registration token must be 100-4096 characters long (got {len(token)})")
        if not _TOKEN_RE.match(token):
            raise ValueError("FCM registration token may hold only A-Z a-z 0-9 _ : -")
        return token

    async def open(self) -> None:
        if self._session is None:
            self._account = self.settings.service_account()
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout_s),
                connector=netguard.connector(limit=self.max_in_flight),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def project_id(self) -> str:
        assert self._account is not None, "open() first"
        return str(self._account["project_id"])

    async def _access_token(self, stale: str | None = None) -> str:
        """The cached bearer; fetched again when near expiry or when ``stale`` was refused."""
        assert self._session is not None and self._account is not None, "open() first"
        account = self._account
        token_uri = self.settings.token_url or account["token_uri"]

        def form() -> dict[str, str]:
            now = int(time.time())
            assertion = jwt.encode(
                {"iss": account["client_email"], "scope": SCOPE, "aud": token_uri, "iat": now, "exp": now + 3600},
                account["private_key"], algorithm="RS256",
                headers={"kid": account["private_key_id"]} if account.get("private_key_id") else None)
            return {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}

        return await self._bearer.get(self._session, token_uri, form, stale=stale)

    def build_message(self, notice: Notice, ttl_s: int) -> dict[str, Any]:
        """The message without its token (added per recipient)."""
        data = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in notice.data.items()}
        data.update({"alert_id": str(notice.alert_id), "identifier": notice.identifier,
                     "severity": notice.severity, "msgType": notice.msg_type})

        def message(body: str) -> dict[str, Any]:
            return {
                "notification": {"title": notice.title, "body": body},
                "data": data,
                "android": {"priority": "HIGH", "ttl": f"{ttl_s}s", "collapse_key": notice.collapse_key},
                "apns": {"headers": {"apns-priority": "10", "apns-expiration": str(int(notice.expires_at)),
                                     "apns-collapse-id": collapse_id_for(notice.collapse_key)}},
            }

        def encoded(body: str) -> bytes:
            return json.dumps(message(body), ensure_ascii=False, separators=(",", ":")).encode()

        _, body = fit_body(encoded, notice.body, self.max_body_bytes)
        return message(body)

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        if not recipients:
            return []
        ttl_s = int(notice.expires_at - time.time())
        if ttl_s <= 0:
            return [Result(Outcome.PERMANENT, Reason.EXPIRED, detail="alert expired before sending")
                    for _ in recipients]
        message = self.build_message(notice, ttl_s)
        # Serialise the shared part once; each request splices its token in front.
        shared = json.dumps(message, ensure_ascii=False, separators=(",", ":"))[1:]
        return list(await asyncio.gather(*(self._send_one(r.endpoint, shared) for r in recipients)))

    async def _send_one(self, token: str, shared: str) -> Result:
        assert self._session is not None, "open() first"
        payload = ('{"message":{"token":' + json.dumps(token) + "," + shared + "}").encode()
        url = f"{self.settings.url}/v1/projects/{self.project_id}/messages:send"
        refused: str | None = None
        async with self._slots:
            for attempt in (1, 2):
                try:
                    bearer = await self._access_token(stale=refused)
                    async with self._session.post(
                        url, data=payload,
                        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json; UTF-8"},
                    ) as resp:
                        try:
                            body = await resp.json(content_type=None)
                        except ValueError:
                            body = {}
                        result = classify_fcm(resp.status, body if isinstance(body, dict) else {}, resp.headers)
                except TokenEndpointError as exc:
                    return exc.result()
                except TRANSPORT_ERRORS as exc:
                    return result_for_exception(exc)
                if attempt == 1 and result.reason is Reason.AUTH:
                    refused = bearer
                    continue
                return result
        return result

"""Huawei Push Kit style batch push: OAuth client credentials, up to 1,000 tokens a request.

One request carries the whole batch; the answer's code applies to every token, except
``80100000`` (partial success) whose ``msg`` lists the illegal tokens.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import aiohttp
import orjson

from channels import netguard
from channels import config
from channels.oauth import BearerCache
from channels.base import Channel, Notice, Outcome, Reason, Recipient, Result
from channels.http_errors import TRANSPORT_ERRORS, TokenEndpointError, fit_body, result_for_exception, retry_after_from

#: How long before its expiry a cached access token is replaced (s).

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_.:\-=+/]{32,512}$")

SUCCESS = "80000000"
PARTIAL = "80100000"

#: Result code -> (outcome, reason) for codes that apply to every token of the request.
HMS_CODES: dict[str, tuple[Outcome, Reason]] = {
    "80200001": (Outcome.PERMANENT, Reason.AUTH),         #: OAuth authentication error
    "80200003": (Outcome.PERMANENT, Reason.AUTH),         #: OAuth token expired (refreshed once first)
    "80600003": (Outcome.RETRY, Reason.SERVER_ERROR),     #: the OAuth service failed
    "80300007": (Outcome.GONE, Reason.UNREGISTERED),      #: all tokens invalid
    "80300008": (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE),
    "80300002": (Outcome.PERMANENT, Reason.CONFIGURATION),  #: app may not send messages
    "80300011": (Outcome.PERMANENT, Reason.CONFIGURATION),  #: app may not send high-priority messages
    "80100001": (Outcome.PERMANENT, Reason.BAD_REQUEST),  #: a parameter is wrong
    "80100003": (Outcome.PERMANENT, Reason.BAD_REQUEST),  #: illegal message structure
    "80100004": (Outcome.PERMANENT, Reason.EXPIRED),      #: ttl earlier than now
    "80100013": (Outcome.PERMANENT, Reason.BAD_REQUEST),  #: illegal collapse_key
    "80100016": (Outcome.PERMANENT, Reason.BAD_REQUEST),  #: sensitive content
    "80300010": (Outcome.PERMANENT, Reason.BAD_REQUEST),  #: too many tokens
    "81000001": (Outcome.RETRY, Reason.SERVER_ERROR),     #: internal error
}

#: HTTP status -> (outcome, reason) when the body carries no known code.
HMS_STATUSES: dict[int, tuple[Outcome, Reason]] = {
    401: (Outcome.PERMANENT, Reason.AUTH),
    403: (Outcome.PERMANENT, Reason.CONFIGURATION),
    413: (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE),
    429: (Outcome.RETRY, Reason.THROTTLED),
    500: (Outcome.RETRY, Reason.SERVER_ERROR),
    502: (Outcome.RETRY, Reason.SERVER_ERROR),
    503: (Outcome.RETRY, Reason.THROTTLED),
    504: (Outcome.RETRY, Reason.SERVER_ERROR),
}


def _illegal_tokens(msg: Any) -> set[str] | None:
    """The tokens a PARTIAL answer's ``msg`` names as illegal; None when it cannot be read."""
    try:
        detail = orjson.loads(msg) if isinstance(msg, (str, bytes)) else None
    except orjson.JSONDecodeError:
        return None
    tokens = detail.get("illegal_tokens") if isinstance(detail, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        return None
    return set(tokens)


def classify_hms(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None,
                 tokens: Sequence[str]) -> list[Result]:
    """One Result per token for one ``messages:send`` answer."""
    body = body or {}
    code = str(body.get("code", ""))
    request_id = str(body.get("requestId") or "") or None
    retry_after = retry_after_from(headers)

    # Push Kit acknowledges a request, not each token: every accepted token shares the request's id
    # (and one Result object, which keeps a 1,000-token answer cheap).
    accepted = Result(Outcome.ACCEPTED, Reason.OK, provider_id=request_id)
    if status == 200 and code == SUCCESS:
        return [accepted] * len(tokens)
    if status == 200 and code == PARTIAL:
        illegal = _illegal_tokens(body.get("msg"))
        if illegal is None:
            # Which tokens were refused is unknown: taking all as accepted would lose people silently.
            return [Result(Outcome.RETRY, Reason.SERVER_ERROR, retry_after_s=retry_after,
                           detail=f"{PARTIAL} with an unreadable token list") for _ in tokens]
        gone = Result(Outcome.GONE, Reason.UNREGISTERED, detail=f"{PARTIAL} illegal token")
        return [gone if tok in illegal else accepted for tok in tokens]
    if status in (429, 503):  # flow control, whatever code the body carries
        outcome, reason = HMS_STATUSES[status]
    elif code in HMS_CODES:
        outcome, reason = HMS_CODES[code]
    elif status in HMS_STATUSES:
        outcome, reason = HMS_STATUSES[status]
    elif 500 <= status < 600:
        outcome, reason = Outcome.RETRY, Reason.SERVER_ERROR
    elif 400 <= status < 500:
        outcome, reason = Outcome.PERMANENT, Reason.BAD_REQUEST
    else:
        outcome, reason = Outcome.PERMANENT, Reason.UNKNOWN
    msg = str(body.get("msg") or "")[:80]
    result_detail = f"{status} {code} {msg}".strip()
    return [
        Result(outcome, reason, retry_after_s=retry_after if outcome is Outcome.RETRY else None,
               detail=result_detail)
        for _ in tokens
    ]


@dataclass(frozen=True)
class HmsSettings:
    url: str = "http://127.0.0.1:9101"
    app_id: str = "100000001"
    client_id: str = "100000001"
    client_secret: str = field(default="warncast-dev-secret", repr=False)
    #: Where the OAuth token is fetched (default: ``{url}/oauth2/v3/token``).
    token_url: str = ""
    request_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "HmsSettings":
        return config.from_env(cls, "HMS", env)


class HmsChannel(Channel):
    name: ClassVar[str] = "hms"
    #: Tokens one request carries.
    max_batch: ClassVar[int] = 1000
    shared_text = True
    #: Message payload without the token list (bytes).
    max_body_bytes: ClassVar[int] = 4096
    max_rate_per_s: ClassVar[int] = 50_000
    #: Batch requests in flight at once, per shard job. Four keep the provider busy (a thousand tokens
    #: each; 16 measured no faster) and bound what a running job still has out when a red alert
    #: arrives: the job yields at its next batch, but what is in flight is answered first.
    max_in_flight: ClassVar[int] = 4
    #: Push Kit can post receipts, but nothing parses them yet.
    has_receipts: ClassVar[bool] = False
    receipt_timeout_s: ClassVar[float] = 60.0

    def __init__(self, settings: HmsSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._bearer = BearerCache()

    @staticmethod
    def validate_endpoint(value: str) -> str:
        token = (value or "").strip()
        if not _TOKEN_RE.match(token):
            raise ValueError(
                f"HMS push token must be 32-512 characters of A-Z a-z 0-9 _ . : - = + / (got {len(token)} characters"
                + (")" if 32 <= len(token) <= 512 else ", wrong length)")
            )
        return token

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout_s),
                connector=netguard.connector(limit=self.max_in_flight * 2),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def _token_url(self) -> str:
        return self.settings.token_url or f"{self.settings.url}/oauth2/v3/token"

    async def _access_token(self, stale: str | None = None) -> str:
        """The cached bearer; fetched again when near expiry or when ``stale`` was refused."""
        assert self._session is not None, "open() first"
        return await self._bearer.get(self._session, self._token_url, lambda: {
            "grant_type": "client_credentials", "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret}, stale=stale)

    def build_message(self, notice: Notice, tokens: Sequence[str], ttl_s: int) -> dict[str, Any]:
        data = json.dumps(
            {**notice.data, "alert_id": str(notice.alert_id), "identifier": notice.identifier,
             "severity": notice.severity, "msgType": notice.msg_type},
            ensure_ascii=False, separators=(",", ":"),
        )

        def message(body: str) -> dict[str, Any]:
            return {
                "android": {
                    "urgency": "HIGH",
                    "ttl": f"{ttl_s}s",
                    "collapse_key": notice.collapse_key,
                    "notification": {"title": notice.title, "body": body, "importance": "HIGH"},
                },
                "data": data,
            }

        def encoded(body: str) -> bytes:
            return json.dumps(message(body), ensure_ascii=False, separators=(",", ":")).encode()

        _, body = fit_body(encoded, notice.body, self.max_body_bytes)
        msg = message(body)
        msg["token"] = list(tokens)
        return {"validate_only": False, "message": msg}

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        return await self.send_columns(notice, [r.subscriber_id for r in recipients], [r.endpoint for r in recipients])

    async def send_columns(self, notice: Notice, subscriber_ids: Sequence[int],
                           endpoints: Sequence[str]) -> list[Result]:
        recipients = endpoints
        if not recipients:
            return []
        ttl_s = int(notice.expires_at - time.time())
        if ttl_s <= 0:
            return [Result(Outcome.PERMANENT, Reason.EXPIRED, detail="alert expired before sending")
                    for _ in recipients]
        results: list[Result] = []
        for start in range(0, len(recipients), self.max_batch):
            chunk = list(recipients[start:start + self.max_batch])
            results.extend(await self._send_batch(notice, chunk, ttl_s))
        return results

    async def _send_batch(self, notice: Notice, tokens: list[str], ttl_s: int) -> list[Result]:
        assert self._session is not None, "open() first"
        payload = orjson.dumps(self.build_message(notice, tokens, ttl_s))
        url = f"{self.settings.url}/v1/{self.settings.app_id}/messages:send"
        refused: str | None = None
        for attempt in (1, 2):
            try:
                token = await self._access_token(stale=refused)
                async with self._session.post(
                    url, data=payload,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json;charset=utf-8"},
                ) as resp:
                    try:
                        body = orjson.loads(await resp.read())
                    except orjson.JSONDecodeError:
                        body = {}
                    results = classify_hms(resp.status, body if isinstance(body, dict) else {}, resp.headers, tokens)
            except TokenEndpointError as exc:
                return [exc.result() for _ in tokens]
            except TRANSPORT_ERRORS as exc:
                failed = result_for_exception(exc)
                return [Result(failed.outcome, failed.reason, detail=failed.detail) for _ in tokens]
            if attempt == 1 and results and results[0].reason is Reason.AUTH:
                refused = token
                continue
            return results
        return results

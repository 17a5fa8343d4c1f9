"""HTTP SMS gateway adapter: one request carries many numbers with the same text.

Wire protocol (``POST {url}/v1/sms/batch``, ``Authorization: Bearer <api_key>``)::

    {"to": ["+8613800000000", ...], "text": "...", "reference": "<alert_id>",
     "callback_url": "https://.../callbacks/sms"}

or the same fields form-encoded with ``to`` comma-joined. The gateway answers
``{"results": [{"to", "status": "accepted", "message_id"} |
{"to", "status": "rejected", "error"}]}`` and later POSTs signed batches of
delivery reports to ``callback_url`` (see ``verify_and_parse_reports``).

Exceptions::

    ValueError          a subscriber's number is not a valid phone number (validate_endpoint)
    SignatureError      a delivery-report callback is unsigned, forged, replayed or malformed
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import aiohttp
import orjson
import phonenumbers

from channels import netguard
from channels import config
from channels.http_errors import TRANSPORT_ERRORS, parse_retry_after, result_for_exception
from channels.base import Channel, Notice, Outcome, Reason, Receipt, ReceiptStatus, Recipient, Result
from channels.sms_text import segments

DEV_API_KEY = "warncast-dev-sms-key"
#: Octets of user data in one SMS segment.
SEGMENT_OCTETS = 140

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


#: Number types that can receive a text message (Chinese landlines cannot).
_SMS_CAPABLE = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


class SignatureError(Exception):
    """A delivery-report callback failed verification; answer 401 and ignore its content."""


@dataclass(frozen=True)
class SmsSettings:
    #: Gateway base URL (the request goes to ``{url}/v1/sms/batch``).
    url: str = "http://127.0.0.1:9201"
    api_key: str = field(default=DEV_API_KEY, repr=False)
    #: HMAC key the gateway signs delivery reports with; unset, the API generates one per installation.
    callback_secret: str = field(default="", repr=False)
    #: Numbers per request.
    batch: int = 500
    #: Request encoding: "json" or "form".
    format: str = "json"
    #: Longest text accepted, in SMS segments.
    max_parts: int = 4
    #: Where the gateway posts delivery reports (warncast's ``POST /callbacks/sms``).
    callback_url: str = "http://127.0.0.1:8080/callbacks/sms"
    #: Whole-request timeout (s).
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.format not in ("json", "form"):
            raise ValueError(f"WARNCAST_SMS_FORMAT must be 'json' or 'form', not {self.format!r}")
        if self.batch < 1 or self.max_parts < 1:
            raise ValueError("WARNCAST_SMS_BATCH and WARNCAST_SMS_MAX_PARTS must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SmsSettings":
        return config.from_env(cls, "SMS", env)


def _each(n: int, outcome: Outcome, reason: Reason, **kw: Any) -> list[Result]:
    """n separate results (never one shared mutable object)."""
    return [Result(outcome, reason, **kw) for _ in range(n)]


#: Per-number rejection codes the gateway reports, and what they mean for us.
_REJECTIONS: dict[str, tuple[Outcome, Reason]] = {
    "INVALID_NUMBER": (Outcome.GONE, Reason.INVALID_ENDPOINT),
    "BLACKLISTED": (Outcome.PERMANENT, Reason.BAD_REQUEST),
    "MESSAGE_TOO_LONG": (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE),
    "THROTTLED": (Outcome.RETRY, Reason.THROTTLED),
}


def classify_sms_response(status: int, headers: Mapping[str, str], payload: Any,
                          numbers: Sequence[str]) -> list[Result]:
    """One result per number, in order, from the gateway's HTTP status, headers and JSON body."""
    n = len(numbers)
    if status == 429:
        return _each(n, Outcome.RETRY, Reason.THROTTLED,
                     retry_after_s=parse_retry_after(headers.get("Retry-After")), detail="HTTP 429")
    if status >= 500:
        return _each(n, Outcome.RETRY, Reason.SERVER_ERROR,
                     retry_after_s=parse_retry_after(headers.get("Retry-After")), detail=f"HTTP {status}")
    if status in (401, 403):
        return _each(n, Outcome.PERMANENT, Reason.AUTH, detail=f"HTTP {status}")
    if status == 413:
        return _each(n, Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE, detail="HTTP 413")
    if status != 200:
        return _each(n, Outcome.PERMANENT, Reason.BAD_REQUEST, detail=f"HTTP {status}")
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list):
        return _each(n, Outcome.RETRY, Reason.SERVER_ERROR, detail="malformed gateway answer")
    if len(results) == n:           # the usual answer: one result per number, in the request's order
        out = []
        for number, item in zip(numbers, results):
            if not isinstance(item, dict) or item.get("to") != number:
                break
            out.append(_number_result(item))
        else:
            return out
    by_number: dict[str, list[dict]] = defaultdict(list)
    for item in results:
        if isinstance(item, dict):
            by_number[str(item.get("to", ""))].append(item)
    out = []
    for number in numbers:
        items = by_number.get(number)
        if not items:
            out.append(Result(Outcome.RETRY, Reason.UNKNOWN, detail="no result for this number"))
            continue
        out.append(_number_result(items.pop(0)))
    return out


def _number_result(item: dict) -> Result:
    """The Result of one number's entry in the gateway's answer."""
    if item.get("status") == "accepted" and item.get("message_id"):
        return Result(Outcome.ACCEPTED, Reason.OK, provider_id=str(item["message_id"]))
    error = str(item.get("error") or item.get("status") or "UNKNOWN")
    outcome, reason = _REJECTIONS.get(error, (Outcome.PERMANENT, Reason.UNKNOWN))
    return Result(outcome, reason, detail=error[:64])


class SmsChannel(Channel):
    """Batched HTTP SMS gateway with signed delivery-report callbacks."""

    name = "sms"
    #: Numbers per request (overridden per instance from ``SmsSettings.batch``).
    max_batch = 500
    shared_text = True
    #: User data of the longest accepted text: max_parts segments of 140 octets.
    max_body_bytes = 4 * SEGMENT_OCTETS
    #: Gateway quota, messages per second.
    max_rate_per_s = 2_000
    #: Requests kept in flight at once.
    max_in_flight = 8
    has_receipts = True
    receipt_timeout_s = 60.0

    def __init__(self, settings: SmsSettings | None = None, session: aiohttp.ClientSession | None = None) -> None:
        self.settings = settings or SmsSettings.from_env()
        self.max_batch = self.settings.batch
        self.max_body_bytes = self.settings.max_parts * SEGMENT_OCTETS
        self._session = session
        self._own_session = session is None

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                connector=netguard.connector(limit=self.max_in_flight * 2),
            )

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    @staticmethod
    def validate_endpoint(value: str) -> str:
        """The number in E.164 (national numbers are read as Chinese); ValueError if not a valid number."""
        raw = (value or "").strip()
        if not raw:
            raise ValueError("sms endpoint: a phone number is required")
        try:
            number = phonenumbers.parse(raw, "CN")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"sms endpoint: not a phone number ({exc._msg})") from exc
        if not phonenumbers.is_valid_number(number):
            raise ValueError("sms endpoint: not a valid phone number for its country "
                             "(use E.164, e.g. +8613912345678)")
        if phonenumbers.number_type(number) not in _SMS_CAPABLE:
            raise ValueError("sms endpoint: not a mobile number (text messages cannot reach it)")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        return await self._send_numbers(notice, [r.endpoint for r in recipients])

    async def send_columns(self, notice: Notice, subscriber_ids: Sequence[int],
                           endpoints: Sequence[str]) -> list[Result]:
        return await self._send_numbers(notice, endpoints)

    async def _send_numbers(self, notice: Notice, numbers: Sequence[str]) -> list[Result]:
        if not numbers:
            return []
        parts = segments(notice.body)
        if parts > self.settings.max_parts:
            return _each(len(numbers), Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE,
                         detail=f"{parts} segments > {self.settings.max_parts}")
        if self._session is None:
            await self.open()
        results: list[Result | None] = [None] * len(numbers)
        sendable: list[int] = []
        for i, number in enumerate(numbers):
            if _E164.match(number or ""):
                sendable.append(i)
            else:
                results[i] = Result(Outcome.GONE, Reason.INVALID_ENDPOINT, detail="not an E.164 number")
        size = self.max_batch
        chunks = [sendable[k:k + size] for k in range(0, len(sendable), size)]
        answers = await asyncio.gather(*(self._post(notice, [numbers[i] for i in c]) for c in chunks))
        for chunk, answer in zip(chunks, answers):
            for i, res in zip(chunk, answer):
                results[i] = res
        return results  # type: ignore[return-value]

    async def _post(self, notice: Notice, numbers: list[str]) -> list[Result]:
        s = self.settings
        fields_ = {"text": notice.body, "reference": str(notice.alert_id), "callback_url": s.callback_url}
        headers = {"Authorization": f"Bearer {s.api_key}"}
        if s.format == "form":
            kwargs: dict[str, Any] = {"data": {"to": ",".join(numbers), **fields_}}
        else:
            kwargs = {"data": orjson.dumps({"to": numbers, **fields_}),
                      "headers": {**headers, "Content-Type": "application/json"}}
        kwargs.setdefault("headers", headers)
        assert self._session is not None
        try:
            async with self._session.post(f"{s.url}/v1/sms/batch", **kwargs) as resp:
                payload: Any = None
                if resp.status == 200:
                    try:
                        payload = orjson.loads(await resp.read())
                    except orjson.JSONDecodeError:
                        payload = None
                else:
                    await resp.read()
                return classify_sms_response(resp.status, resp.headers, payload, numbers)
        except TRANSPORT_ERRORS as exc:
            failed = result_for_exception(exc)
            return _each(len(numbers), failed.outcome, failed.reason, detail=failed.detail)


# --- delivery reports -------------------------------------------------------------------------

_REPORT_STATUS = {
    "DELIVERED": ReceiptStatus.DELIVERED,
    "FAILED": ReceiptStatus.FAILED,
    "EXPIRED": ReceiptStatus.FAILED,
    "UNDELIVERABLE": ReceiptStatus.FAILED,
    "REJECTED": ReceiptStatus.FAILED,
}
#: Intermediate states some gateways also report; they end nothing, so they are skipped.
_INTERMEDIATE = {"ACCEPTED", "ENROUTE", "SENT", "BUFFERED"}


def sign_reports(secret: str, timestamp: str, body: bytes) -> str:
    """hex(HMAC-SHA256(secret, timestamp + "." + body)), the X-Signature of a report callback."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lname = name.lower()
        for k, v in headers.items():
            if k.lower() == lname:
                return v
    return value


def verify_and_parse_reports(body: bytes, headers: Mapping[str, str], secret: str, now: float,
                             window_s: float = 300) -> list[Receipt]:
    """Receipts from one signed callback; SignatureError for unsigned, forged, stale or malformed ones."""
    signature = _header(headers, "X-Signature")
    timestamp = _header(headers, "X-Timestamp")
    if not signature or not timestamp:
        raise SignatureError("missing X-Signature or X-Timestamp")
    try:
        ts = float(timestamp)
    except ValueError:
        raise SignatureError("X-Timestamp is not a unix time") from None
    if not math.isfinite(ts) or abs(now - ts) > window_s:
        raise SignatureError("X-Timestamp outside the accepted window")
    expected = sign_reports(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise SignatureError("X-Signature does not match")
    try:
        doc = orjson.loads(body)
        reports = doc["reports"]
        if not isinstance(reports, list):
            raise TypeError
        receipts: list[Receipt] = []
        for rep in reports:
            status = str(rep["status"]).upper()
            if status in _INTERMEDIATE:
                continue
            done_at = rep.get("done_at")
            receipts.append(Receipt(
                channel=SmsChannel.name,
                provider_id=str(rep["message_id"]),
                status=_REPORT_STATUS[status],
                error_code="" if status == "DELIVERED" else str(rep.get("error_code") or status),
                done_at=None if done_at is None else float(done_at),
            ))
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"malformed report body ({type(exc).__name__})") from exc
    return receipts

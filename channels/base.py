"""The one interface every channel adapter implements.

An adapter takes one rendered ``Notice`` (the same text for a whole group of
recipients: one alert, one channel, one language) and a batch of ``Recipient``
and returns one ``Result`` per recipient, in order. It never raises for a
provider's answer: ``classify`` functions turn every response into an
``Outcome`` with a ``Reason``; only programming errors escape.

Capabilities are class attributes with their unit in the name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Sequence


class Outcome(str, Enum):
    ACCEPTED = "accepted"    #: the provider took the message (delivery may follow by receipt)
    RETRY = "retry"          #: transient: try again after ``retry_after_s``
    PERMANENT = "permanent"  #: will not succeed on this channel: fail over
    GONE = "gone"            #: the endpoint no longer exists: prune it, fail over


class Reason(str, Enum):
    """Why a send ended as it did; a metric label and a dashboard column."""

    OK = "ok"
    THROTTLED = "throttled"                  #: 429 / 503 throttling / SMPP RTHROTTLED
    QUEUE_FULL = "queue_full"                #: SMPP RMSGQFUL
    TIMEOUT = "timeout"
    CONNECTION = "connection"                #: reset, refused, dropped before an answer
    SERVER_ERROR = "server_error"            #: 5xx, UNAVAILABLE, INTERNAL
    UNREGISTERED = "unregistered"            #: token / subscription gone
    INVALID_ENDPOINT = "invalid_endpoint"    #: malformed token, invalid number
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_REQUEST = "bad_request"              #: the provider rejected the message itself
    AUTH = "auth"                            #: our credentials were refused
    CONFIGURATION = "configuration"          #: SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR, topic disallowed
    EXPIRED = "expired"                      #: the alert expired before it could go out
    CIRCUIT_OPEN = "circuit_open"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Result:
    outcome: Outcome
    reason: Reason = Reason.OK
    #: Provider's message id, for receipt correlation (None when it gives none).
    provider_id: str | None = None
    #: For RETRY: how long the provider asked us to wait (Retry-After), if it said.
    retry_after_s: float | None = None
    #: Short provider text for operators (never a credential, token or phone number).
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


ACCEPTED = Result(Outcome.ACCEPTED)


@dataclass(slots=True)
class Recipient:
    subscriber_id: int
    #: Token, E.164 phone number, Web Push subscription JSON, or "" for in-app.
    endpoint: str = ""


@dataclass(slots=True)
class Notice:
    """One alert rendered once for one (channel kind, language) group."""

    alert_id: int
    identifier: str
    lang: str
    title: str
    body: str
    severity: str          #: CAP severity: Extreme/Severe/Moderate/Minor/Unknown
    urgency: str
    #: Unix time after which the message must not be delivered (drives TTL / apns-expiration).
    expires_at: float
    #: Key a device uses to drop a duplicate (collapse key / Topic / apns-collapse-id).
    collapse_key: str
    msg_type: str = "Alert"
    #: Full CAP XML, for channels that forward the alert itself (webhook).
    cap_xml: bytes = b""
    data: dict[str, Any] = field(default_factory=dict)


class Channel:
    """Base class: subclasses set the capabilities and implement ``send``."""

    name: ClassVar[str] = ""
    #: Recipients one ``send`` call may carry.
    max_batch: ClassVar[int] = 1
    #: Largest payload the provider accepts (bytes).
    max_body_bytes: ClassVar[int] = 4096
    #: Provider quota, messages per second (shared across workers by the rate limiter).
    max_rate_per_s: ClassVar[int] = 1000
    #: ``send`` calls this adapter keeps in flight at once.
    max_in_flight: ClassVar[int] = 8
    #: Whether the provider reports delivery afterwards (callbacks, deliver_sm).
    has_receipts: ClassVar[bool] = False
    #: How long to wait for a receipt before failing over Severe/Extreme alerts (s).
    receipt_timeout_s: ClassVar[float] = 60.0
    #: One request carries one text to all its recipients (HMS multicast, an SMS gateway's number list):
    #: text that differs per recipient costs a request per distinct text.
    shared_text: ClassVar[bool] = False

    async def open(self) -> None:
        """Open sessions / connections; called once per process."""

    async def close(self) -> None:
        """Release what ``open`` took."""

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        raise NotImplementedError

    async def send_columns(self, notice: Notice, subscriber_ids: Sequence[int],
                           endpoints: Sequence[str]) -> list[Result]:
        """``send`` for a caller holding columns (ids, endpoints) rather than Recipient objects; adapters
        on the bulk path override it to skip building one object per recipient."""
        return await self.send(notice, list(map(Recipient, subscriber_ids, endpoints)))


class ReceiptStatus(str, Enum):
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(slots=True)
class Receipt:
    """A provider's word, after acceptance, on what became of one message."""

    channel: str
    provider_id: str
    status: ReceiptStatus
    #: Provider error code for FAILED ("err:" of an SMPP receipt, gateway code), else "".
    error_code: str = ""
    #: When the provider says the final state was reached (unix time), if it says.
    done_at: float | None = None

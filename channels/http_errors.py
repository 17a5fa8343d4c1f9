"""What the HTTP push adapters share at their boundary.

* ``parse_retry_after`` reads a Retry-After header (delta-seconds or HTTP-date).
* ``result_for_exception`` maps transport exceptions (aiohttp, httpx, asyncio) to a
  ``Result``, so ``send`` never raises for the network::

      asyncio.TimeoutError, aiohttp.ServerTimeoutError, httpx.TimeoutException  -> RETRY / TIMEOUT
      aiohttp.ClientConnectionError, httpx.TransportError, OSError            -> RETRY / CONNECTION
      anything else from the client library                                   -> RETRY / UNKNOWN

* ``fit_body`` shortens a notice body until its encoded payload fits a provider's limit,
  cutting on a character boundary (never inside a multi-byte character).
"""
from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Callable, Mapping

import aiohttp
import httpx

from channels.base import Outcome, Reason, Result

ELLIPSIS = "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after_from(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    return parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))


def result_for_exception(exc: BaseException) -> Result:
    """One Result for a request that got no provider answer."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, aiohttp.ServerTimeoutError, httpx.TimeoutException)):
        return Result(Outcome.RETRY, Reason.TIMEOUT, detail="no answer before the timeout")
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, httpx.TransportError, OSError)):
        return Result(Outcome.RETRY, Reason.CONNECTION, detail=type(exc).__name__)
    return Result(Outcome.RETRY, Reason.UNKNOWN, detail=type(exc).__name__)


class TokenEndpointError(Exception):
    """The provider's token endpoint refused or failed to issue a credential."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"token endpoint answered {status} {detail}".strip())
        self.status = status

    def result(self) -> Result:
        if self.status == 429:
            return Result(Outcome.RETRY, Reason.THROTTLED, detail=str(self))
        if self.status >= 500 or self.status == 0:
            return Result(Outcome.RETRY, Reason.SERVER_ERROR, detail=str(self))
        return Result(Outcome.PERMANENT, Reason.AUTH, detail=str(self))


#: Exceptions a request may raise that mean "no usable answer" rather than a bug.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    aiohttp.ClientError,
    httpx.HTTPError,
    OSError,
)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits ``max_bytes``."""
    if max_bytes <= 0:
        return ""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", "ignore")


def fit_body(build: Callable[[str], bytes], body: str, max_bytes: int) -> tuple[bytes, str]:
    """Encode ``build(body)``, shortening ``body`` (with an ellipsis) until it fits.

    Returns the encoded payload and the body that went into it. When even an empty
    body does not fit, the payload built from "" is returned and the provider decides.
    """
    payload = build(body)
    while len(payload) > max_bytes and body:
        excess = len(payload) - max_bytes
        budget = len(body.encode("utf-8")) - excess - len(ELLIPSIS.encode("utf-8"))
        shorter = truncate_utf8(body.removesuffix(ELLIPSIS), budget)
        body = shorter + ELLIPSIS if shorter else ""
        payload = build(body)
    return payload, body

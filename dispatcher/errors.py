"""Errors of the engine and API, each mapped to one HTTP status at the API boundary.

    WarncastError
     ├── Unauthorized       401 no or unknown credentials
     ├── Forbidden          403 known caller, not allowed this (reason says why)
     ├── NotFound           404
     ├── Conflict           409 e.g. same (sender, identifier, sent) with other content
     ├── TooLarge           413 body over the limit
     ├── Rejected           422 valid CAP that cannot be accepted (expired, unknown references, …)
     ├── TooManyRequests    429 over a rate limit; ``retry_after_s`` becomes Retry-After
     ├── Unavailable        503 a provider warncast needs did not answer (e.g. the SMS gateway)
     └── BadRequest         400 a client mistake with a field path
"""
from __future__ import annotations


class WarncastError(Exception):
    status = 500

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class Unauthorized(WarncastError):
    status = 401


class Forbidden(WarncastError):
    status = 403


class NotFound(WarncastError):
    status = 404


class Conflict(WarncastError):
    status = 409


class TooLarge(WarncastError):
    status = 413


class Rejected(WarncastError):
    status = 422


class BadRequest(WarncastError):
    status = 400


class Unavailable(WarncastError):
    status = 503


class TooManyRequests(WarncastError):
    status = 429

    def __init__(self, message: str, retry_after_s: int, errors: list[dict[str, str]] | None = None):
        super().__init__(message, errors)
        self.retry_after_s = max(1, int(retry_after_s))

"""Endpoint shape checks at registration: each channel's adapter says what its provider accepts,
so a bad token, subscription or number is refused with a message naming what is wrong, before
anything is stored."""
from __future__ import annotations

import json
from typing import Any, Callable

from . import netguard
from .apns import ApnsChannel
from .fcm import FcmChannel
from .hms import HmsChannel
from .sms import SmsChannel
from .webpush import WebPushChannel


def _webpush(value: Any) -> str:
    normalised = WebPushChannel.validate_endpoint(value if isinstance(value, str) else json.dumps(value))
    netguard.check_push_endpoint(json.loads(normalised)["endpoint"])
    return normalised


def _text(check: Callable[[str], str]) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return check(value)
    return validate


VALIDATORS: dict[str, Callable[[Any], str]] = {
    "hms": _text(HmsChannel.validate_endpoint),
    "fcm": _text(FcmChannel.validate_endpoint),
    "apns": _text(ApnsChannel.validate_endpoint),
    "webpush": _webpush,
    "sms": _text(SmsChannel.validate_endpoint),
}


def validate(channel: str, value: Any) -> str:
    """Normalised endpoint for ``channel``; ValueError saying what is wrong otherwise."""
    return VALIDATORS[channel](value)


def phone(value: Any) -> str:
    """E.164 form of a phone number that can receive text messages."""
    return VALIDATORS["sms"](value)

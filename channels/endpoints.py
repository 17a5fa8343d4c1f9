"""Endpoint shape checks at registration, one per channel: a bad token or number is refused
with a message naming what is wrong, before anything is stored."""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import phonenumbers
from cryptography.hazmat.primitives.asymmetric import ec

# \Z, not $: "$" also matches before a trailing newline, which a provider would refuse.
_HMS = re.compile(r"^[A-Za-z0-9_.:\-=+/]{32,512}\Z")
_FCM = re.compile(r"^[A-Za-z0-9_:\-]{100,4096}\Z")
_APNS = re.compile(r"^[0-9a-fA-F]{64,200}\Z")
_URL = re.compile(r"^https?://[^\s]+\Z")
#: Number types that can receive a text message (Chinese landlines cannot).
_SMS_CAPABLE = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def phone(value: Any) -> str:
    """E.164 form of a phone number (national numbers are read as Chinese)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a phone number in E.164 form, e.g. +8613800138000")
    try:
        num = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(num):
        raise ValueError("is not a valid phone number")
    if phonenumbers.number_type(num) not in _SMS_CAPABLE:
        raise ValueError("is not a mobile number (text messages cannot reach it)")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _token(pattern: re.Pattern, what: str):
    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"is not a valid {what}")
        return value
    return check


def _b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def webpush(value: Any) -> str:
    """A Web Push subscription (endpoint + p256dh + auth), stored as compact JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be a Web Push subscription object") from None
    if not isinstance(value, dict):
        raise ValueError("must be a Web Push subscription object")
    endpoint = value.get("endpoint")
    keys = value.get("keys") or {}
    if not isinstance(endpoint, str) or not _URL.match(endpoint):
        raise ValueError("endpoint must be an http(s) URL")
    try:
        p256dh, auth = _b64url(keys["p256dh"]), _b64url(keys["auth"])
    except (KeyError, TypeError, binascii.Error, ValueError):
        raise ValueError("keys.p256dh and keys.auth must be base64url strings") from None
    if len(p256dh) != 65 or p256dh[0] != 4:
        raise ValueError("keys.p256dh must be an uncompressed P-256 public key (65 bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError:
        raise ValueError("keys.p256dh is not a point on P-256") from None
    if len(auth) != 16:
        raise ValueError("keys.auth must be 16 bytes")
    return json.dumps({"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}},
                      separators=(",", ":"))


VALIDATORS = {
    "hms": _token(_HMS, "HMS push token"),
    "fcm": _token(_FCM, "FCM registration token"),
    "apns": _token(_APNS, "APNs device token (hex)"),
    "webpush": webpush,
    "sms": phone,
    "smpp": phone,
}


def validate(channel: str, value: Any) -> str:
    """Normalised endpoint for ``channel``; ValueError saying what is wrong otherwise."""
    return VALIDATORS[channel](value)

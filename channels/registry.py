"""The explicit registry of channel adapters, and building the enabled ones from settings.

``CHANNELS`` names every adapter class; ``FACTORIES`` says how the adapter serving each channel a
subscriber may list is made from the environment (SMS by HTTP gateway or by SMPP, per
``WARNCAST_SMS_TRANSPORT``). ``build`` only looks names up in these tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .apns import ApnsChannel, ApnsSettings
from .base import Channel, Receipt
from .fcm import FcmChannel, FcmSettings
from .hms import HmsChannel, HmsSettings
from .inapp import InappChannel
from .sms import SmsChannel, SmsSettings
from .smpp import SmppChannel, SmppSettings
from .webhook import WebhookChannel
from .webpush import WebPushChannel, WebPushSettings

CHANNELS: dict[str, type[Channel]] = {c.name: c for c in (
    InappChannel, HmsChannel, FcmChannel, ApnsChannel, WebPushChannel, SmsChannel, SmppChannel, WebhookChannel)}


@dataclass(frozen=True)
class BuildContext:
    """What an adapter may need besides its own settings."""

    redis: Any
    on_receipt: Callable[[Receipt], None] | None = None


#: SMS transport (``WARNCAST_SMS_TRANSPORT``) -> how its adapter is made.
SMS_TRANSPORTS: dict[str, Callable[[BuildContext], Channel]] = {
    "http": lambda c: SmsChannel(SmsSettings.from_env()),
    "smpp": lambda c: SmppChannel(SmppSettings.from_env(), on_receipt=c.on_receipt),
}

#: Subscriber channel -> how the adapter serving it is made ("sms" is filled in per transport).
FACTORIES: dict[str, Callable[[BuildContext], Channel]] = {
    "inapp": lambda c: InappChannel(c.redis),
    "hms": lambda c: HmsChannel(HmsSettings.from_env()),
    "fcm": lambda c: FcmChannel(FcmSettings.from_env()),
    "apns": lambda c: ApnsChannel(ApnsSettings.from_env()),
    "webpush": lambda c: WebPushChannel(WebPushSettings.from_env()),
    "sms": SMS_TRANSPORTS["http"],
}

#: Channels a subscriber may list, and the adapter that serves each (SMS by HTTP gateway or SMPP).
SUBSCRIBER_CHANNELS = tuple(FACTORIES)


def build(enabled: tuple[str, ...], redis, *, sms_transport: str = "http", webhook_urls: tuple[str, ...] = (),
          webhook_format: str = "cap", on_receipt: Callable[[Receipt], None] | None = None) -> dict[str, Channel]:
    """Adapters keyed by the subscriber channel they serve; in-app is always there."""
    unknown = [name for name in enabled if name not in FACTORIES]
    if unknown:
        raise ValueError(f"WARNCAST_CHANNELS names unknown channel {unknown[0]!r}; "
                         f"known: {', '.join(SUBSCRIBER_CHANNELS)}")
    if sms_transport not in SMS_TRANSPORTS:
        raise ValueError(f"WARNCAST_SMS_TRANSPORT must be one of {', '.join(SMS_TRANSPORTS)}, not {sms_transport!r}")
    factories = {**FACTORIES, "sms": SMS_TRANSPORTS[sms_transport]}
    context = BuildContext(redis, on_receipt)
    out: dict[str, Channel] = {"inapp": factories["inapp"](context)}
    for name in enabled:
        if name not in out:
            out[name] = factories[name](context)
    if webhook_urls:
        out["webhook"] = WebhookChannel(webhook_urls, webhook_format)
    return out

"""The explicit registry of channel adapters, and building the enabled ones from settings."""
from __future__ import annotations

from typing import Callable

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

#: Channels a subscriber may list, and the adapter that serves each (SMS by HTTP gateway or SMPP).
SUBSCRIBER_CHANNELS = ("inapp", "hms", "fcm", "apns", "webpush", "sms")


def build(enabled: tuple[str, ...], redis, *, sms_transport: str = "http", webhook_urls: tuple[str, ...] = (),
          webhook_format: str = "cap", on_receipt: Callable[[Receipt], None] | None = None) -> dict[str, Channel]:
    """Adapters keyed by the subscriber channel they serve; in-app is always there."""
    out: dict[str, Channel] = {"inapp": InappChannel(redis)}
    for name in enabled:
        if name == "hms":
            out[name] = HmsChannel(HmsSettings.from_env())
        elif name == "fcm":
            out[name] = FcmChannel(FcmSettings.from_env())
        elif name == "apns":
            out[name] = ApnsChannel(ApnsSettings.from_env())
        elif name == "webpush":
            out[name] = WebPushChannel(WebPushSettings.from_env())
        elif name == "sms":
            out[name] = (SmppChannel(SmppSettings.from_env(), on_receipt=on_receipt) if sms_transport == "smpp"
                         else SmsChannel(SmsSettings.from_env()))
        elif name != "inapp":
            raise ValueError(f"WARNCAST_CHANNELS names unknown channel {name!r}; "
                             f"known: {', '.join(SUBSCRIBER_CHANNELS)}")
    if webhook_urls:
        out["webhook"] = WebhookChannel(webhook_urls, webhook_format)
    return out

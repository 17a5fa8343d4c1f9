"""Building the enabled adapters from settings is a table lookup."""
from __future__ import annotations

import pytest

from channels import registry
from channels.apns import ApnsChannel
from channels.fcm import FcmChannel
from channels.hms import HmsChannel
from channels.inapp import InappChannel
from channels.smpp import SmppChannel
from channels.sms import SmsChannel
from channels.webhook import WebhookChannel
from channels.webpush import WebPushChannel
from subscribers.model import SUBSCRIBER_CHANNELS


@pytest.mark.parametrize("enabled, transport, expected", [
    ((), "http", {"inapp": InappChannel}),
    (("hms",), "http", {"inapp": InappChannel, "hms": HmsChannel}),
    (("fcm", "apns"), "http", {"inapp": InappChannel, "fcm": FcmChannel, "apns": ApnsChannel}),
    (("webpush",), "http", {"inapp": InappChannel, "webpush": WebPushChannel}),
    (("sms",), "http", {"inapp": InappChannel, "sms": SmsChannel}),
    (("sms",), "smpp", {"inapp": InappChannel, "sms": SmppChannel}),      # the "sms" channel, served by SMPP
    (("inapp", "hms", "hms"), "http", {"inapp": InappChannel, "hms": HmsChannel}),
])
def test_build_makes_the_adapter_serving_each_enabled_channel(enabled, transport, expected):
    built = registry.build(enabled, redis=None, sms_transport=transport)
    assert {name: type(ch) for name, ch in built.items()} == expected


@pytest.mark.parametrize("enabled, transport, field", [
    (("pager",), "http", "WARNCAST_CHANNELS"),
    (("webhook",), "http", "WARNCAST_CHANNELS"),
    (("sms",), "carrier-pigeon", "WARNCAST_SMS_TRANSPORT"),
    ((), "smtp", "WARNCAST_SMS_TRANSPORT"),
])
def test_unknown_names_are_refused_naming_the_setting(enabled, transport, field):
    with pytest.raises(ValueError, match=field):
        registry.build(enabled, redis=None, sms_transport=transport)


def test_webhook_is_built_from_its_urls():
    built = registry.build((), redis=None, webhook_urls=("http://siren.example/hook",), webhook_format="json")
    assert isinstance(built["webhook"], WebhookChannel) and built["webhook"].fmt == "json"


def test_every_subscriber_channel_has_a_factory_and_every_adapter_is_registered():
    assert set(registry.FACTORIES) == set(SUBSCRIBER_CHANNELS)
    assert set(registry.SMS_TRANSPORTS) == {"http", "smpp"}
    for name, cls in registry.CHANNELS.items():
        assert cls.name == name

"""Registration is not a way into the private network: Web Push endpoints are https on the push
services' hosts, and no adapter connects to loopback, link-local or private addresses (checked on
the address actually connected to, so a name that resolves there at send time is refused too)."""
from __future__ import annotations

import json
import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver

from channels import netguard
from channels.base import Outcome, Recipient
from channels.hms import HmsChannel, HmsSettings
from channels.webpush import WebPushChannel, WebPushSettings
from loadtest.simulators.hms import HmsSimulator
from loadtest.simulators.webpush import WebPushSimulator
from tests.channels.test_webpush import make_notice, vapid_raw
from tests.dispatcher.conftest import api, settings  # noqa: F401  (fixtures)

KEYS = {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg"}


@pytest.fixture
def production(monkeypatch):
    """No test allowance: what a deployment runs with."""
    monkeypatch.delenv(netguard.ALLOW_ENV, raising=False)
    monkeypatch.delenv(netguard.PUSH_HOSTS_ENV, raising=False)


@pytest.mark.parametrize("endpoint", [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "http://fcm.googleapis.com/fcm/send/abc",                  # not https
    "https://127.0.0.1:8443/push/1",
    "https://evil.example/push/1",
    "https://fcm.googleapis.com.evil.example/fcm/send/abc",
    "https://user:pw@fcm.googleapis.com/fcm/send/abc",
    "https://notify.windows.com.evil/w/?token=1",
])
async def test_web_push_endpoints_off_the_allow_list_are_refused(api, production, endpoint):
    status, body = await api.call("POST", "/api/v1/subscribers", None, json={
        "regions": ["110105"], "endpoints": {"webpush": {"endpoint": endpoint, "keys": KEYS}}})
    assert status == 422, body
    assert any(e["field"] == "endpoints.webpush" for e in body["errors"]), body


@pytest.mark.parametrize("endpoint", [
    "https://fcm.googleapis.com/fcm/send/abc:def",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
    "https://wns2-bl2p.notify.windows.com/w/?token=BQYAAAB",
    "https://web.push.apple.com/QGuQyavXutnMH",
])
async def test_web_push_endpoints_of_push_services_are_taken(api, production, endpoint):
    status, body = await api.call("POST", "/api/v1/subscribers", None, json={
        "regions": ["110105"], "endpoints": {"webpush": {"endpoint": endpoint, "keys": KEYS}}})
    assert status == 201, body


async def test_the_allow_list_is_a_setting(api, production, monkeypatch):
    monkeypatch.setenv(netguard.PUSH_HOSTS_ENV, "push.example.org")
    ok = {"regions": ["110105"], "endpoints": {"webpush": {"endpoint": "https://push.example.org/p/1", "keys": KEYS}}}
    assert (await api.call("POST", "/api/v1/subscribers", None, json=ok))[0] == 201
    ok["endpoints"]["webpush"]["endpoint"] = "https://fcm.googleapis.com/fcm/send/abc"
    assert (await api.call("POST", "/api/v1/subscribers", None, json=ok))[0] == 422


async def test_web_push_adapter_does_not_connect_to_loopback(production):
    sim = await WebPushSimulator().start()
    ch = WebPushChannel(WebPushSettings(vapid_private_key=vapid_raw(_key()), vapid_subject="mailto:ops@example.org",
                                        request_timeout_s=2))
    await ch.open()
    try:
        results = await ch.send(make_notice(), [Recipient(1, json.dumps(sim.make_subscription(1)))])
        assert results[0].outcome is not Outcome.ACCEPTED
        assert len(sim.ledger.entries) == 0
    finally:
        await ch.close()
        await sim.stop()


async def test_provider_adapters_do_not_connect_to_loopback(production):
    sim = HmsSimulator()
    await sim.start()
    ch = HmsChannel(HmsSettings(url=sim.url, request_timeout_s=2))
    await ch.open()
    try:
        results = await ch.send(make_notice(), [Recipient(1, "IQAAAACy0000000000001hmsTokenTest00AAAAAAAAAAAAAAAAAAAA")])
        assert results[0].outcome is not Outcome.ACCEPTED
        assert len(sim.ledger.entries) == 0
    finally:
        await ch.close()
        await sim.stop()


async def test_smpp_does_not_connect_to_loopback(production):
    with pytest.raises(netguard.BlockedAddress):
        await netguard.open_connection("127.0.0.1", 2775)


async def test_named_networks_can_be_allowed(monkeypatch):
    monkeypatch.setenv(netguard.ALLOW_ENV, "127.0.0.0/8")
    sim = HmsSimulator()
    await sim.start()
    ch = HmsChannel(HmsSettings(url=sim.url, request_timeout_s=2))
    await ch.open()
    try:
        results = await ch.send(make_notice(), [Recipient(1, "IQAAAACy0000000000001hmsTokenTest00AAAAAAAAAAAAAAAAAAAA")])
        assert results[0].outcome is Outcome.ACCEPTED
        monkeypatch.setenv(netguard.ALLOW_ENV, "10.0.0.0/8")
        assert netguard.check("x", ["10.1.2.3"]) == ["10.1.2.3"]
        with pytest.raises(netguard.BlockedAddress):
            netguard.check("x", ["127.0.0.1", "169.254.169.254", "192.168.1.1", "::1", "fe80::1", "::ffff:127.0.0.1"])
    finally:
        await ch.close()
        await sim.stop()


class _Rebinding(AbstractResolver):
    """A DNS answer that changed since registration: the name now points at loopback."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


async def test_a_name_resolving_to_an_internal_address_is_refused_at_connect_time(production):
    sim = HmsSimulator()
    await sim.start()
    try:
        async with aiohttp.ClientSession(connector=netguard.connector(resolver=_Rebinding())) as session:
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(f"http://push.example.org:{sim.port}/")
    finally:
        await sim.stop()


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())

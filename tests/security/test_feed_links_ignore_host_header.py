"""The Atom feed's links come from WARNCAST_PUBLIC_URL, never from a client's Host header."""
from __future__ import annotations

import dataclasses
from xml.etree import ElementTree as ET

import pytest

from tests.factories import cap_json

ATOM = {"a": "http://www.w3.org/2005/Atom"}


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, public_url="https://alerts.example.gov.cn")


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:1", "alerts.example.gov.cn.evil.example"])
async def test_feed_links_use_the_configured_public_url(api, host):
    _, alert = await api.publish(cap_json())
    status, body = await api.call("GET", "/cap/feed.atom", None, headers={"Host": host})
    assert status == 200
    root = ET.fromstring(body)
    hrefs = [link.get("href") for link in root.iter("{http://www.w3.org/2005/Atom}link")]
    hrefs += [e.text for e in root.iter("{http://www.w3.org/2005/Atom}id")]
    assert hrefs and all(h.startswith("https://alerts.example.gov.cn/") for h in hrefs), hrefs
    assert f"https://alerts.example.gov.cn/cap/alerts/{alert['id']}.xml" in hrefs
    assert not any(host in h for h in hrefs if host != "alerts.example.gov.cn")

"""Nothing unapproved, non-Actual or non-Public appears on an unauthenticated endpoint."""
from __future__ import annotations

import dataclasses
from xml.etree import ElementTree as ET

import pytest

from tests.factories import cap_json

ATOM = {"a": "http://www.w3.org/2005/Atom"}


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, approval_severities=("Extreme",))


def _private(doc):
    doc["scope"] = "Private"
    doc["addresses"] = "duty-officer"
    return doc


CASES = [
    ("held for approval", lambda: cap_json(severity="Extreme"), False),
    ("Draft", lambda: cap_json(status="Draft"), False),
    ("System", lambda: cap_json(status="System"), False),
    ("Test", lambda: cap_json(status="Test"), False),
    ("Exercise", lambda: cap_json(status="Exercise"), False),
    ("Restricted", lambda: cap_json(scope="Restricted"), False),
    ("Private", lambda: _private(cap_json()), False),
    ("Actual Public", lambda: cap_json(), True),
]


async def _public_view(api, alert_id: int) -> tuple[bool, int]:
    status, body = await api.call("GET", "/cap/feed.atom", None)
    assert status == 200
    entries = ET.fromstring(body).findall("a:entry", ATOM)
    in_feed = any(e.find("a:id", ATOM).text.endswith(f"/cap/alerts/{alert_id}.xml") for e in entries)
    status, _ = await api.call("GET", f"/cap/alerts/{alert_id}.xml", None)
    return in_feed, status


@pytest.mark.parametrize("case,make,public", CASES, ids=[c[0] for c in CASES])
async def test_only_approved_actual_public_alerts_are_public(api, case, make, public):
    status, alert = await api.publish(make())
    assert status == 202, alert
    in_feed, xml_status = await _public_view(api, alert["id"])
    assert in_feed is public
    assert xml_status == (200 if public else 404)


async def test_a_held_alert_becomes_public_once_approved(api):
    _, alert = await api.publish(cap_json(severity="Extreme"))
    assert alert["lifecycle"] == "held"
    assert await _public_view(api, alert["id"]) == (False, 404)
    status, _ = await api.call("POST", f"/api/v1/alerts/{alert['id']}/approve", "operator")
    assert status == 202
    assert await _public_view(api, alert["id"]) == (True, 200)

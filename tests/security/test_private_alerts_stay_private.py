"""Private and Restricted alerts are seen by their issuer, operators and their addressees only: never on
an unauthenticated endpoint, never by another organisation, never in a stranger's inbox."""
from __future__ import annotations

import re
from xml.etree import ElementTree as ET

import pytest

from dispatcher.api.openapi import OPENAPI
from tests.factories import cap_json
from tests.households.helpers import drain, inbox_ids

ATOM = {"a": "http://www.w3.org/2005/Atom"}


def _public_gets() -> list[str]:
    """Every GET path of the API that needs no credentials (the OpenAPI document lists them)."""
    return sorted(p for p, ops in OPENAPI["paths"].items()
                  if "get" in ops and ops["get"].get("security") == [])


def _hidden(scope: str, addressee: int) -> dict:
    doc = cap_json(codes=["110105"], severity="Severe", headline=f"秘密-{scope}-住户一氧化碳报警")
    doc["scope"] = scope
    if scope == "Private":
        doc["addresses"] = str(addressee)
    else:
        doc["restriction"] = "duty-officers"
    return doc


@pytest.fixture
async def hidden(api):
    """A Private and a Restricted alert, each reaching one subscriber; and a stranger in the same area."""
    addressee = await api.register(regions=["110105"])
    stranger = await api.register(regions=["110105"])
    await api.call("POST", "/api/v1/groups/duty-officers/members", "operator", json={"subscriber_ids": [addressee["id"]]})
    alerts = {}
    for scope in ("Private", "Restricted"):
        status, alert = await api.publish(_hidden(scope, addressee["id"]))
        assert status == 202, alert
        alerts[scope] = alert
    await drain(api)
    return alerts, addressee, stranger


@pytest.mark.parametrize("path", _public_gets())
async def test_no_unauthenticated_endpoint_shows_them(api, hidden, path):
    alerts, _, _ = hidden
    for scope, alert in alerts.items():
        url = re.sub(r"\{[^}]+\}", lambda m: str(alert["id"]) if m.group(0) == "{id}" else "x", path)
        status, body = await api.call("GET", url, None)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        assert alert["identifier"] not in text, (scope, url)
        assert f"秘密-{scope}" not in text, (scope, url)
        if path == "/cap/alerts/{id}.xml":
            assert status == 404


async def test_the_feed_lists_public_alerts_but_not_them(api, hidden):
    alerts, _, _ = hidden
    _, public = await api.publish(cap_json(codes=["110105"]))
    status, body = await api.call("GET", "/cap/feed.atom", None)
    ids = [e.find("a:id", ATOM).text for e in ET.fromstring(body).findall("a:entry", ATOM)]
    assert any(i.endswith(f"/cap/alerts/{public['id']}.xml") for i in ids)      # the check can see alerts
    assert not any(i.endswith(f"/cap/alerts/{a['id']}.xml") for a in alerts.values() for i in ids)


async def test_only_their_addressees_find_them_in_the_inbox(api, hidden):
    alerts, addressee, stranger = hidden
    assert set(await inbox_ids(api, addressee["token"])) == {a["id"] for a in alerts.values()}
    assert await inbox_ids(api, stranger["token"]) == []


async def test_another_organisation_cannot_read_or_list_them(api, hidden):
    alerts, addressee, _ = hidden
    for alert in alerts.values():
        for path in (f"/api/v1/alerts/{alert['id']}", f"/api/v1/alerts/{alert['id']}.xml",
                     f"/api/v1/alerts/{alert['id']}/deliveries"):
            assert (await api.call("GET", path, "chaoyang"))[0] == 403, path
            assert (await api.call("GET", path, addressee["token"]))[0] in (401, 403), path
            assert (await api.call("GET", path, "issuer"))[0] == 200, path         # their issuer
            assert (await api.call("GET", path, "operator"))[0] == 200, path
    _, listed = await api.call("GET", "/api/v1/alerts", "chaoyang")
    assert not {a["id"] for a in listed["alerts"]} & {a["id"] for a in alerts.values()}

"""Every number the API reads is ASCII digits with a bound: anything else is 400 or 404, never 500."""
from __future__ import annotations

import pytest

from tests.factories import cap_json

HUGE = "9" * 5000


@pytest.mark.parametrize("query", ["limit=²", "limit=--5", "limit=٣", "limit=+5", "limit=5.0", "limit= 5",
                                   f"limit={HUGE}", "limit=-0"])
async def test_query_numbers_are_ascii_digits_in_range(api, query):
    status, body = await api.call("GET", f"/api/v1/alerts?{query}")
    assert status == 400, body
    assert body["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("query", ["cursor=--1", "cursor=²", f"cursor={HUGE}", "limit=--5", "limit=¹⁰"])
async def test_deliveries_paging_numbers(api, query):
    _, alert = await api.publish(cap_json())
    status, body = await api.call("GET", f"/api/v1/alerts/{alert['id']}/deliveries?{query}")
    assert status == 400, body
    assert body["errors"][0]["field"] == query.split("=")[0]


PATHS = [("GET", "/api/v1/alerts/{}"), ("GET", "/api/v1/alerts/{}.xml"), ("GET", "/api/v1/alerts/{}/deliveries"),
         ("GET", "/api/v1/alerts/{}/events"), ("POST", "/api/v1/alerts/{}/approve"),
         ("POST", "/api/v1/alerts/{}/cancel"), ("POST", "/api/v1/alerts/{}/delegate"),
         ("GET", "/api/v1/subscribers/{}"), ("PATCH", "/api/v1/subscribers/{}"),
         ("DELETE", "/api/v1/subscribers/{}"), ("PUT", "/api/v1/subscribers/{}/location"),
         ("GET", "/cap/alerts/{}.xml"), ("POST", "/api/v1/keys/{}/revoke"), ("POST", "/api/v1/keys/{}/rotate")]


@pytest.mark.parametrize("method,template", PATHS)
@pytest.mark.parametrize("number", [HUGE, "٣", "1" * 16])
async def test_path_ids_of_any_length_or_script_are_not_found(api, method, template, number):
    status, body = await api.call(method, template.format(number), json={})
    assert status == 404, body


@pytest.mark.parametrize("token", [HUGE, HUGE + ".secret", "1" * 11 + ".secret", "٣.secret", "wk_" + HUGE])
async def test_numeric_bearer_tokens_are_refused_not_crashed(api, token):
    for path in ("/api/v1/alerts", "/api/v1/inbox", "/api/v1/subscribers/1"):
        status, body = await api.call("GET", path, token)
        assert status == 401, (path, body)

"""Households over the API: members in order, escalation contacts, field-naming errors, bulk import."""
from __future__ import annotations

import logging

ROUTE = "/api/v1/households"


async def _members(api, n=2, **fields):
    return [await api.register(regions=["110105"], **fields) for _ in range(n)]


async def test_an_operator_creates_reads_changes_and_removes_a_household(api):
    a, b = await _members(api)
    manager = await api.register(regions=["110105"])
    status, h = await api.call("POST", ROUTE, "operator", json={
        "name": "朝阳 3-2-501", "region": "110105", "members": [b["id"], a["id"]], "delay_s": 90,
        "contacts": [{"subscriber_id": manager["id"], "delay_s": 60, "name": "building manager"},
                     {"sms": "+8613912345678", "delay_s": 120, "name": "community office"}]})
    assert status == 201, h
    assert h["members"] == [b["id"], a["id"]]                      # the order of contact is kept
    assert h["contacts"][1]["sms"] == "+86139****5678"             # numbers are shown masked
    status, got = await api.call("GET", f"{ROUTE}/{h['id']}", "operator")
    assert status == 200 and got == h
    status, got = await api.call("PATCH", f"{ROUTE}/{h['id']}", "operator", json={"delay_s": 30})
    assert status == 200 and got["delay_s"] == 30 and got["members"] == [b["id"], a["id"]]
    status, page = await api.call("GET", ROUTE, "operator")
    assert page["total"] == 1
    assert (await api.call("DELETE", f"{ROUTE}/{h['id']}", "operator"))[0] == 204
    assert (await api.call("GET", f"{ROUTE}/{h['id']}", "operator"))[0] == 404


async def test_only_operators_manage_households(api):
    (a,) = await _members(api, 1)
    for who in (None, "issuer", a["token"]):
        status, _ = await api.call("POST", ROUTE, who, json={"members": [a["id"]]})
        assert status in (401, 403), who


BAD = [
    ({"members": []}, "members"),
    ({"members": ["x"]}, "members[0]"),
    ({"members": [0], "delay_s": 0}, "delay_s"),
    ({"members": [0], "contacts": [{"sms": "12345", "delay_s": 60}]}, "contacts[0].sms"),
    ({"members": [0], "contacts": [{"delay_s": 60}]}, "contacts[0]"),
    ({"members": [0], "contacts": [{"subscriber_id": 999999, "delay_s": 60}]}, "contacts[0].subscriber_id"),
    ({"members": [999999]}, "members[0]"),
    ({"members": [0], "colour": "red"}, "colour"),
    ({"members": [0], "region": "chaoyang"}, "region"),
]


async def test_bad_households_are_refused_naming_the_field(api, caplog):
    await _members(api, 1)
    caplog.set_level(logging.DEBUG)
    for body, field in BAD:
        status, err = await api.call("POST", ROUTE, "operator", json=body)
        assert status == 400, (body, err)
        assert field in [e["field"] for e in err["errors"]], (body, err)
    assert "12345" not in caplog.text


async def test_an_import_by_external_ids_can_be_repeated(api):
    status, _ = await api.call("POST", "/api/v1/subscribers:import", "operator", data=(
        b'{"external_id": "t-1", "regions": ["110105"]}\n{"external_id": "t-2", "regions": ["110105"]}\n'),
        headers={"Content-Type": "application/x-ndjson"})
    assert status == 200
    lines = (b'{"external_id": "home-1", "members": ["t-1", "t-2"], "contacts": [{"sms": "13912345678", "delay_s": 60}]}\n'
             b'{"external_id": "home-2", "members": ["t-2"], "delay_s": 45}\n')
    for _ in range(2):
        status, out = await api.call("POST", f"{ROUTE}:import", "operator", data=lines,
                                     headers={"Content-Type": "application/x-ndjson"})
        assert status == 200, out
    assert out["imported"] == 2 and out["updated"] == 2
    _, page = await api.call("GET", ROUTE, "operator")
    assert page["total"] == 2
    assert page["households"][0]["contacts"][0]["sms"] == "+86139****5678"


async def test_a_csv_import_is_all_or_nothing_with_errors_by_line(api):
    a, b = await _members(api)
    csv = (f"external_id,name,region,delay_s,members,contacts\n"
           f"h-1,one,110105,60,{a['id']};{b['id']},sms:+8613912345678@30;subscriber:{b['id']}@60\n"
           f"h-2,two,110105,60,{a['id']},sms:999@30\n").encode()
    status, err = await api.call("POST", f"{ROUTE}:import", "operator", data=csv, headers={"Content-Type": "text/csv"})
    assert status == 422
    assert err["errors"][0]["line"] == 3 and err["errors"][0]["field"] == "contacts[0].sms"
    assert (await api.call("GET", ROUTE, "operator"))[1]["total"] == 0
    status, out = await api.call("POST", f"{ROUTE}:import", "operator", data=csv.rsplit(b"h-2", 1)[0],
                                 headers={"Content-Type": "text/csv"})
    assert status == 200 and out["created"] == 1

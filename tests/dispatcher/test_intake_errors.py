"""Bad input gets a 4xx naming the field; nothing stored changes; never a 500."""
import pytest

from tests.factories import body, cap_json

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
WRONG_NS = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:9.9"><identifier>x</identifier></alert>'


def _doc(**changes):
    d = cap_json()
    for path, value in changes.items():
        target = d
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return d


@pytest.mark.parametrize("payload,ctype,status,path", [
    (XXE, "application/cap+xml", 400, "alert"),
    (LAUGHS, "application/cap+xml", 400, "alert"),
    (WRONG_NS, "application/cap+xml", 400, "alert"),
    (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x", "application/cap+xml", 400, "alert"),
    (b"x" * (1 << 20 + 1), "application/cap+xml", 413, "alert"),
    (b"{}", "text/plain", 415, "Content-Type"),
    (body(_doc(status="Real")), "application/json", 422, "alert/status"),
    (body(_doc(sent="2026-11-24T10:00:00Z")), "application/json", 422, "alert/sent"),
    (body(_doc(**{"info.0.severity": "Huge"})), "application/json", 422, "alert/info[0]/severity"),
    (body(_doc(**{"info.0.area.0.polygon": ["39.9,116.4 39.9,116.5 40.0,116.5 40.0,116.4"]})),
     "application/json", 422, "alert/info[0]/area[0]/polygon[0]"),
    (body(_doc(msgType="Cancel")), "application/json", 422, "alert/references"),
])
async def test_bad_alerts_are_refused_with_the_path(api, payload, ctype, status, path):
    code, err = await api.call("POST", "/api/v1/alerts", "issuer", data=payload, headers={"Content-Type": ctype})
    assert code == status, err
    assert any(e["path"] == path for e in err["errors"]), err
    _, listing = await api.call("GET", "/api/v1/alerts")
    assert listing["alerts"] == []


@pytest.mark.parametrize("data,field", [
    ({"regions": ["1101055"]}, "regions[0]"),
    ({"regions": ["110105"], "endpoints": {"sms": "12345"}}, "endpoints.sms"),
    ({"regions": ["110105"], "location": {"lat": 91, "lon": 116}}, "location.lat"),
    ({"regions": ["110105"], "channels": ["pager"]}, "channels[0]"),
    ({"regions": ["110105"], "preferences": {"min_severity": "Huge"}}, "preferences.min_severity"),
    ({"regions": ["110105"], "colour": "red"}, "colour"),
])
async def test_bad_subscribers_are_refused_with_the_field(api, data, field):
    status, err = await api.call("POST", "/api/v1/subscribers", None, json=data)
    assert status == 422
    assert field in [e["field"] for e in err["errors"]]


async def test_bad_json_is_a_400_not_a_500(api):
    status, err = await api.call("POST", "/api/v1/subscribers", None, data=b"{nope",
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and "JSON" in err["error"]


async def test_a_failed_patch_changes_nothing(api):
    sub = await api.register(regions=["110105"], endpoints={"sms": "+8613800138000"})
    status, _ = await api.call("PATCH", f"/api/v1/subscribers/{sub['id']}", sub["token"],
                               json={"regions": ["110106"], "endpoints": {"sms": "bad"}})
    assert status == 422
    _, now = await api.call("GET", f"/api/v1/subscribers/{sub['id']}", sub["token"])
    assert now["regions"] == ["110105"] and now["endpoints"]["sms"].startswith("+861")


async def test_import_with_a_bad_line_imports_nothing(api):
    good = b'{"regions": ["110105"]}\n'
    bad = b'{"regions": ["11010"]}\n'
    status, report = await api.call("POST", "/api/v1/subscribers:import", "operator", data=good + bad + good,
                                    headers={"Content-Type": "application/x-ndjson"})
    assert status == 422 and report["imported"] == 0
    assert report["errors"] == [{"line": 2, "field": "regions[0]",
                                 "message": "must be a GB/T 2260-style code of 2, 4, 6, 9 or 12 digits"}]
    _, stats = await api.call("GET", "/api/v1/stats", "operator")
    assert stats["subscribers"] == 0
    status, report = await api.call("POST", "/api/v1/subscribers:import", "operator", data=good * 3,
                                    headers={"Content-Type": "application/x-ndjson"})
    assert status == 200 and report["imported"] == 3


@pytest.mark.parametrize("query", ["state=nope", "limit=0", "limit=x", "cursor=-1"])
async def test_bad_query_parameters_name_themselves(api, query):
    _, alert = await api.publish(cap_json())
    status, err = await api.call("GET", f"/api/v1/alerts/{alert['id']}/deliveries?{query}")
    assert status == 400
    assert err["errors"][0]["field"] == query.split("=")[0]


async def test_unknown_alert_is_404(api):
    status, err = await api.call("GET", "/api/v1/alerts/999")
    assert status == 404 and err["error"] == "no alert 999"


@pytest.mark.parametrize("body,status", [(b"{nope", 400), (b'{"note": 5}', 400), (b'{"note": "wrong area"}', 202)])
async def test_cancel_body_is_checked(api, body, status):
    _, alert = await api.publish(cap_json())
    code, out = await api.call("POST", f"/api/v1/alerts/{alert['id']}/cancel", "issuer", data=body,
                               headers={"Content-Type": "application/json"})
    assert code == status, out
    if status == 202:
        _, xml = await api.call("GET", f"/api/v1/alerts/{out['id']}.xml", "issuer")
        assert b"<note>wrong area</note>" in xml


@pytest.mark.parametrize("path,body", [
    ("/api/v1/receipts", b"[1, 2]"), ("/api/v1/receipts", b'"x"'), ("/api/v1/receipts", b"{}"),
    ("/api/v1/receipts", b'{"receipts": "x"}'),
])
async def test_odd_json_shapes_are_client_errors(api, path, body):
    sub = await api.register(regions=["110105"])
    code, out = await api.call("POST", path, sub["token"], data=body, headers={"Content-Type": "application/json"})
    assert 400 <= code < 500, out


@pytest.mark.parametrize("body", [b"[]", b'"x"', b'{"lat": "north", "lon": 1}'])
async def test_odd_locations_are_client_errors(api, body):
    sub = await api.register(regions=["110105"])
    code, out = await api.call("PUT", f"/api/v1/subscribers/{sub['id']}/location", sub["token"], data=body,
                               headers={"Content-Type": "application/json"})
    assert code in (400, 422), out


async def test_a_null_location_stops_sharing_it(api):
    sub = await api.register(regions=["110105"], location={"lat": 39.9, "lon": 116.4})
    code, out = await api.call("PUT", f"/api/v1/subscribers/{sub['id']}/location", sub["token"], data=b"null",
                               headers={"Content-Type": "application/json"})
    assert code == 200 and out["location"] is None

"""Every endpoint checks who is calling and what they may touch."""
import pytest

from tests.factories import cap_json


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/alerts"), ("POST", "/api/v1/alerts"), ("GET", "/api/v1/alerts/1"),
    ("GET", "/api/v1/alerts/1/deliveries"), ("POST", "/api/v1/alerts/1/cancel"), ("POST", "/api/v1/alerts/1/approve"),
    ("GET", "/api/v1/subscribers/0"), ("PATCH", "/api/v1/subscribers/0"), ("DELETE", "/api/v1/subscribers/0"),
    ("GET", "/api/v1/inbox"), ("GET", "/api/v1/inbox/stream"), ("POST", "/api/v1/receipts"),
    ("POST", "/api/v1/subscribers:import"), ("GET", "/api/v1/stats"), ("GET", "/metrics"),
])
@pytest.mark.parametrize("who", [None, "wk_not-a-key", "0.forged-token"])
async def test_unknown_callers_get_401(api, method, path, who):
    status, body = await api.call(method, path, who)
    assert status == 401, body
    assert ("Authorization" if who is None else "unknown or revoked" if who.startswith("wk_") else "token") \
        in body["error"]


async def test_issuer_outside_its_scope_is_refused_with_the_reason(api):
    status, body = await api.publish(cap_json(codes=["110108"]), who="chaoyang")
    assert status == 403
    assert "110105" in body["error"] and "110108" in body["error"]
    status, _ = await api.publish(cap_json(codes=["110105002"]), who="chaoyang")
    assert status == 202


SQUARE = [(39.9, 116.4), (39.9, 116.5), (40.0, 116.5), (40.0, 116.4), (39.9, 116.4)]


async def test_shapes_need_a_bounding_box_scope(api):
    status, body = await api.publish(cap_json(codes=(), polygons=[SQUARE]), who="chaoyang")
    assert status == 403 and "outside the bounding boxes" in body["error"]


@pytest.mark.parametrize("shape,allowed", [
    (dict(polygons=[SQUARE]), True),
    (dict(circles=[(39.95, 116.45, 3)]), True),
    (dict(circles=[(39.95, 116.45, 30)]), False),                      # reaches past the box
    (dict(polygons=[[(39.9, 116.4), (39.9, 117.9), (40.0, 117.9), (39.9, 116.4)]]), False),
])
async def test_shapes_inside_the_issuers_box(api, shape, allowed):
    from dispatcher.api import context as ctx
    key = await api.app[ctx.KEYS].create("chaoyang-geo", "issuer", ["110105", "bbox:39.85,116.35,40.05,116.6"])
    status, body = await api.publish(cap_json(codes=(), **shape), who=key)
    assert status == (202 if allowed else 403), body


@pytest.mark.parametrize("who,allowed", [("operator", False), ("issuer", True), ("admin", True)])
async def test_who_may_publish(api, who, allowed):
    status, _ = await api.publish(cap_json(), who=who)
    assert (status == 202) is allowed
    if not allowed:
        assert status == 403


async def test_issuers_see_only_their_alerts(api):
    _, mine = await api.publish(cap_json(codes=["110105"]), who="chaoyang")
    _, theirs = await api.publish(cap_json(codes=["110108"]), who="issuer")
    _, listing = await api.call("GET", "/api/v1/alerts", "chaoyang")
    assert [a["id"] for a in listing["alerts"]] == [mine["id"]]
    status, _ = await api.call("GET", f"/api/v1/alerts/{theirs['id']}", "chaoyang")
    assert status == 403
    status, _ = await api.call("GET", f"/api/v1/alerts/{theirs['id']}", "operator")
    assert status == 200


async def test_subscriber_token_reaches_its_own_record_only(api):
    a = await api.register(regions=["110105"])
    b = await api.register(regions=["110106"])
    status, own = await api.call("GET", f"/api/v1/subscribers/{a['id']}", a["token"])
    assert status == 200 and own["regions"] == ["110105"]
    for method in ("GET", "PATCH", "DELETE"):
        status, _ = await api.call(method, f"/api/v1/subscribers/{b['id']}", a["token"], json={})
        assert status == 403
    status, _ = await api.call("GET", "/api/v1/alerts", a["token"])
    assert status == 401                               # a subscriber token is not an API key
    status, _ = await api.call("GET", f"/api/v1/subscribers/{b['id']}", "operator")
    assert status == 200


async def test_operator_only_endpoints(api):
    for who, expected in (("issuer", 403), ("operator", 200), ("admin", 200)):
        status, _ = await api.call("GET", "/api/v1/stats", who)
        assert status == expected
        status, _ = await api.call("GET", "/metrics", who)
        assert status == expected

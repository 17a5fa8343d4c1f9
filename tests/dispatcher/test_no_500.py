"""Hostile or odd input to every route gets a 4xx, never a 500."""
import pytest

BODIES = [b"", b"{", b"[]", b"null", b'"x"', b"123", b'{"a": 1}', b"\xff\xfe", b"{" * 1000, b'{"regions": [null]}']
ROUTES = [
    ("POST", "/api/v1/alerts"), ("GET", "/api/v1/alerts?limit=-5"), ("GET", "/api/v1/alerts/1"),
    ("GET", "/api/v1/alerts/1/deliveries?state=sent&cursor=x"), ("POST", "/api/v1/alerts/1/approve"),
    ("POST", "/api/v1/alerts/1/cancel"), ("POST", "/api/v1/subscribers"), ("PATCH", "/api/v1/subscribers/0"),
    ("PUT", "/api/v1/subscribers/0/location"), ("DELETE", "/api/v1/subscribers/999999"),
    ("POST", "/api/v1/receipts"), ("POST", "/api/v1/subscribers:import"), ("POST", "/callbacks/sms"),
    ("POST", "/callbacks/fcm"), ("GET", "/api/v1/alerts/99999999999999999999"),
]


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("who", ["admin", "subscriber"])
async def test_no_route_answers_500(api, method, path, who):
    sub = await api.register(regions=["110105"])
    caller = sub["token"] if who == "subscriber" else "admin"
    for body in BODIES:
        for ctype in ("application/json", "application/cap+xml", "text/csv"):
            status, out = await api.call(method, path, caller, data=body, headers={"Content-Type": ctype})
            assert status < 500, (method, path, body[:20], ctype, out)

"""The operator's console actions need an operator and the session's CSRF token: retry and cancel
without the token (or with another session's) are refused and change nothing; an issuer's session
cannot open the live stream, the drill-down or the health panel."""
from __future__ import annotations

from tests.factories import cap_json
from tests.web.console.client import ConsoleClient


async def test_retry_and_cancel_need_the_csrf_token(api):
    operator = ConsoleClient(api.url)
    try:
        await operator.sign_in(api.keys["operator"])
        _, alert = await api.publish(cap_json(codes=["11"]))
        aid = alert["id"]
        body = {"channel": "sms", "reason": "bad_request"}
        for token in ("", "not-the-token"):
            status, got = await operator.call("POST", f"/console/api/alerts/{aid}/retry", json=body, csrf=token)
            assert status == 403 and got["errors"][0]["field"] == "X-CSRF-Token"
            status, got = await operator.call("POST", f"/console/api/alerts/{aid}/cancel", csrf=token)
            assert status == 403 and got["errors"][0]["field"] == "X-CSRF-Token"
            async with operator.session.post(f"{api.url}/console/dashboard/alerts/{aid}/retry", data=body,
                                             allow_redirects=False) as r:
                assert r.status == 403
        _, now = await api.call("GET", f"/api/v1/alerts/{aid}")
        assert now["lifecycle"] != "cancelled"                      # nothing changed
        status, got = await operator.call("POST", f"/console/api/alerts/{aid}/retry", json=body)
        assert status == 200 and got["retried"] == 0
        status, got = await operator.call("POST", f"/console/api/alerts/{aid}/cancel")
        assert status == 202
    finally:
        await operator.close()


async def test_an_issuer_session_cannot_watch(api):
    issuer = ConsoleClient(api.url)
    try:
        await issuer.sign_in(api.keys["issuer"])
        _, alert = await api.publish(cap_json(codes=["11"]))
        for path in ("/console/api/live", "/console/api/health", f"/console/api/alerts/{alert['id']}/failures"):
            status, got = await issuer.call("GET", path)
            assert status == 403 and "operator" in got["error"], path
        status, _, page = await issuer.get("/console/dashboard")
        assert status == 403 and "this needs the role" in page
        status, got = await issuer.call("POST", f"/console/api/alerts/{alert['id']}/retry",
                                        json={"channel": "sms", "reason": "bad_request"})
        assert status == 403
    finally:
        await issuer.close()

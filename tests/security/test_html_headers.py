"""HTML pages cannot be framed or sniffed and run only this origin's scripts: the console sends a CSP
without inline script or style, X-Frame-Options: DENY and X-Content-Type-Options: nosniff; JSON
answers send the latter two."""
from __future__ import annotations


async def test_console_pages_send_a_strict_policy(api):
    async with api.session.get(api.url + "/console/sign-in") as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src 'self'" in csp and "form-action 'self'" in csp
    assert '<script type="module" src="/console/static/console.js">' in html
    assert "<script>" not in html and "style=" not in html          # nothing inline that the policy would block
async def test_json_answers_are_not_sniffed_or_framed(api):
    for path in ("/healthz", "/api/v1/openapi.json", "/api/v1/alerts"):
        async with api.session.get(api.url + path) as r:
            assert r.headers["X-Content-Type-Options"] == "nosniff", path
            assert r.headers["X-Frame-Options"] == "DENY", path

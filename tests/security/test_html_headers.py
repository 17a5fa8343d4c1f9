"""HTML pages cannot be framed or sniffed and run only their own script: /ops sends a CSP,
X-Frame-Options: DENY and X-Content-Type-Options: nosniff; JSON answers send the latter two."""
from __future__ import annotations

import base64
import hashlib
import re


async def test_the_dashboard_sends_a_strict_policy(api):
    async with api.session.get(api.url + "/ops") as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.read()
        csp = r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    script = re.search(rb"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert f"'sha256-{digest}'" in csp                     # the page's own script still runs


async def test_json_answers_are_not_sniffed_or_framed(api):
    for path in ("/healthz", "/api/v1/openapi.json", "/api/v1/alerts"):
        async with api.session.get(api.url + path) as r:
            assert r.headers["X-Content-Type-Options"] == "nosniff", path
            assert r.headers["X-Frame-Options"] == "DENY", path

"""The app's files: only what ships in dispatcher/web/static is served, with a CSP, and odd names are 404s."""
import pytest


@pytest.mark.parametrize("name", ["9" * 5000, "..%2Fviews.py", "%2e%2e%2f__init__.py", "nope.js", "sw.js%00"])
async def test_odd_names_are_404_not_500(api, name):
    code, _ = await api.call("GET", f"/app/static/{name}", None)
    assert code == 404


async def test_the_shell_and_its_files_carry_a_same_origin_csp(api):
    async with api.session.get(api.url + "/app/") as resp:
        html = await resp.text()
        assert resp.status == 200 and "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert '<script type="module" src="/app/static/app.js">' in html
    async with api.session.get(api.url + "/app/static/app.js") as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
    async with api.session.get(api.url + "/app/sw.js") as resp:
        assert resp.status == 200 and resp.headers["Service-Worker-Allowed"] == "/app/"
    async with api.session.get(api.url + "/app/regions.json") as resp:
        codes = {r["code"] for r in (await resp.json())["regions"]}
    assert {"110105", "110108"} <= codes and "11" not in codes


@pytest.mark.parametrize("name", ["leaflet/LICENSE", "leaflet/../vendor.py", "..%2Fviews.py", "leaflet/nope.js"])
async def test_only_vendored_browser_files_are_served(api, name):
    code, _ = await api.call("GET", f"/vendor/{name}", None)
    assert code == 404


async def test_leaflet_is_served_as_vendored(api):
    async with api.session.get(api.url + "/vendor/leaflet/leaflet.js") as resp:
        body = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/javascript"
    assert "Leaflet 1.9.4" in body
    async with api.session.get(api.url + "/vendor/leaflet/images/marker-icon.png") as resp:
        assert resp.status == 200 and resp.content_type == "image/png"

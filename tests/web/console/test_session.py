"""Console sign-in with an API key once, then a session: cookie flags, wrong keys, sign-out, idle
expiry (injected clock), revoked and rotated keys, roles, the landing page and /ops."""
from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from yarl import URL

from dispatcher.web.session import COOKIE, STORE
from tests.dispatcher.conftest import open_api
from tests.web.console.client import ConsoleClient


@pytest.fixture
async def console(api):
    clients = []

    def make() -> ConsoleClient:
        clients.append(ConsoleClient(api.url))
        return clients[-1]
    yield make
    for c in clients:
        await c.close()


def _cookie_header(headers) -> str:
    [cookie] = [v for v in headers.getall("Set-Cookie") if v.startswith(COOKIE + "=")]
    return cookie


async def test_signing_in_gives_an_httponly_strict_session_cookie_and_never_the_key(api, console):
    person = console()
    status, headers, _ = await person.sign_in(api.keys["issuer"])
    assert status == 303 and headers["Location"] == "/console"
    cookie = _cookie_header(headers)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie                       # plain http on loopback
    assert api.keys["issuer"] not in cookie
    status, _, page = await person.get("/console")
    assert status == 200 and "bjmb" in page and api.keys["issuer"] not in page
    status, who = await person.call("GET", "/console/api/session")
    assert (status, who["role"], who["name"]) == (200, "issuer", "bjmb") and who["csrf"] == person.csrf


async def test_cookies_are_secure_when_the_installation_is_served_over_https(store, redis_sync, settings):
    async with open_api(store, dataclasses.replace(settings, public_url="https://warn.example.org")) as api:
        async with api.session.get(api.url + "/console/sign-in") as r:
            [form_cookie] = r.headers.getall("Set-Cookie")
            token = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)
        assert "Secure" in form_cookie and "HttpOnly" in form_cookie
        # A browser sends a Secure cookie over TLS only; this test speaks plain http to loopback.
        async with api.session.post(api.url + "/console/sign-in", allow_redirects=False,
                                    data={"csrf": token, "key": api.keys["operator"]},
                                    headers={"Cookie": f"wc_signin={token}"}) as r:
            assert r.status == 303 and "Secure" in _cookie_header(r.headers)


async def test_a_wrong_key_is_refused_with_a_message_and_no_session(api, console):
    person = console()
    status, headers, page = await person.sign_in("wk_not-a-key")
    assert status == 401 and "密钥无效或已被吊销" in page            # zh-CN when the browser says nothing
    assert not [v for v in headers.getall("Set-Cookie", []) if v.startswith(COOKIE + "=")]
    status, headers, _ = await person.get("/console")
    assert status == 303 and headers["Location"].startswith("/console/sign-in")


async def test_a_page_asked_for_before_signing_in_is_opened_after_it(api, console):
    person = console()
    status, headers, _ = await person.get("/console/audit?action=key.created")
    where = urlsplit(headers["Location"])
    assert status == 303 and where.path == "/console/sign-in"
    assert parse_qs(where.query)["next"] == ["/console/audit?action=key.created"]
    status, headers, _ = await person.sign_in(api.keys["operator"], next_path="/console/audit")
    assert headers["Location"] == "/console/audit"
    status, headers, _ = await console().sign_in(api.keys["operator"], next_path="//evil.example/console")
    assert headers["Location"] == "/console"


async def test_signing_out_ends_the_session_for_good(api, console):
    person = console()
    await person.sign_in(api.keys["issuer"])
    sid = person.session.cookie_jar.filter_cookies(URL(api.url + "/console"))[COOKIE].value
    status, headers = await person.sign_out()
    assert status == 303 and headers["Location"].startswith("/console/sign-in")
    assert "Max-Age=0" in _cookie_header(headers)
    thief = console()
    thief.session.cookie_jar.update_cookies({COOKIE: sid})
    status, _, _ = await thief.get("/console")
    assert status == 303
    status, body = await thief.call("GET", "/console/api/session")
    assert status == 401 and body["errors"][0]["field"] == "session"


async def test_a_session_ends_after_the_idle_time_and_each_request_restarts_it(api, console):
    sessions = api.app[STORE]
    now = [1_000_000.0]
    sessions.clock = lambda: now[0]
    person = console()
    await person.sign_in(api.keys["issuer"])
    idle = api.app[STORE].idle_s
    now[0] += idle - 5
    assert (await person.get("/console"))[0] == 200          # still in, and the idle time restarts
    now[0] += idle - 5
    assert (await person.get("/console"))[0] == 200
    now[0] += idle + 1
    status, headers, _ = await person.get("/console")
    assert status == 303 and headers["Location"].startswith("/console/sign-in")


@pytest.mark.parametrize("action", ["revoke", "rotate"])
async def test_revoking_or_rotating_the_key_ends_its_sessions(api, console, action):
    from dispatcher.api import context as ctx
    ks = api.app[ctx.KEYS]
    rec, secret = await ks.create_record("night-shift", "operator")
    person = console()
    await person.sign_in(secret)
    assert (await person.get("/console/audit"))[0] == 200
    await getattr(ks, action)(rec.id)
    status, headers, _ = await person.get("/console/audit")
    assert status == 303 and headers["Location"].startswith("/console/sign-in")


async def test_an_issuer_gets_the_403_page_for_operator_pages(api, console):
    person = console()
    await person.sign_in(api.keys["issuer"])
    status, headers, page = await person.get("/console/audit")
    assert status == 403 and headers["Content-Type"].startswith("text/html")
    assert "needs the role admin or operator" in page and "bjmb" in page


async def test_the_landing_page_offers_what_the_role_can_do(api, console):
    operator, issuer = console(), console()
    await operator.sign_in(api.keys["operator"])
    await issuer.sign_in(api.keys["issuer"])
    _, _, for_operator = await operator.get("/console")
    _, _, for_issuer = await issuer.get("/console")
    assert 'href="/console/audit"' in for_operator and 'href="/console/audit"' not in for_issuer


async def test_the_language_is_remembered(api, console):
    person = console()
    await person.sign_in(api.keys["issuer"])
    status, headers, _ = await person.get("/console/language?lang=en&next=/console")
    assert status == 303 and headers["Location"] == "/console"
    _, _, page = await person.get("/console")
    assert '<html lang="en">' in page and "Sign out" in page
    await person.get("/console/language?lang=zh-CN&next=https://evil.example/")
    _, _, page = await person.get("/console")
    assert '<html lang="zh-CN">' in page and "退出登录" in page


async def test_ops_leads_to_the_console_and_stats_still_answer(api):
    status, _ = await api.call("GET", "/api/v1/stats", "operator")
    assert status == 200
    async with api.session.get(api.url + "/ops", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/console"


async def test_sign_in_and_out_are_in_the_audit_trail(api, console):
    person = console()
    await person.sign_in(api.keys["operator"])
    await person.sign_out()
    _, body = await api.call("GET", "/api/v1/audit?limit=5", "admin")
    actions = [e["action"] for e in body["entries"]]
    assert actions[:2] == ["console.signed-out", "console.signed-in"]
    assert body["entries"][0]["name"] == "ops"


def test_every_console_string_has_both_languages():
    from dispatcher.web.console_shell import catalogue
    strings = catalogue()
    assert set(strings["zh-CN"]) == set(strings["en"])

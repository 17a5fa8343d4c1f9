"""The console's shell in a real browser: sign in with a key, the landing page by role, the language
switch remembered, an issuer refused an operator page, sign out; at desktop and phone sizes."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.console.conftest import shot
from tests.web.console.pages import SignInPage

pytestmark = pytest.mark.timeout(120)


def test_sign_in_switch_language_and_sign_out(desktop, console_server):
    page = desktop.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    signin = SignInPage(page, console_server.url).open("/console")
    expect(signin.sign_in_fails("wk_wrong")).to_contain_text("The key is unknown or revoked")
    console = signin.sign_in(console_server.keys["operator"])
    expect(console.signed_in_as).to_contain_text("Zhang Min")
    expect(console.nav()).to_contain_text(["Home", "Audit trail"])
    assert page.evaluate("() => document.cookie") == ""          # the session cookie is HttpOnly
    assert console_server.keys["operator"] not in page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    console.go("Audit trail")
    expect(page.locator("#audit-table")).to_contain_text("console.signed-in")
    console.switch_language("中文")
    expect(console.heading).to_have_text("审计记录")
    page.reload()
    expect(console.heading).to_have_text("审计记录")              # remembered
    console.switch_language("English")
    shot(page, "console-audit")
    console.sign_out()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto(console_server.url + "/console/audit")
    expect(page).to_have_url(console_server.url + "/console/sign-in?next=/console/audit")
    assert not errors, errors


def test_an_issuer_is_refused_operator_pages_on_a_phone(phone, console_server):
    page = phone.new_page()
    console = SignInPage(page, console_server.url).open().sign_in(console_server.keys["issuer"])
    expect(console.nav()).not_to_contain_text(["审计记录"])
    response = page.goto(console_server.url + "/console/audit")
    assert response.status == 403
    expect(console.heading).to_have_text("您无权打开此页面")
    expect(page.locator("#forbidden-reason")).to_contain_text("operator")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


def test_signing_in_and_reaching_a_page_works_from_the_keyboard(desktop, console_server):
    page = desktop.new_page()
    page.goto(console_server.url + "/console/sign-in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.locator("#key").focus()
    page.keyboard.type(console_server.keys["issuer"])
    page.keyboard.press("Enter")
    expect(page.locator("#signed-in-as")).to_contain_text("Li Wei")
    page.get_by_role("navigation").get_by_role("link", name="My drafts").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("My drafts")

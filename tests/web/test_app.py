"""The subscriber app in a real browser (Debian's Chromium driven by Playwright): sign up, get a
warning live, confirm it, read offline, see the nearest shelters. Set WARNCAST_SCREENSHOTS to a
directory to save screenshots of the main screens (docs/screenshots/ holds the committed ones)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.factories import cap_json
from tests.web.pages import SignupPage
from tests.web.server import Server

PHONE = {"width": 390, "height": 844}
SAMPLE = Path(__file__).resolve().parents[2] / "dispatcher" / "samples" / "shelters_beijing_synthetic.csv"
SHOTS = os.environ.get("WARNCAST_SCREENSHOTS", "")
pytestmark = pytest.mark.timeout(120)


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=name == "shelters")


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    store.sync().flushall()
    srv = Server(store, tmp_path_factory.mktemp("web")).start()
    yield srv
    srv.stop()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", geolocation={"latitude": 39.92, "longitude": 116.44},
                              permissions=["geolocation"])
    yield ctx
    ctx.close()


def api(server, method: str, path: str, who: str, headers=None, **kw) -> requests.Response:
    return requests.request(method, server.url + path, timeout=30, **kw,
                            headers={**(headers or {}), "Authorization": f"Bearer {server.keys[who]}"})


def publish(server, doc: dict) -> dict:
    resp = api(server, "POST", "/api/v1/alerts", "issuer", json=doc)
    assert resp.status_code == 202, resp.text
    return resp.json()


def sign_up(page, server, *, location: bool = False):
    signup = SignupPage(page, server.url).open()
    signup.switch_to_english()
    shot(page, "signup")
    signup.choose_area("chaoyang", "Chaoyang")
    signup.choose_level("Yellow and above")
    if location:
        signup.use_my_location()
    signup.choose_language("English")
    inbox = signup.submit()
    expect(inbox.live()).to_have_text("Live")
    return inbox


def test_a_warning_arrives_live_and_its_confirmation_is_counted(context, server):
    page = context.new_page()
    inbox = sign_up(page, server)
    alert = publish(server, cap_json(codes=["110105"], headline="暴雨橙色预警", severity="Severe"))
    accepted = time.monotonic()
    expect(inbox.card("Rainstorm warning")).to_be_visible(timeout=5000)
    seen_after_s = time.monotonic() - accepted
    print(f"warning visible {seen_after_s * 1000:.0f} ms after the 202")
    shot(page, "inbox")
    warning = inbox.open_warning("Rainstorm warning")
    expect(warning.lifecycle()).to_have_text("Active")
    warning.confirm()
    stats = api(server, "GET", f"/api/v1/alerts/{alert['id']}", "issuer").json()["stats"]["channels"]["inapp"]
    assert (stats["sent"], stats["delivered"], stats["read"], stats["confirmed"]) == (1, 1, 1, 1)
    cancel = api(server, "POST", f"/api/v1/alerts/{alert['id']}/cancel", "issuer")
    assert cancel.status_code == 202
    expect(warning.lifecycle()).to_have_text("Cancelled")


def test_the_inbox_reads_offline(context, server):
    page = context.new_page()
    inbox = sign_up(page, server)
    publish(server, cap_json(codes=["110105"], severity="Severe"))
    expect(inbox.card("Rainstorm warning")).to_be_visible(timeout=5000)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null || location.reload() || false", timeout=10000)
    context.set_offline(True)
    page.reload()
    expect(inbox.offline_notice()).to_be_visible()
    expect(inbox.card("Rainstorm warning")).to_be_visible()
    shot(page, "offline")
    context.set_offline(False)


def test_a_red_warning_fills_the_screen(context, server):
    page = context.new_page()
    inbox = sign_up(page, server)
    publish(server, cap_json(codes=["110105"], headline="暴雨红色预警", severity="Extreme", urgency="Immediate"))
    alarm = inbox.alarm()
    expect(alarm).to_be_visible(timeout=5000)
    expect(alarm).to_contain_text("Red warning")
    shot(page, "red-warning")
    alarm.get_by_role("button", name="I am safe / I have seen this").click()
    expect(alarm).to_be_hidden()


def test_a_shelter_warning_shows_the_nearest_shelters_in_order(context, server):
    resp = api(server, "POST", "/api/v1/shelters:import", "operator", data=SAMPLE.read_bytes(),
               headers={"Content-Type": "text/csv"})
    assert resp.status_code == 200, resp.text
    page = context.new_page()
    inbox = sign_up(page, server, location=True)
    publish(server, cap_json(codes=["110105"], severity="Severe", response_types=["Shelter"]))
    expect(inbox.card("Rainstorm warning")).to_be_visible(timeout=5000)
    warning = inbox.open_warning("Rainstorm warning")
    token = page.evaluate("JSON.parse(localStorage.getItem('warncast.subscriber')).token")
    alert_id = page.evaluate("Math.max(...JSON.parse(localStorage.getItem('warncast.inbox')).map(i => i.alert_id))")
    nearest = requests.get(f"{server.url}/api/v1/shelters/nearest?n=3&alert_id={alert_id}",
                           headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    assert nearest["from"]["source"] == "location"
    assert warning.shelter_names() == [s["name_en"] for s in nearest["shelters"]]
    expect(warning.map()).to_be_visible()
    shot(page, "shelters")

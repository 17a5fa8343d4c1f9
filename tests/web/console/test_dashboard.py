"""The operator's dashboard in a real browser: a warning's fan-out to a few thousand subscribers shows
live (progress, sends per second, the district map), its failures are drilled into and retried, it
is cancelled; an issuer cannot open these pages. Screenshots (WARNCAST_SCREENSHOTS=<dir>):
console-dashboard.png, console-drilldown.png."""
from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.factories import cap_json
from tests.web.console.conftest import shot
from tests.web.console.pages import DashboardPage, SignInPage
from tests.web.console.server import SUBSCRIBERS as WALKTHROUGH
from tests.web.console.watch_server import SUBSCRIBERS, WatchServer

pytestmark = pytest.mark.timeout(120)
SMS = SUBSCRIBERS // 3
#: Everyone in Beijing: this server's subscribers and the walkthrough's (no SMS among theirs).
TOTAL = SUBSCRIBERS + sum(WALKTHROUGH.values())


@pytest.fixture(scope="module")
def console_server(store, tmp_path_factory):
    store.sync().flushall()
    srv = WatchServer(store, tmp_path_factory.mktemp("watch")).start()
    yield srv
    srv.stop()


def publish(server, headline: str) -> int:
    doc = cap_json(codes=["11"], severity="Moderate", headline=headline)
    resp = requests.post(server.url + "/api/v1/alerts", json=doc, timeout=30,
                         headers={"Authorization": f"Bearer {server.keys['issuer']}"})
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def until(pred, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_operator_watches_a_fan_out_drills_into_failures_retries_and_cancels(console_server, desktop):
    page = desktop.new_page()
    SignInPage(page, console_server.url).open("/console/sign-in?next=/console/dashboard").sign_in(
        console_server.keys["operator"])
    dash = DashboardPage(page, console_server.url).open()
    alert_id = publish(console_server, "暴雨黄色预警")
    # the fan-out completes on screen: every in-app send, every SMS refused and moved on to in-app
    expect(dash.bar(alert_id, "inapp")).to_have_attribute("aria-valuetext", "100%", timeout=30_000)
    expect(dash.card(alert_id)).to_contain_text(f"{TOTAL:,} sent of {TOTAL:,} targeted (100%)")
    expect(dash.bar(alert_id, "sms")).to_have_attribute("aria-valuetext", "0%")
    expect(dash.lifecycle(alert_id)).to_have_text("Done")
    expect(dash.chart(alert_id)).not_to_have_attribute("data-points", "0")
    expect(dash.map()).to_have_attribute("data-coloured", "3")
    expect(dash.district_label("Chaoyang")).to_have_text("Chaoyang 100%")
    expect(dash.district_marker("110105")).to_have_attribute("fill", "#00703c")      # 99% or more: green
    expect(dash.district_row("Dongcheng")).to_contain_text(f"{SUBSCRIBERS // 3 + WALKTHROUGH.get('110101', 0):,}")
    expect(dash.health_table("providers")).to_contain_text("Closed (sending)")
    expect(dash.health_table("workers")).to_contain_text("embedded pool")
    shot(page, "console-dashboard", full_page=False)

    drill = dash.failures(alert_id)
    expect(drill.reason_row("sms", "bad_request")).to_contain_text(f"{SMS:,}")
    drill.show("sms", "bad_request")
    endpoints = drill.endpoints()
    assert len(endpoints) == 50 and all(re.fullmatch(r"\+86138\*+\d\d", e) for e in endpoints), endpoints[:3]
    expect(drill.next_page()).to_be_visible()
    shot(page, "console-drilldown")
    console_server.fix_the_gateway()
    expect(drill.retry_these()).to_contain_text("50 subscribers queued again")
    ledger = console_server.sims.ledger("sms")
    assert until(lambda: len(ledger.recipients(alert_id)) == 50)

    dash.open()
    second = publish(console_server, "大风蓝色预警")
    expect(dash.card(second)).to_be_visible()
    dash.cancel(second)
    expect(dash.card(second)).to_have_count(1)
    assert until(lambda: requests.get(f"{console_server.url}/api/v1/alerts/{second}", timeout=10, headers={
        "Authorization": f"Bearer {console_server.keys['operator']}"}).json()["lifecycle"] == "cancelled")
    expect(dash.lifecycle(second)).to_have_text("Cancelled")
    dash_page = SignInPage(page, console_server.url)
    from tests.web.console.pages import ConsolePage
    ConsolePage(page).sign_out()
    page.goto(console_server.url + "/console/dashboard")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    del dash_page


def test_an_issuer_cannot_open_the_dashboard_or_its_stream(console_server, desktop):
    page = desktop.new_page()
    SignInPage(page, console_server.url).open().sign_in(console_server.keys["issuer"])
    resp = page.goto(console_server.url + "/console/dashboard")
    assert resp.status == 403
    expect(page.get_by_text("this needs the role")).to_be_visible()
    api = page.request.get(console_server.url + "/console/api/live")
    assert api.status == 403


def test_the_dashboard_fits_a_phone_in_chinese(console_server, phone):
    page = phone.new_page()
    SignInPage(page, console_server.url).open().sign_in(console_server.keys["operator"])
    page.goto(console_server.url + "/console/dashboard")
    expect(page.locator("#live-status")).to_have_text("实时：数据随发送更新")
    expect(page.locator("#district-map")).to_be_visible()
    expect(page.locator("#providers-table")).to_be_visible()
    shot(page, "console-dashboard-phone")
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, width
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_be_visible()

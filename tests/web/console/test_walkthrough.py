"""The console's walkthrough in a real browser: an issuer signs in, composes from a template, draws a
polygon, sees the estimate and submits; a second person rejects with a reason; the issuer reads it,
edits and resubmits; the second person sees what changed and approves; the alert is published
(GET /api/v1/alerts); the dashboard shows its fan-out complete with its chart and map; the alert is
cancelled there; both sign out. Role checks and CSRF refusal alongside. Set
WARNCAST_SCREENSHOTS=<dir> to save console-compose/-approvals/-drafts/-audit screenshots."""
from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.web.console.conftest import DESKTOP, PHONE, shot
from tests.web.console.pages import ApprovalsPage, ComposePage, ConsolePage, DashboardPage, DraftsPage, SignInPage

pytestmark = pytest.mark.timeout(150)


def test_compose_reject_resubmit_approve_publish(browser, console_server):
    url, keys = console_server.url, console_server.keys
    author_ctx = browser.new_context(viewport=DESKTOP, locale="en-GB")
    approver_ctx = browser.new_context(viewport=DESKTOP, locale="en-GB")
    errors: list[str] = []
    try:
        author = author_ctx.new_page()
        author.on("pageerror", lambda exc: errors.append(str(exc)))
        SignInPage(author, url).open().sign_in(keys["issuer"])
        compose = ComposePage(author, url).open()
        compose.choose_template("Rainstorm", "Orange")
        expect(compose.text("en", "headline")).to_have_value("Rainstorm Orange Warning")
        expect(compose.preview_title("zh-CN", "push")).to_have_text("暴雨橙色预警")
        compose.choose_region("Chaoyang")
        compose.draw_polygon([(0.47, 0.62), (0.57, 0.62), (0.57, 0.76), (0.47, 0.76)])
        expect(compose.area_summary()).to_contain_text("1 polygon(s)")
        expect(compose.estimate_total()).to_contain_text("3 people reached")
        expect(compose.sms_meta("zh-CN")).to_contain_text("segment(s), UCS-2")
        author.evaluate("() => window.scrollTo(0, 0)")
        shot(author, "console-compose")
        compose.submit()
        expect(compose.status()).to_contain_text("waiting for a second person's approval")

        approver = approver_ctx.new_page()
        approver.on("pageerror", lambda exc: errors.append(str(exc)))
        SignInPage(approver, url).open().sign_in(keys["operator"])
        approvals = ApprovalsPage(approver, url).open()
        approvals.review("暴雨橙色预警")
        expect(approvals.diff_note()).to_have_text("This is the first version.")
        approvals.reject("Add Haidian to the area")
        expect(approvals.status()).to_contain_text("rejected")

        drafts = DraftsPage(author, url).open()
        expect(drafts.row("暴雨橙色预警")).to_contain_text("Rejected by Zhang Min: “Add Haidian to the area”")
        shot(author, "console-drafts", full_page=False)
        compose = drafts.edit("暴雨橙色预警")
        expect(compose.status()).to_contain_text("Add Haidian to the area")
        compose.choose_region("Haidian")
        compose.text("zh-CN", "headline").fill("暴雨橙色预警（朝阳、海淀）")
        expect(compose.estimate_total()).to_contain_text("4 people reached")
        compose.submit()
        expect(compose.status()).to_contain_text("version 2 is waiting")

        approvals.open()
        approvals.review("暴雨橙色预警（朝阳、海淀）")
        expect(approvals.inserted()).to_contain_text(["（朝阳、海淀）"])
        shot(approver, "console-approvals", full_page=False)
        alert_id = approvals.approve()
        alerts = requests.get(url + "/api/v1/alerts", headers={"Authorization": f"Bearer {keys['operator']}"},
                              timeout=30).json()["alerts"]
        [published] = [a for a in alerts if a["id"] == alert_id]
        assert published["headline"] == "暴雨橙色预警（朝阳、海淀）" and published["lifecycle"] in ("sending", "done")

        # the approver watches the fan-out complete on the dashboard, then cancels the alert
        dash = DashboardPage(approver, url).open()
        expect(dash.bar(alert_id, "inapp")).to_have_attribute("aria-valuetext", "100%", timeout=30_000)
        expect(dash.lifecycle(alert_id)).to_have_text("Done")
        expect(dash.chart(alert_id)).not_to_have_attribute("data-points", "0")
        expect(dash.district_marker("110105")).to_have_attribute("fill", "#00703c")
        expect(dash.district_label("Chaoyang")).to_have_text("Chaoyang 100%")
        dash.cancel(alert_id)
        expect(dash.lifecycle(alert_id)).to_have_text("Cancelled", timeout=15_000)

        approver.goto(url + "/console/audit")
        expect(approver.locator("#audit-table")).to_contain_text("draft.approved")
        shot(approver, "console-audit", full_page=False)
        ConsolePage(approver).sign_out()
        ConsolePage(author).sign_out()
        expect(author.get_by_role("status")).to_have_text("You have signed out.")
        assert not errors, errors
    finally:
        author_ctx.close()
        approver_ctx.close()


def test_an_issuer_cannot_open_approvals_and_changes_need_the_token(browser, console_server):
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        page = ctx.new_page()
        SignInPage(page, console_server.url).open().sign_in(console_server.keys["issuer"])
        assert page.goto(console_server.url + "/console/approvals").status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("您无权打开此页面")
        answer = page.evaluate("""async () => {
            const r = await fetch('/console/api/drafts', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                  body: JSON.stringify({form: {}})});
            return [r.status, (await r.json()).errors[0].field];
        }""")
        assert answer == [403, "X-CSRF-Token"]
        page.goto(console_server.url + "/console/compose")
        expect(page.locator("#template option")).to_have_count(15)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the composer is {width} px wide on a {PHONE['width']} px screen"
    finally:
        ctx.close()

"""Page objects of the console: what a person sees and does, so a changed layout changes one place."""
from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


class SignInPage:
    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def open(self, path: str = "/console/sign-in") -> "SignInPage":
        self.page.goto(self.base_url + path)
        expect(self.page.get_by_role("heading", level=1)).to_be_visible()
        return self

    def sign_in(self, key: str) -> "ConsolePage":
        self.page.locator("#key").fill(key)
        self.page.locator("form.stack button[type=submit]").click()
        console = ConsolePage(self.page)
        expect(console.signed_in_as).to_be_visible()
        return console

    def sign_in_fails(self, key: str) -> Locator:
        self.page.locator("#key").fill(key)
        self.page.locator("form.stack button[type=submit]").click()
        return self.page.get_by_role("alert")


class ConsolePage:
    """Any signed-in page: the header, navigation and language switch of base.html."""

    def __init__(self, page: Page):
        self.page = page
        self.signed_in_as = page.locator("#signed-in-as")
        self.heading = page.get_by_role("heading", level=1)

    def nav(self) -> Locator:
        return self.page.get_by_role("navigation").get_by_role("link")

    def go(self, link_text: str) -> None:
        self.page.get_by_role("navigation").get_by_role("link", name=link_text, exact=True).click()

    def switch_language(self, label: str) -> None:
        self.page.get_by_role("button", name=label, exact=True).click()

    def sign_out(self) -> SignInPage:
        self.page.get_by_role("button", name="Sign out").or_(self.page.get_by_role("button", name="退出登录")).click()
        expect(self.page.get_by_role("status")).to_be_visible()
        return SignInPage(self.page, "")


class DashboardPage:
    """The operator's live dashboard."""

    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url
        self.status = page.locator("#live-status")

    def open(self) -> "DashboardPage":
        self.page.goto(self.base_url + "/console/dashboard")
        expect(self.status).to_have_attribute("data-state", "live")
        return self

    def card(self, alert_id: int) -> Locator:
        return self.page.locator(f"#alert-{alert_id}")

    def bar(self, alert_id: int, channel: str) -> Locator:
        return self.card(alert_id).get_by_role("progressbar", name=f"{channel}: share sent")

    def chart(self, alert_id: int) -> Locator:
        return self.card(alert_id).locator("canvas.rate-chart")

    def map(self) -> Locator:
        return self.page.locator("#district-map")

    def district_label(self, name: str) -> Locator:
        return self.map().locator(".district-label", has_text=name)

    def district_marker(self, code: str) -> Locator:
        return self.map().locator(f"path.district-{code}")

    def district_row(self, name: str) -> Locator:
        return self.page.locator("#district-table tbody tr", has_text=name)

    def failures(self, alert_id: int) -> "DrilldownPage":
        self.card(alert_id).get_by_role("link", name="Failures").click()
        drill = DrilldownPage(self.page)
        expect(drill.reasons).to_be_visible()
        return drill

    def cancel(self, alert_id: int) -> None:
        self.card(alert_id).get_by_role("button", name="Cancel alert").click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Yes, cancel the alert").click()
        expect(self.page.locator("#dash-message")).to_have_text(f"Cancel issued for alert #{alert_id}.")

    def lifecycle(self, alert_id: int) -> Locator:
        return self.card(alert_id).locator(".card-head .state")

    def health_table(self, name: str) -> Locator:
        return self.page.locator(f"#{name}-table")


class DrilldownPage:
    """An alert's failures by reason, the subscribers behind one, and "retry these"."""

    def __init__(self, page: Page):
        self.page = page
        self.reasons = page.locator("#reasons-table")
        self.subscribers = page.locator("#subscribers-table")

    def reason_row(self, channel: str, reason: str) -> Locator:
        return self.reasons.locator("tr", has_text=reason).filter(has_text=channel)

    def show(self, channel: str, reason: str) -> None:
        self.page.get_by_role("link", name=f"Show subscribers ({channel}, {reason})").click()
        expect(self.subscribers).to_be_visible()

    def endpoints(self) -> list[str]:
        return self.subscribers.locator("tbody tr td:nth-child(5)").all_inner_texts()

    def retry_these(self) -> Locator:
        self.page.locator("#retry-these").click()
        done = self.page.locator("#retry-done")
        expect(done).to_be_visible()
        return done

    def next_page(self) -> Locator:
        return self.page.locator("#next-page")

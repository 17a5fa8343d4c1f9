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


class ComposePage:
    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def open(self) -> "ComposePage":
        self.page.goto(self.base_url + "/console/compose")
        expect(self.page.locator("#template option")).not_to_have_count(1)
        return self

    def choose_template(self, signal: str, level: str) -> None:
        self.page.get_by_label("Warning signal").select_option(label=signal)
        self.page.locator("#levels").get_by_label(level, exact=True).check()

    def text(self, lang: str, field: str) -> Locator:
        return self.page.locator(f"#{field}-{lang}")

    def choose_region(self, name: str) -> None:
        self.page.get_by_label("Search districts and streets").fill(name)
        self.page.locator("#region-tree label.region", has_text=name).first.locator("input").check()
        self.page.get_by_label("Search districts and streets").fill("")

    def draw_polygon(self, corners: list[tuple[float, float]]) -> None:
        """Corners as fractions of the map's width and height, clicked in order, then Finish."""
        self.page.get_by_role("button", name="Draw a polygon").click()
        self.page.locator("#map").scroll_into_view_if_needed()
        box = self.page.locator("#map").bounding_box()
        for fx, fy in corners:
            self.page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        self.page.get_by_role("button", name="Finish polygon").click()

    def area_summary(self) -> Locator:
        return self.page.locator("#area-summary")

    def preview_title(self, lang: str, channel: str) -> Locator:
        return self.page.locator(f'.preview-lang[data-lang="{lang}"] [data-channel="{channel}"] .card-title')

    def sms_meta(self, lang: str) -> Locator:
        return self.page.locator(f'.preview-lang[data-lang="{lang}"] .sms-meta')

    def estimate_total(self) -> Locator:
        return self.page.locator("#estimate-total")

    def submit(self) -> None:
        self.page.get_by_role("button", name="Submit").click()

    def status(self) -> Locator:
        return self.page.locator("#compose-status")


class DraftsPage:
    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def open(self) -> "DraftsPage":
        self.page.goto(self.base_url + "/console/drafts")
        expect(self.page.locator("#drafts-table tbody tr[data-draft]").first).to_be_visible()
        return self

    def row(self, headline: str) -> Locator:
        return self.page.locator("#drafts-table tbody tr", has=self.page.locator(".draft-headline", has_text=headline))

    def edit(self, headline: str) -> ComposePage:
        self.row(headline).get_by_role("link", name="Edit").click()
        compose = ComposePage(self.page, self.base_url)
        expect(self.page.locator("#headline-zh-CN")).not_to_have_value("")
        return compose


class ApprovalsPage:
    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def open(self) -> "ApprovalsPage":
        self.page.goto(self.base_url + "/console/approvals")
        expect(self.page.locator("#pending-list li").first).not_to_have_text("Loading…")
        return self

    def review(self, headline: str) -> None:
        self.page.locator("#pending-list button", has_text=headline).first.click()
        expect(self.page.locator("#review-title")).to_contain_text(headline)

    def diff_note(self) -> Locator:
        return self.page.locator("#review-diff .hint")

    def inserted(self) -> Locator:
        return self.page.locator("#review-diff ins")

    def reject(self, reason: str) -> None:
        self.page.get_by_label("Reason for rejecting").fill(reason)
        self.page.get_by_role("button", name="Reject").click()

    def approve(self) -> int:
        """Approve and publish; the alert id the status line names."""
        self.page.get_by_role("button", name="Approve and publish").click()
        expect(self.status()).to_contain_text("published as alert")
        return int(self.status().inner_text().rsplit(" ", 1)[1].rstrip("."))

    def status(self) -> Locator:
        return self.page.locator("#approvals-status")
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

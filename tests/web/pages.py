"""Page objects of the subscriber app: what a person sees and does, so a changed layout changes one place."""
from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


class SignupPage:
    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def open(self) -> "SignupPage":
        self.page.goto(self.base_url + "/app/")
        expect(self.page.get_by_role("heading", level=2)).to_be_visible()
        return self

    def switch_to_english(self) -> None:
        self.page.get_by_role("button", name="English").click()

    def choose_area(self, search: str, option_text: str) -> None:
        self.page.get_by_label("Search district or street").fill(search)
        select = self.page.get_by_label("District or street", exact=True)
        value = select.locator("option", has_text=option_text).first.get_attribute("value")
        select.select_option(value)

    def choose_level(self, text: str) -> None:
        self.page.get_by_label(text).check()

    def use_my_location(self) -> None:
        self.page.get_by_role("button", name="Use my location").click()
        expect(self.page.get_by_text("Location found")).to_be_visible()

    def choose_language(self, label: str) -> None:
        self.page.get_by_label(label, exact=True).check()

    def submit(self) -> "InboxPage":
        self.page.get_by_role("button", name="Start getting warnings").click()
        inbox = InboxPage(self.page)
        expect(inbox.heading).to_be_visible()
        return inbox

    def error_summary(self) -> Locator:
        return self.page.get_by_role("alert")


class InboxPage:
    def __init__(self, page: Page):
        self.page = page
        self.heading = page.get_by_role("heading", name="Warnings", level=2)

    def card(self, title: str) -> Locator:
        return self.page.locator("#inbox .card", has_text=title)

    def live(self) -> Locator:
        return self.page.locator("#stream-status")

    def offline_notice(self) -> Locator:
        return self.page.get_by_text("You are offline")

    def open_warning(self, title: str) -> "WarningPage":
        self.card(title).get_by_role("button").click()
        warning = WarningPage(self.page)
        expect(warning.title).to_have_text(title)
        return warning

    def alarm(self) -> Locator:
        return self.page.get_by_role("alertdialog")


class WarningPage:
    def __init__(self, page: Page):
        self.page = page
        self.title = page.locator("#detail-title")

    def lifecycle(self) -> Locator:
        return self.page.locator("#detail-lifecycle")

    def confirm(self) -> None:
        self.page.locator("#view-detail").get_by_role("button", name="I am safe / I have seen this").click()
        expect(self.page.locator("#confirm-status")).to_have_text("Confirmed, thank you.")

    def shelter_names(self) -> list[str]:
        items = self.page.locator("#shelter-list li strong")
        expect(items.first).to_be_visible()
        return items.all_inner_texts()

    def map(self) -> Locator:
        return self.page.get_by_role("img", name="Sketch of where you and the nearest shelters are")


class SettingsPage:
    def __init__(self, page: Page):
        self.page = page
        self.heading = page.get_by_role("heading", name="Settings", level=2)

    @classmethod
    def open(cls, page: Page) -> "SettingsPage":
        page.locator(".nav").get_by_role("button", name="Settings").click()
        settings = cls(page)
        expect(settings.heading).to_be_visible()
        return settings

    def sms_row(self) -> Locator:
        """What Settings says of the SMS number (the <dd> after "SMS")."""
        return self.page.locator("#me dt:text-is('SMS') + dd")

    def status(self) -> Locator:
        return self.page.locator("#sms-status")

    def ask_for_code(self, number: str) -> None:
        self.page.get_by_label("Mobile number").fill(number)
        self.page.get_by_role("button", name="Text me a code").click()

    def enter_code(self, code: str) -> None:
        self.page.get_by_label("Code from the text message").fill(code)
        self.page.get_by_role("button", name="Confirm my number").click()


class Filters:
    """The inbox's Current / Past / All filter."""

    def __init__(self, page: Page):
        self.page = page

    def choose(self, name: str) -> None:
        button = self.page.locator("#view-inbox .filters").get_by_role("button", name=name, exact=True)
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")


class SettingsActions:
    """Location and forget-me in Settings."""

    def __init__(self, page: Page):
        self.page = page

    def row(self, term: str) -> Locator:
        return self.page.locator(f"#me dt:text-is('{term}') + dd")

    def remove_location(self) -> None:
        self.page.get_by_role("button", name="Remove my location").click()
        expect(self.page.locator("#loc-status")).to_have_text("Location removed.")

    def forget_me(self) -> None:
        self.page.locator("#view-settings").get_by_role("button", name="Forget me", exact=True).click()
        dialog = self.page.get_by_role("alertdialog", name="Delete your subscription? This cannot be undone.")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Yes, delete it").click()

"""The app in a real browser: an Update replaces the warning it updates and a Cancel marks it
cancelled, the inbox filters, removing one's location, and "forget me" deleting the subscriber."""
from __future__ import annotations

import requests
from playwright.sync_api import expect

from tests.factories import cap_json
from tests.web.pages import Filters, SettingsActions, SettingsPage
from tests.web.test_app import api, context, publish, server, sign_up  # noqa: F401  (fixtures)


def _doc(headline_en: str, **kw) -> dict:
    doc = cap_json(codes=["110105"], severity="Severe", **kw)
    for info in doc["info"]:
        if info["language"].startswith("en"):
            info["headline"] = headline_en
    return doc


def _subscriber(page, server):  # noqa: F811
    me = page.evaluate("JSON.parse(localStorage.getItem('warncast.subscriber'))")
    resp = requests.get(f"{server.url}/api/v1/subscribers/{me['id']}", timeout=10,
                        headers={"Authorization": f"Bearer {me['token']}"})
    return me, resp


def test_an_update_replaces_the_warning_and_a_cancel_marks_it(context, server):  # noqa: F811
    page = context.new_page()
    inbox = sign_up(page, server)
    first = _doc("Storm, first")
    publish(server, first)
    expect(inbox.card("Storm, first")).to_be_visible(timeout=5000)
    update = _doc("Storm, worse", msg_type="Update",
                  references=[f"{first['sender']},{first['identifier']},{first['sent']}"])
    updated = publish(server, update)
    expect(inbox.card("Storm, worse")).to_be_visible(timeout=5000)
    expect(inbox.card("Storm, first")).to_be_hidden()              # replaced among the current ones
    filters = Filters(page)
    filters.choose("Past")
    expect(inbox.card("Storm, first")).to_contain_text(f"Updated by warning {updated['id']}")
    expect(inbox.card("Storm, worse")).to_be_hidden()
    assert api(server, "POST", f"/api/v1/alerts/{updated['id']}/cancel", "issuer").status_code == 202
    expect(inbox.card("Storm, worse")).to_contain_text("Cancelled", timeout=5000)   # now past, and marked
    filters.choose("Current")
    expect(inbox.card("Storm, worse")).to_be_hidden()
    filters.choose("All")
    expect(inbox.card("Storm, first")).to_be_visible()
    expect(inbox.card("Storm, worse")).to_contain_text("Cancelled")


def test_removing_the_location_removes_it_on_the_server(context, server):  # noqa: F811
    page = context.new_page()
    sign_up(page, server, location=True)
    _, resp = _subscriber(page, server)
    assert resp.json()["location"] is not None
    SettingsPage.open(page)
    settings = SettingsActions(page)
    expect(settings.row("Location")).to_have_text("39.92, 116.44")
    settings.remove_location()
    expect(settings.row("Location")).to_have_text("not shared")
    _, resp = _subscriber(page, server)
    assert resp.json()["location"] is None


def test_forget_me_deletes_the_subscriber_on_the_server(context, server):  # noqa: F811
    page = context.new_page()
    sign_up(page, server)
    me, resp = _subscriber(page, server)
    assert resp.status_code == 200
    SettingsPage.open(page)
    SettingsActions(page).forget_me()
    expect(page.get_by_role("button", name="Start getting warnings")).to_be_visible()
    assert page.evaluate("localStorage.getItem('warncast.subscriber')") is None
    _, resp = _subscriber_after(server, me)
    assert resp.status_code in (401, 404)
    gone = api(server, "GET", f"/api/v1/subscribers/{me['id']}", "operator")
    assert gone.status_code == 404


def _subscriber_after(server, me):  # noqa: F811
    return me, requests.get(f"{server.url}/api/v1/subscribers/{me['id']}", timeout=10,
                            headers={"Authorization": f"Bearer {me['token']}"})

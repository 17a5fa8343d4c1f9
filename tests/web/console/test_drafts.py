"""The approval workflow over the console's API: drafts and versions, submit, reject with a reason,
edit and resubmit, approve by a second person (never an author), publication through the same path
as POST /api/v1/alerts, cancel; stale and concurrent actions get a 409."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.web.console.client import ConsoleClient

CST = timezone(timedelta(hours=8))


def form(**over) -> dict:
    expires = (datetime.now(CST) + timedelta(hours=6)).replace(microsecond=0).isoformat()
    f = {"template": "rainstorm", "level": "orange", "status": "Actual", "msg_type": "Alert", "severity": "Severe",
         "urgency": "Expected", "certainty": "Likely", "sender": "bjmb@cma.gov.cn", "sender_name": "北京市气象台",
         "expires": expires, "languages": ["zh-CN", "en"],
         "texts": {"zh-CN": {"event": "暴雨", "headline": "暴雨橙色预警", "description": "3小时内降雨量将达50毫米以上。",
                             "instruction": "切断有危险的室外电源，暂停户外作业。"},
                   "en": {"event": "Rainstorm", "headline": "Rainstorm Orange Warning",
                          "description": "50 mm of rain within 3 hours.", "instruction": "Stop outdoor work."}},
         "area": {"codes": ["110105"]}}
    f.update(over)
    return f


@pytest.fixture
async def people(api):
    made = {}

    async def person(who: str) -> ConsoleClient:
        if who not in made:
            made[who] = ConsoleClient(api.url)
            status, _, page = await made[who].sign_in(api.keys[who])
            assert status == 303, page
        return made[who]
    yield person
    for c in made.values():
        await c.close()


async def rules(people, *severities: str) -> None:
    operator = await people("operator")
    status, body = await operator.call("PUT", "/console/api/approval-rules",
                                       json={"rules": [{"severities": list(severities)}] if severities else []})
    assert status == 200, body


async def test_reject_edit_resubmit_approve_publishes_the_alert(api, people):
    await rules(people, "Extreme", "Severe")
    author, approver = await people("issuer"), await people("operator")
    status, draft = await author.call("POST", "/console/api/drafts", json={"form": form()})
    assert (status, draft["state"], draft["version"]) == (201, "draft", 1)
    status, draft = await author.call("POST", f"/console/api/drafts/{draft['id']}/submit", json={"version": 1})
    assert (status, draft["state"]) == (200, "pending")
    status, body = await approver.call("POST", f"/console/api/drafts/{draft['id']}/reject", json={"version": 1})
    assert status == 422 and body["errors"][0]["field"] == "reason"
    status, draft = await approver.call("POST", f"/console/api/drafts/{draft['id']}/reject",
                                        json={"version": 1, "reason": "Name Haidian as well"})
    assert draft["state"] == "rejected"
    _, seen = await author.call("GET", f"/console/api/drafts/{draft['id']}")
    assert seen["rejection"]["reason"] == "Name Haidian as well" and seen["rejection"]["by"]["name"] == "ops"
    edited = form(area={"codes": ["110105", "110108"]})
    edited["texts"]["zh-CN"]["headline"] = "暴雨橙色预警（朝阳、海淀）"
    status, draft = await author.call("PUT", f"/console/api/drafts/{draft['id']}", json={"version": 1, "form": edited})
    assert (status, draft["state"], draft["version"], len(draft["versions"])) == (200, "draft", 2, 2)
    _, diff = await approver.call("GET", f"/console/api/drafts/{draft['id']}/diff?from=1&to=2")
    changed = {c["field"]: c for c in diff["changes"]}
    assert set(changed) == {"texts.zh-CN.headline", "area.codes"}
    assert {"op": "insert", "text": "（朝阳、海淀）"} in changed["texts.zh-CN.headline"]["runs"]
    await author.call("POST", f"/console/api/drafts/{draft['id']}/submit", json={"version": 2})
    status, body = await approver.call("POST", f"/console/api/drafts/{draft['id']}/approve", json={"version": 1})
    assert status == 409 and body["errors"][0]["field"] == "version"
    status, draft = await approver.call("POST", f"/console/api/drafts/{draft['id']}/approve", json={"version": 2})
    assert (status, draft["state"]) == (200, "published") and draft["approved_by"]["name"] == "ops"
    _, alert = await api.call("GET", f"/api/v1/alerts/{draft['alert_id']}", "issuer")
    assert alert["lifecycle"] in ("sending", "done") and alert["headline"] == "暴雨橙色预警（朝阳、海淀）"
    assert {r["code"] for r in alert["regions"]} == {"110105", "110108"}
    _, audit = await api.call("GET", "/api/v1/audit?limit=30", "admin")
    actions = [e["action"] for e in audit["entries"]]
    for step in ("draft.saved", "draft.submitted", "draft.rejected", "draft.approved", "alert.published"):
        assert step in actions, step


async def test_nobody_approves_a_warning_they_wrote(api, people):
    await rules(people, "Severe")
    admin = await people("admin")
    _, draft = await admin.call("POST", "/console/api/drafts", json={"form": form()})
    await admin.call("POST", f"/console/api/drafts/{draft['id']}/submit", json={"version": 1})
    status, body = await admin.call("POST", f"/console/api/drafts/{draft['id']}/approve", json={"version": 1})
    assert status == 403 and body["errors"][0]["field"] == "approver"
    status, body = await (await people("issuer")).call("POST", f"/console/api/drafts/{draft['id']}/approve",
                                                       json={"version": 1})
    assert status == 403 and body["errors"][0]["field"] == "role"
    status, draft = await (await people("operator")).call("POST", f"/console/api/drafts/{draft['id']}/approve",
                                                          json={"version": 1})
    assert status == 200 and draft["state"] == "published"


async def test_without_a_matching_rule_a_submitted_draft_goes_straight_out(api, people):
    await rules(people, "Extreme")
    author = await people("issuer")
    _, draft = await author.call("POST", "/console/api/drafts", json={"form": form()})
    status, draft = await author.call("POST", f"/console/api/drafts/{draft['id']}/submit", json={"version": 1})
    assert (status, draft["state"]) == (200, "published") and draft["approved_by"] is None
    status, draft = await author.call("POST", f"/console/api/drafts/{draft['id']}/cancel", json={})
    assert draft["state"] == "cancelled"
    await api.drain()
    _, alert = await api.call("GET", f"/api/v1/alerts/{draft['alert_id']}", "issuer")
    assert alert["lifecycle"] == "cancelled"


async def test_approve_and_reject_at_once_one_wins(api, people):
    await rules(people, "Severe")
    author, approver = await people("issuer"), await people("operator")
    _, draft = await author.call("POST", "/console/api/drafts", json={"form": form()})
    await author.call("POST", f"/console/api/drafts/{draft['id']}/submit", json={"version": 1})
    base = f"/console/api/drafts/{draft['id']}"
    answers = await asyncio.gather(approver.call("POST", base + "/approve", json={"version": 1}),
                                   approver.call("POST", base + "/reject", json={"version": 1, "reason": "no"}))
    assert sorted(s for s, _ in answers) == [200, 409]
    _, alerts = await api.call("GET", "/api/v1/alerts", "admin")
    published = [s for s, b in answers if s == 200 and b.get("state") == "published"]
    assert len(alerts["alerts"]) == len(published)


async def test_a_form_missing_its_area_is_refused_naming_the_field(api, people):
    author = await people("issuer")
    status, body = await author.call("POST", "/console/api/drafts", json={"form": form(area={"codes": []})})
    assert status == 422 and body["errors"] == [{"field": "area", "message": "choose at least one district or draw an "
                                                 "area on the map"}]


async def test_another_organisation_cannot_see_or_change_a_draft(api, people):
    _, draft = await (await people("issuer")).call("POST", "/console/api/drafts", json={"form": form()})
    other = await people("chaoyang")
    status, _ = await other.call("GET", f"/console/api/drafts/{draft['id']}")
    assert status == 404
    status, _ = await other.call("PUT", f"/console/api/drafts/{draft['id']}", json={"version": 1, "form": form()})
    assert status == 403
    _, listing = await other.call("GET", "/console/api/drafts")
    assert listing["drafts"] == []


async def test_preview_renders_every_channel_and_estimates_the_audience(api, people):
    for _ in range(3):
        await api.register(regions=["110105"])
    await api.register(regions=["110108"])
    author = await people("issuer")
    status, out = await author.call("POST", "/console/api/preview", json={"form": form()})
    assert status == 200 and out["errors"] == [] and out["form_errors"] == []
    zh = out["channels"]["zh-CN"]
    assert zh["push"]["title"] == "暴雨橙色预警" and "朝阳区" in zh["inapp"]["body"]
    assert zh["sms"]["body"].startswith("【北京市预警信息发布中心】") and zh["sms"]["segments"] >= 1
    assert zh["sms"]["encoding"] == "UCS-2"
    assert out["estimate"]["targeted"] == 3 and out["estimate"]["by_district"][0]["code"] == "110105"
    status, out = await author.call("POST", "/console/api/preview", json={"form": form(area={})})
    assert out["estimate"] is None and out["form_errors"][0]["field"] == "area"
    assert out["channels"]["en"]["push"]["title"] == "Rainstorm Orange Warning"


async def test_preview_shows_what_publishing_would_refuse_outside_the_scopes(api, people):
    chaoyang = await people("chaoyang")
    _, out = await chaoyang.call("POST", "/console/api/preview", json={"form": form(area={"codes": ["110108"]})})
    assert out["estimate"] is None and "110108" in out["errors"][0]["message"]


async def test_an_update_starts_from_the_alert_it_updates(api, people):
    from tests.factories import cap_json
    _, alert = await api.publish(cap_json(codes=["110105"], headline="大风蓝色预警"))
    author = await people("issuer")
    status, _, page = await author.get(f"/console/compose?update={alert['id']}")
    assert status == 200 and '"msg_type":"Update"' in page and f'"update_of":{alert["id"]}' in page
    assert "大风蓝色预警" in page
    other = await people("chaoyang")
    status, _, page = await other.get(f"/console/compose?update={alert['id']}")
    assert status == 403 and "belongs to another organisation" in page


async def test_a_warning_whose_author_lost_their_key_is_not_published(api, people):
    from dispatcher.api import context as ctx
    await rules(people, "Severe")
    ks = api.app[ctx.KEYS]
    rec, secret = await ks.create_record("temp-forecaster", "issuer", ["11"])
    author = ConsoleClient(api.url)
    try:
        await author.sign_in(secret)
        _, draft = await author.call("POST", "/console/api/drafts", json={"form": form()})
        await author.call("POST", f"/console/api/drafts/{draft['id']}/submit", json={"version": 1})
    finally:
        await author.close()
    await ks.revoke(rec.id)
    approver = await people("operator")
    status, body = await approver.call("POST", f"/console/api/drafts/{draft['id']}/approve", json={"version": 1})
    assert status == 409 and "revoked" in body["error"]
    _, seen = await approver.call("GET", f"/console/api/drafts/{draft['id']}")
    assert seen["state"] == "pending" and seen["alert_id"] is None

"""The warning-signal library (data files) and approval rules as operator settings."""
from __future__ import annotations

import pytest

from dispatcher import approval_rules, signal_templates
from tests.factories import cap_json
from tests.web.console.client import ConsoleClient

#: The colours each signal has in the national scheme (CMA Order No. 16, haze as revised in 2013).
OFFICIAL = {
    "typhoon": "blue yellow orange red", "rainstorm": "blue yellow orange red", "blizzard": "blue yellow orange red",
    "cold_wave": "blue yellow orange red", "gale": "blue yellow orange red", "sandstorm": "yellow orange red",
    "high_temperature": "yellow orange red", "drought": "orange red", "lightning": "yellow orange red",
    "hail": "orange red", "frost": "blue yellow orange", "heavy_fog": "yellow orange red", "haze": "yellow orange red",
    "road_icing": "yellow orange red",
}


def test_the_library_has_the_fourteen_signals_with_their_real_levels():
    lib = signal_templates.load()
    assert list(lib.signals) == list(signal_templates.ORDER)
    for sid, colours in OFFICIAL.items():
        assert [c for c in signal_templates.COLOURS if c in lib.signals[sid]["levels"]] == colours.split(), sid


@pytest.mark.parametrize("sid", sorted(OFFICIAL))
def test_every_level_has_both_languages_and_a_headline_naming_its_colour(sid):
    lib = signal_templates.load()
    for colour, texts in lib.signals[sid]["levels"].items():
        zh, en = texts["zh-CN"], texts["en"]
        assert lib.levels[colour]["name"]["zh-CN"] in zh["headline"] and colour in en["headline"].lower()
        assert zh["instruction"] and en["instruction"] and zh["description"] and en["description"]


def test_a_broken_template_file_is_named(tmp_path):
    (tmp_path / "frost.json").write_text('{"name": {"zh-CN": "霜冻", "en": "Frost"}, "levels": {"purple": {}}}')
    with pytest.raises(signal_templates.TemplateFileError, match="frost.json: levels.purple"):
        signal_templates.load(str(tmp_path))


def test_colour_maps_to_severity_as_everywhere_else():
    levels = signal_templates.load().levels
    assert {c: levels[c]["severity"] for c in levels} == {"blue": "Minor", "yellow": "Moderate",
                                                         "orange": "Severe", "red": "Extreme"}


@pytest.mark.parametrize("rule, alert, waits", [
    ({"severities": ["Extreme"]}, ("Extreme", "Actual", "bjmb"), True),
    ({"severities": ["Extreme"]}, ("Severe", "Actual", "bjmb"), False),
    ({"severities": ["Extreme"]}, ("Extreme", "Exercise", "bjmb"), False),
    ({"severities": ["*"], "statuses": ["Exercise"]}, ("Minor", "Exercise", "bjmb"), True),
    ({"severities": ["Severe"], "orgs": ["chaoyang"]}, ("Severe", "Actual", "bjmb"), False),
    ({"severities": ["Severe"], "orgs": ["chaoyang"]}, ("Severe", "Actual", "chaoyang"), True),
])
def test_a_rule_matches_severity_status_and_organisation(rule, alert, waits):
    rules = approval_rules.Rules(approval_rules.parse({"rules": [rule]}), "operator")
    assert rules.needs_approval(*alert) is waits
    assert rules.needs_approval(*alert, msg_type="Cancel") is False


@pytest.mark.parametrize("body, field", [
    ({"rules": [{"severities": ["Purple"]}]}, "rules[0].severities"),
    ({"rules": [{"severities": []}]}, "rules[0].severities"),
    ({"rules": [{"severities": ["Minor"], "statuses": ["Draft"]}]}, "rules[0].statuses"),
    ({"rules": "all"}, "rules"),
])
def test_a_wrong_rule_names_its_field(body, field):
    with pytest.raises(approval_rules.RuleError) as caught:
        approval_rules.parse(body)
    assert caught.value.field == field


async def test_rules_saved_in_the_console_hold_alerts_posted_to_the_api(api):
    operator = ConsoleClient(api.url)
    try:
        await operator.sign_in(api.keys["operator"])
        status, now = await operator.call("GET", "/console/api/approval-rules")
        assert (status, now["source"], now["rules"]) == (200, "settings", [])
        status, body = await operator.call("PUT", "/console/api/approval-rules",
                                           json={"rules": [{"severities": ["Purple"]}]})
        assert status == 422 and body["errors"][0]["field"] == "rules[0].severities"
        status, now = await operator.call("PUT", "/console/api/approval-rules", json={"rules": [{"severities": ["Severe"]}]})
        assert now["source"] == "operator" and now["by"].startswith("key ")
        _, held = await api.publish(cap_json(severity="Severe"))
        _, sent = await api.publish(cap_json(severity="Moderate"))
        assert (held["lifecycle"], sent["lifecycle"]) == ("held", "sending")
        status, now = await operator.call("PUT", "/console/api/approval-rules", json={"reset": True})
        assert now["source"] == "settings"
        _, audit = await api.call("GET", "/api/v1/audit?action=approval-rule.changed", "admin")
        assert len(audit["entries"]) == 2
    finally:
        await operator.close()


async def test_an_issuer_cannot_change_the_rules(api):
    issuer = ConsoleClient(api.url)
    try:
        await issuer.sign_in(api.keys["issuer"])
        status, body = await issuer.call("PUT", "/console/api/approval-rules", json={"rules": []})
        assert status == 403 and body["errors"][0]["field"] == "role"
    finally:
        await issuer.close()


async def test_the_rules_page_saves_a_rule_from_its_form_and_goes_back_to_the_setting(api):
    operator = ConsoleClient(api.url)
    try:
        await operator.sign_in(api.keys["operator"])
        status, _, page = await operator.get("/console/rules")
        assert status == 200 and 'name="severities_0"' in page
        form = [("csrf", operator.csrf), ("severities_0", ""), ("severities_0", "Extreme"), ("severities_0", "Severe"),
                ("statuses_0", "Actual"), ("orgs_0", "bjmb, chaoyang")]
        async with operator.session.post(api.url + "/console/rules", data=form) as r:
            assert r.status == 200 and "审批规则已保存" in await r.text()      # zh-CN: the browser named no language
        _, now = await operator.call("GET", "/console/api/approval-rules")
        assert now["rules"] == [{"severities": ["Extreme", "Severe"], "statuses": ["Actual"], "orgs": ["bjmb", "chaoyang"]}]
        async with operator.session.post(api.url + "/console/rules", data=[("csrf", operator.csrf), ("reset", "1")]) as r:
            assert r.status == 200
        _, now = await operator.call("GET", "/console/api/approval-rules")
        assert now["source"] == "settings"
        async with operator.session.post(api.url + "/console/rules", data=[("severities_0", "Minor")]) as r:
            assert r.status == 403 and "CSRF" in (await r.json())["error"]
    finally:
        await operator.close()

"""What a warning costs: unit costs × messages or SMS segments, estimated before and incurred after,
by channel; monthly budgets (soft: warned; hard: SMS held back except for top-tier alerts)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from channels.sms_text import segments
from dispatcher import audit
from dispatcher.api import context as ctx
from dispatcher.cli_format import cost_text
from dispatcher.cost import estimated, priced, savings_text, top_tier, units_per_message
from dispatcher.settings import Settings, _budgets, _costs
from tests.dispatcher.test_channel_flow import _hms_token, _open
from tests.factories import cap_json

PRICES = (("sms", 0.05), ("hms", 0.001))


@pytest.mark.parametrize("text,units", [
    ("a" * 160, 1),              # GSM-7: 160 septets in one SMS
    ("a" * 161, 2),              # then 153 a part
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("{" * 80, 1),               # extension characters count two septets
    ("{" * 81, 2),
    ("暴" * 70, 1),              # UCS-2: 70 code units in one SMS
    ("暴" * 71, 2),              # then 67 a part
    ("a" * 69 + "暴", 1),        # one character outside GSM-7 makes the whole text UCS-2
    ("a" * 70 + "暴", 2),
])
def test_an_sms_costs_its_segments(text, units):
    assert units_per_message("sms", text) == units == segments(text)
    assert units_per_message("smpp", text) == units
    assert units_per_message("hms", text) == 1          # push: one message, whatever its length


def test_estimate_is_segments_times_unit_cost_per_channel():
    settings = Settings(costs=PRICES)
    est = {"targeted": 10, "by_channel": {"hms": 4, "sms": 3, "inapp": 3},
           "sms_segments": 7, "sms_segments_per_message": {"zh-CN": 3, "en": 1}}
    got = estimated(settings, est)
    assert got["by_channel"] == {"hms": {"units": 4, "amount": 0.004}, "sms": {"units": 7, "amount": 0.35}}
    assert got["total"] == pytest.approx(0.354) and got["currency"] == "CNY"
    assert "inapp" not in got["by_channel"]                 # in-app costs nothing
    assert priced(Settings(costs=(("sms", 0.04),)), {"smpp": 10})["by_channel"]["smpp"]["amount"] == 0.4


@pytest.mark.parametrize("value,error", [
    ("sms=abc", "WARNCAST_COSTS"), ("sms=-1", "WARNCAST_COSTS"), ("=0.1", "WARNCAST_COSTS")])
def test_bad_unit_costs_name_the_setting(value, error):
    with pytest.raises(ValueError, match=error):
        _costs(value)


def test_budgets_parse_and_refuse_a_hard_limit_below_the_soft_one():
    assert _budgets("bjmb=500:800,chaoyang=100") == (("bjmb", 500.0, 800.0), ("chaoyang", 100.0, None))
    with pytest.raises(ValueError, match="WARNCAST_COST_BUDGETS"):
        _budgets("bjmb=500:100")


def test_top_tier_is_actual_extreme_immediate():
    from dispatcher.cap.parse_json import parse_json
    doc = parse_json(cap_json(severity="Extreme", urgency="Immediate"))
    assert top_tier(doc)
    assert not top_tier(parse_json(cap_json(severity="Extreme", urgency="Expected")))
    assert not top_tier(parse_json(cap_json(severity="Extreme", urgency="Immediate", status="Exercise")))


async def _people(api):
    subs = []
    for i in range(3):
        subs.append(await api.register(regions=["110105"], channels=["sms"], endpoints={"sms": f"+8613900001{i:03d}"}))
    for i in range(2):
        subs.append(await api.register(regions=["110105"], channels=["sms"], language="en",
                                       endpoints={"sms": f"+8613900002{i:03d}"}))
    for i in range(4):
        subs.append(await api.register(regions=["110105"], channels=["hms"], endpoints={"hms": _hms_token(i)}))
    return subs


async def _issuer(api, org: str) -> str:
    return await api.app[ctx.KEYS].create(f"{org}-issuer", "issuer", ["11"], org=org)


async def test_incurred_matches_the_estimate_and_reaches_status_and_metrics(store, redis_aio, settings, monkeypatch):
    sims, cm = await _open(store, replace(settings, costs=PRICES), monkeypatch, ("hms", "sms"))
    try:
        async with cm as api:
            await _people(api)
            doc = cap_json(codes=["110105"])
            _, checked = await api.call("POST", "/api/v1/alerts:validate", "issuer", json=doc)
            before = checked["estimate"]["cost"]
            status, alert = await api.publish(doc)
            assert status == 202, alert
            await api.drain()
            texts = sims.sims["sms"].last_text
            zh, en = texts["+8613900001000"], texts["+8613900002000"]
            sms_units = 3 * segments(zh) + 2 * segments(en)
            assert segments(zh) != segments(en) or len(zh) != len(en)      # two languages, counted apart
            _, rec = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
            cost = rec["cost"]
            assert cost["incurred"]["by_channel"] == {"hms": {"units": 4, "amount": 0.004},
                                                      "sms": {"units": sms_units, "amount": round(sms_units * 0.05, 4)}}
            assert cost["estimated"]["by_channel"] == cost["incurred"]["by_channel"] == before["by_channel"]
            assert cost["estimated"]["all_sms"] >= cost["estimated"]["total"]
            assert cost["suppressed"] == {"budget": 0}
            text = cost_text(cost)
            assert "sms" in text and f"{sms_units * 0.05:.2f}" in text
            _, metrics = await api.call("GET", "/metrics", "operator")
            assert f'warncast_cost_total{{channel="sms",currency="CNY"}} {round(sms_units * 0.05, 4)}' in metrics.decode()
            assert 'warncast_cost_total{channel="hms",currency="CNY"} 0.004' in metrics.decode()
    finally:
        await sims.stop()


async def test_soft_budget_warns_the_issuer_and_writes_an_audit_entry(store, redis_aio, settings, monkeypatch):
    budgets = (("soft-org", 0.01, None),)
    sims, cm = await _open(store, replace(settings, costs=PRICES, cost_budgets=budgets), monkeypatch, ("hms", "sms"))
    try:
        async with cm as api:
            await _people(api)
            key = await _issuer(api, "soft-org")
            status, alert = await api.publish(cap_json(codes=["110105"]), who=key)
            assert status == 202
            warned = [w for w in alert["warnings"] if w["path"] == "cost"]
            assert warned and "soft-org has spent 0.00 CNY of its 0.01 CNY monthly budget" in warned[0]["message"]
            entries, _ = await audit.read(redis_aio, action="cost.budget")
            assert entries and entries[0]["what"]["alert"] == alert["id"]
            await api.drain()
            assert len(sims.ledger("sms").recipients(alert["id"])) == 5        # soft: warned, still sent
            _, quiet = await api.publish(cap_json(codes=["110105"]))            # an org without a budget
            assert not [w for w in quiet["warnings"] if w["path"] == "cost"]
    finally:
        await sims.stop()


@pytest.mark.parametrize("top", [False, True])
async def test_hard_budget_holds_back_sms_except_for_top_tier_alerts(store, redis_aio, settings, monkeypatch, top):
    budgets = (("hard-org", 0.0, 0.0),)
    sims, cm = await _open(store, replace(settings, costs=PRICES, cost_budgets=budgets), monkeypatch, ("hms", "sms"))
    try:
        async with cm as api:
            await _people(api)
            key = await _issuer(api, "hard-org")
            doc = cap_json(codes=["110105"], severity="Extreme" if top else "Severe",
                           urgency="Immediate" if top else "Expected")
            status, alert = await api.publish(doc, who=key)
            assert status == 202
            await api.drain()
            _, rec = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
            assert len(sims.ledger("hms").recipients(alert["id"])) == 4          # push is never held back
            if top:
                assert len(sims.ledger("sms").recipients(alert["id"])) == 5
                assert rec["cost"]["suppressed"] == {"budget": 0}
            else:
                assert sims.ledger("sms").recipients(alert["id"]) == set()
                assert rec["cost"]["suppressed"] == {"budget": 5}
                assert rec["stats"]["totals"]["suppressed"] == 5
                assert rec["stats"]["failure_reasons"]["sms:budget"] == 5
                assert "sms" not in rec["cost"]["incurred"]["by_channel"]
    finally:
        await sims.stop()


def test_the_demo_line_says_what_the_channel_mix_saved():
    cost = {"currency": "CNY",
            "incurred": {"total": 8.0, "by_channel": {"hms": {"units": 700, "amount": 0.0},
                                                       "sms": {"units": 200, "amount": 8.0}}},
            "estimated": {"total": 8.0, "all_sms": 80.0, "by_channel": {}}}
    assert savings_text(cost) == ("cost: 8.00 CNY incurred (hms 0.00, sms 8.00), 8.00 estimated; everyone by SMS "
                                  "would have cost 80.00 CNY: the channel mix saved 72.00 CNY (90%)")

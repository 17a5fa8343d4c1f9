"""China's warning levels, severity ranks, and the Alert methods dispatch relies on."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dispatcher.cap import (SEVERITY_RANK, Alert, Area, Geocode, Info, Parameter, level_to_severity, parse_json,
                            severity_to_level)

from . import minimal, patched

CST = timezone(timedelta(hours=8))

LEVELS = [
    ("red", "Extreme"), ("RED", "Extreme"), ("Red", "Extreme"), (" red ", "Extreme"), ("红色", "Extreme"),
    ("orange", "Severe"), ("ORANGE", "Severe"), ("橙色", "Severe"),
    ("yellow", "Moderate"), ("Yellow", "Moderate"), ("黄色", "Moderate"),
    ("blue", "Minor"), ("BLUE", "Minor"), ("蓝色", "Minor"),
]


@pytest.mark.parametrize("level, severity", LEVELS)
def test_level_to_severity(level, severity):
    assert level_to_severity(level) == severity


@pytest.mark.parametrize("level", ["purple", "", "红", "green", "1", "Extreme", "red warning"])
def test_unrecognised_level_raises(level):
    with pytest.raises(ValueError, match="unrecognised warning level .*expected red, orange, yellow or blue"):
        level_to_severity(level)


@pytest.mark.parametrize("severity, level", [("Extreme", "red"), ("Severe", "orange"), ("Moderate", "yellow"),
                                             ("Minor", "blue"), ("Unknown", None), ("extreme", None), ("", None)])
def test_severity_to_level(severity, level):
    assert severity_to_level(severity) == level


def test_levels_and_severities_map_both_ways():
    for level in ("red", "orange", "yellow", "blue"):
        assert severity_to_level(level_to_severity(level)) == level


def test_severity_rank_orders_cap_severities():
    assert SEVERITY_RANK == {"Unknown": 0, "Minor": 1, "Moderate": 2, "Severe": 3, "Extreme": 4}


# -- Alert methods --------------------------------------------------------------

def _alert(*infos: Info) -> Alert:
    return Alert(identifier="a-1", sender="bjmb@cma.gov.cn", sent=datetime(2026, 7, 30, 14, tzinfo=CST),
                 infos=list(infos))


def test_identity_uses_sent_as_given():
    alert = parse_json(patched({"sent": "2026-07-30T06:00:00-00:00"}))
    assert alert.identity() == ("bjmb@cma.gov.cn", "bjmb-20260730-001", "2026-07-30T06:00:00-00:00")


def test_hand_built_alert_gets_sent_text_from_sent():
    assert _alert().sent_text == "2026-07-30T14:00:00+08:00"


@pytest.mark.parametrize("severities, expected", [
    (["Minor", "Extreme", "Moderate"], "Extreme"),
    (["Unknown", "Minor"], "Minor"),
    (["Severe", "Moderate"], "Severe"),
    (["Unknown"], "Unknown"),
    ([], "Unknown"),
])
def test_severity_is_the_highest(severities, expected):
    assert _alert(*[Info(severity=s) for s in severities]).severity() == expected


@pytest.mark.parametrize("urgencies, expected", [
    (["Future", "Immediate"], "Immediate"),
    (["Expected", "Past"], "Expected"),
    (["Unknown", "Past"], "Past"),
    ([], "Unknown"),
])
def test_urgency_is_the_most_pressing(urgencies, expected):
    assert _alert(*[Info(urgency=u) for u in urgencies]).urgency() == expected


@pytest.mark.parametrize("expiries, expected", [
    ([datetime(2026, 7, 30, 18, tzinfo=CST), datetime(2026, 7, 30, 20, tzinfo=CST)],
     datetime(2026, 7, 30, 20, tzinfo=CST)),
    ([datetime(2026, 7, 30, 13, tzinfo=timezone.utc), datetime(2026, 7, 30, 20, tzinfo=CST)],
     datetime(2026, 7, 30, 13, tzinfo=timezone.utc)),
    ([datetime(2026, 7, 30, 18, tzinfo=CST), None], None),
    ([], None),
])
def test_expires_at_is_the_latest_unless_one_never_expires(expiries, expected):
    assert _alert(*[Info(expires=e) for e in expiries]).expires_at() == expected


@pytest.mark.parametrize("wanted, chosen", [
    ("zh-CN", "zh-CN"), ("zh-cn", "zh-CN"), ("zh", "zh-CN"), ("zh-TW", "zh-CN"),
    ("en-US", "en-US"), ("en-GB", "en-GB"), ("en-AU", "en-US"), ("fr-FR", "zh-CN"), ("", "zh-CN"),
])
def test_info_for_prefers_exact_then_primary_subtag_then_first(wanted, chosen):
    alert = _alert(Info(language="zh-CN"), Info(language="en-US"), Info(language="en-GB"))
    assert alert.info_for(wanted).language == chosen


def test_info_for_without_infos_raises():
    with pytest.raises(LookupError, match="has no info"):
        _alert().info_for("zh-CN")


def test_categories_and_geocodes_collect_over_infos():
    alert = _alert(
        Info(categories=["Met"], areas=[Area("a", geocodes=[Geocode("GB/T 2260", "110101"),
                                                             Geocode("GB/T 2260", "110105")])]),
        Info(categories=["Met", "Geo"], areas=[Area("b", geocodes=[Geocode("GB/T 2260", "110105")]),
                                               Area("c", geocodes=[Geocode("GB/T 2260", "110108001")])]),
    )
    assert alert.categories() == {"Met", "Geo"}
    assert alert.geocodes() == ["110101", "110105", "110108001"]


def test_parameter_lookup_ignores_case():
    info = Info(parameters=[Parameter("Level", "red"), Parameter("level", "blue")])
    assert info.parameter("level") == "red"
    assert info.parameter("LEVEL") == "red"
    assert info.parameter("colour") is None


def test_level_sets_unknown_severity_on_parse():
    alert = parse_json(patched({"info.0.severity": "Unknown", "info.0.parameter.0.value": "黄色"}))
    assert alert.infos[0].severity == "Moderate"
    assert alert.severity() == "Extreme"  # the en-US info says Extreme
    alert = parse_json(patched({"info.0.severity": "Unknown", "info.0.parameter.0.value": "黄色",
                                "info.1.severity": "Unknown"}))
    assert alert.severity() == "Moderate"


def test_minimal_alert_is_valid():
    assert parse_json(minimal()).severity() == "Extreme"

"""Every answer carries errors and warnings: accepted, but an issuer should look at these."""
from __future__ import annotations

import pytest

from tests.factories import cap_json


def _doc(change):
    doc = cap_json(languages=("zh-CN",))
    change(doc)
    return doc


def _no_area(doc):
    doc["info"].append({**doc["info"][0], "language": "en-US"})
    doc["info"][1] = {k: v for k, v in doc["info"][1].items() if k != "area"}


CASES = [
    ("clean", lambda d: None, []),
    ("expires far away", lambda d: d["info"][0].update(expires="2099-01-01T00:00:00+08:00"),
     [("alert/info[0]/expires", "days away")]),
    ("info with no area", _no_area, [("alert/info[1]/area", "no area")]),
    ("language with no template", lambda d: d["info"][0].update(language="fr-CA"),
     [("alert/info[0]/language", "no message template for 'fr-CA'")]),
    ("unknown geocode scheme", lambda d: d["info"][0]["area"][0]["geocode"].append(
        {"valueName": "SAME", "value": "006037"}), [("alert/info[0]/area[0]/geocode[1]/valueName", "'SAME'")]),
]


@pytest.mark.parametrize("case,change,expected", CASES, ids=[c[0] for c in CASES])
async def test_warnings_in_the_202(api, case, change, expected):
    status, body = await api.publish(_doc(change), who="admin")
    assert status == 202, body
    assert body["errors"] == []
    got = [(w["path"], w["message"]) for w in body["warnings"]]
    assert [p for p, _ in got] == [p for p, _ in expected]
    assert all(text in message for (_, message), (_, text) in zip(got, expected))


async def test_error_answers_carry_warnings_too(api):
    doc = cap_json(languages=("zh-CN",))
    doc["info"][0]["area"][0]["geocode"] = [{"valueName": "SAME", "value": "1"},
                                            {"valueName": "GB/T 2260", "value": "11O1O5"}]
    status, body = await api.publish(doc, who="admin")
    assert status == 422
    assert [e["path"] for e in body["errors"]] == ["alert/info[0]/area[0]/geocode[1]/value"]
    assert [w["path"] for w in body["warnings"]] == ["alert/info[0]/area[0]/geocode[0]/valueName"]

"""A geocode under a known scheme names a region in the registry, or the alert is refused naming it;
an unknown scheme is a warning in the answer, never silent."""
from __future__ import annotations

import pytest

from tests.factories import cap_json


def _with_geocodes(*pairs):
    doc = cap_json(languages=("zh-CN",))
    doc["info"][0]["area"][0]["geocode"] = [{"valueName": n, "value": v} for n, v in pairs]
    return doc


REFUSED = [
    ("letter O for zero", ("GB/T 2260", "11O1O5")),
    ("seven digits", ("GB/T 2260", "1101055")),
    ("not in the registry", ("GB/T 2260", "110199")),
    ("other spelling of the scheme", ("GB2260", "999999")),
    ("full-width digits", ("gb-t-2260", "１１０１０５")),
]


@pytest.mark.parametrize("case,pair", REFUSED, ids=[c[0] for c in REFUSED])
async def test_bad_region_codes_are_refused_naming_the_geocode(api, case, pair):
    status, err = await api.publish(_with_geocodes(("GB/T 2260", "110105"), pair))
    assert status == 422, err
    assert err["errors"][0]["path"] == "alert/info[0]/area[0]/geocode[1]/value"
    assert pair[1] in err["errors"][0]["message"]
    _, listing = await api.call("GET", "/api/v1/alerts")
    assert listing["alerts"] == []


ACCEPTED = [
    ("district", ("GB/T 2260", "110105"), []),
    ("padded city", ("GB2260", "110100"), []),
    ("township", ("GB/T 2260", "110105001"), []),
    ("unknown scheme", ("SAME", "006037"), ["SAME"]),
]


@pytest.mark.parametrize("case,pair,warned", ACCEPTED, ids=[c[0] for c in ACCEPTED])
async def test_known_codes_pass_and_unknown_schemes_are_warned(api, case, pair, warned):
    status, body = await api.publish(_with_geocodes(("GB/T 2260", "110105"), pair), who="admin")
    assert status == 202, body
    messages = [w["message"] for w in body["warnings"] if w["path"].endswith("/valueName")]
    assert len(messages) == len(warned)
    assert all(name in m for name, m in zip(warned, messages))

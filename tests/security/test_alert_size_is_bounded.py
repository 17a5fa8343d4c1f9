"""One alert cannot carry unbounded areas, geocodes, points or circles, and an error answer stays small."""
from __future__ import annotations

import dataclasses

import orjson
import pytest

from tests.factories import cap_json


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, max_areas=3, max_geocodes=5, max_polygon_points=12, max_circles=2)


def _area(**extra):
    return {"areaDesc": "x", **extra}


SQUARE = "39.9,116.4 39.9,116.5 40.0,116.5 40.0,116.4 39.9,116.4"
CASES = [
    ("areas", [_area(geocode=[{"valueName": "GB/T 2260", "value": "110105"}]) for _ in range(4)],
     "4 areas", "WARNCAST_MAX_AREAS"),
    ("geocodes", [_area(geocode=[{"valueName": "GB/T 2260", "value": "110105"}] * 6)],
     "6 geocodes", "WARNCAST_MAX_GEOCODES"),
    ("points", [_area(polygon=[SQUARE] * 3)], "15 polygon points", "WARNCAST_MAX_POLYGON_POINTS"),
    ("circles", [_area(circle=["39.9,116.4 1"] * 3)], "3 circles", "WARNCAST_MAX_CIRCLES"),
]


@pytest.mark.parametrize("case,areas,count,setting", CASES, ids=[c[0] for c in CASES])
async def test_over_a_limit_is_413_naming_it(api, case, areas, count, setting):
    doc = cap_json(languages=("zh-CN",))
    doc["info"][0]["area"] = areas
    status, err = await api.publish(doc, who="admin")
    assert status == 413, err
    assert any(count in e["message"] and setting in e["message"] for e in err["errors"]), err
    _, listing = await api.call("GET", "/api/v1/alerts")
    assert listing["alerts"] == []


async def test_at_the_limit_is_accepted(api):
    doc = cap_json(languages=("zh-CN",))
    doc["info"][0]["area"] = [_area(geocode=[{"valueName": "GB/T 2260", "value": "110105"}] * 5)]
    status, body = await api.publish(doc)
    assert status == 202, body


@pytest.mark.parametrize("n", [51, 60_000])
async def test_error_list_is_capped_at_50_with_a_count(api, n):
    doc = cap_json()
    for i in range(n):
        doc[f"bogus{i}"] = 1
    status, err = await api.call("POST", "/api/v1/alerts", "issuer", data=orjson.dumps(doc),
                                 headers={"Content-Type": "application/json"})
    assert status == 422
    assert len(err["errors"]) == 50 and err["errors_omitted"] == n - 50
    assert len(orjson.dumps(err)) < 16_000

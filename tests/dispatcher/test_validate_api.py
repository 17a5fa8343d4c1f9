"""POST /api/v1/alerts:validate: intake's answer and the audience estimate, with nothing stored or sent."""
from __future__ import annotations

import orjson
import pytest

from dispatcher import cap
from dispatcher.api import context as ctx
from dispatcher.estimate import Audience, dry_record, estimate
from tests.factories import cap_json


async def _validate(api, doc, who="issuer"):
    return await api.call("POST", "/api/v1/alerts:validate", who, data=orjson.dumps(doc),
                          headers={"Content-Type": "application/json"})


async def test_estimate_counts_per_district_and_channel_and_stores_nothing(api, redis_sync):
    for _ in range(3):
        await api.register(regions=["110105001"])
    await api.register(regions=["110108"])
    await api.register(regions=["110105"], preferences={"min_severity": "Extreme"})
    before = set(redis_sync.keys("*"))
    status, body = await _validate(api, cap_json(codes=["110105", "110108"]))
    assert status == 200, body
    assert body["valid"] is True and body["errors"] == [] and body["warnings"] == []
    est = body["estimate"]
    assert (est["targeted"], est["suppressed"]) == (4, 1)
    rows = {r["code"]: (r["targeted"], r["suppressed"]) for r in est["by_district"]}
    assert rows == {"110105": (3, 1), "110108": (1, 0)}
    assert est["by_channel"] == {"inapp": 4} and est["sms_segments"] == 0
    assert set(redis_sync.keys("*")) == before
    _, listing = await api.call("GET", "/api/v1/alerts")
    assert listing["alerts"] == []


CASES = [
    ("bad enum", lambda d: d.update(status="Real"), "alert/status", None),
    ("unknown region", lambda d: d["info"][0]["area"][0]["geocode"].append(
        {"valueName": "GB/T 2260", "value": "110105999"}), "alert/info[0]/area[0]/geocode[1]/value", None),
    ("outside the issuer's scope", lambda d: d["info"][0]["area"][0]["geocode"].__setitem__(
        0, {"valueName": "GB/T 2260", "value": "110108"}), "alert/info[0]/area[0]/geocode", None),
    ("unknown reference", lambda d: d.update(msgType="Update", references="a@b,x,2026-01-01T00:00:00+08:00"),
     None, "alert/references"),
]


@pytest.mark.parametrize("case,change,error,warning", CASES, ids=[c[0] for c in CASES])
async def test_errors_and_warnings(api, case, change, error, warning):
    doc = cap_json(languages=("zh-CN",))
    change(doc)
    status, body = await _validate(api, doc, who="chaoyang")
    assert status == 200, body
    assert [e["path"] for e in body["errors"]] == ([error] if error else [])
    assert [w["path"] for w in body["warnings"]] == ([warning] if warning else [])
    assert body["valid"] is (error is None) and ("estimate" in body) is (error is None)


async def test_callers_need_an_issuer_key(api):
    assert (await _validate(api, cap_json(), who=None))[0] == 401
    assert (await _validate(api, cap_json(), who="operator"))[0] == 403


async def test_sms_segments_are_the_rendered_text_times_the_sms_recipients(api):
    for i in range(3):
        await api.register(regions=["110105"], channels=["sms", "inapp"], endpoints={"sms": f"+86139{i:08d}"})
    await api.register(regions=["110105"])
    app = api.app
    engine = app[ctx.ENGINE]
    where = Audience(app[ctx.REDIS], engine.size, await engine.subscribers.shard_count(), ("inapp", "sms"), "签名")
    alert = cap.parse_json(cap_json(codes=["110105"], languages=("zh-CN",)))
    est = await estimate(where, dry_record(alert, []))
    assert est["by_channel"] == {"sms": 3, "inapp": 1}
    per = est["sms_segments_per_message"]["zh-CN"]
    assert per >= 1 and est["sms_segments"] == 3 * per


async def test_the_error_list_is_capped(api):
    doc = cap_json()
    for i in range(500):
        doc[f"bogus{i}"] = 1
    status, body = await _validate(api, doc)
    assert status == 200 and body["valid"] is False
    assert len(body["errors"]) == 50 and body["errors_omitted"] == 450

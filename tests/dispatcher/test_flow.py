"""One alert from issuer to subscribers, through the API, against the real Redis."""
from tests.factories import cap_json


async def test_alert_reaches_subscribers_under_its_code_and_not_others(api):
    inside = await api.register(regions=["110105001001"])
    outside = await api.register(regions=["110106"])
    status, body = await api.publish(cap_json(codes=["110105"]))
    assert status == 202, body
    await api.drain()
    status, alert = await api.call("GET", f"/api/v1/alerts/{body['id']}")
    assert alert["stats"]["targeted"] == 1
    assert alert["stats"]["channels"]["inapp"]["sent"] == 1
    assert alert["lifecycle"] == "done"
    _, inbox_in = await api.call("GET", "/api/v1/inbox", inside["token"])
    _, inbox_out = await api.call("GET", "/api/v1/inbox", outside["token"])
    assert [a["alert_id"] for a in inbox_in["alerts"]] == [body["id"]]
    assert inbox_in["alerts"][0]["title"] == "暴雨橙色预警"
    assert inbox_out["alerts"] == []

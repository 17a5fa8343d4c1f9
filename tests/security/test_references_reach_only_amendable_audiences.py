"""References never widen an audience across issuers or scopes: only an Update or Cancel reaches
earlier recipients, only of alerts its issuer may amend, only inside the issuer's scopes."""
from __future__ import annotations

from tests.factories import cap_json, reference


async def _sent_to(api, alert_id: int) -> set[int]:
    _, page = await api.call("GET", f"/api/v1/alerts/{alert_id}/deliveries?state=sent&limit=1000")
    return {d["subscriber_id"] for d in page["deliveries"]}


async def test_an_alert_with_references_reaches_its_own_area_only(api):
    chaoyang = await api.register(regions=["110105"])
    haidian = await api.register(regions=["110108"])
    other = cap_json(codes=["110108"])
    _, theirs = await api.publish(other, who="issuer")              # another issuer's alert, in 110108
    await api.drain()
    assert await _sent_to(api, theirs["id"]) == {haidian["id"]}
    mine = cap_json(codes=["110105"], references=[reference(other)], sender="chaoyang@gov.cn")
    status, alert = await api.publish(mine, who="chaoyang")
    assert status == 202, alert
    assert alert["references"] == [theirs["id"]]                   # kept as CAP metadata
    await api.drain()
    assert await _sent_to(api, alert["id"]) == {chaoyang["id"]}     # never the other alert's 110108
    _, theirs_now = await api.call("GET", f"/api/v1/alerts/{theirs['id']}")
    assert theirs_now["lifecycle"] == "done"                       # and nothing of it changed


async def test_an_update_of_another_issuers_alert_is_refused(api):
    other = cap_json(codes=["110105"])
    await api.publish(other, who="issuer")
    await api.drain()
    update = cap_json(codes=["110105"], msg_type="Update", references=[reference(other)], sender="c@gov.cn")
    status, err = await api.publish(update, who="chaoyang")
    assert status == 403, err

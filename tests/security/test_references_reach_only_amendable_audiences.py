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


async def test_an_update_reaches_earlier_recipients_only_inside_its_issuers_scopes(api):
    """A district desk of the same organisation may update the city's alert, but its Update reaches the
    city alert's earlier recipients only inside the district: never the ones in another district."""
    from dispatcher.api import context as ctx
    keystore = api.app[ctx.KEYS]
    api.keys["city"] = await keystore.create("city-desk", "issuer", ["11"], org="bj-city")
    api.keys["district"] = await keystore.create("chaoyang-desk", "issuer", ["110105"], org="bj-city")
    chaoyang = await api.register(regions=["110105"])
    haidian = await api.register(regions=["110108"])
    original = cap_json(codes=["110105", "110108"], sender="city@bj.gov.cn")
    _, first = await api.publish(original, who="city")
    await api.drain()
    assert await _sent_to(api, first["id"]) == {chaoyang["id"], haidian["id"]}
    update = cap_json(codes=["110105"], msg_type="Update", references=[reference(original)],
                      sender="city@bj.gov.cn")
    status, updated = await api.publish(update, who="district")
    assert status == 202, updated
    assert updated["references"] == [first["id"]]
    await api.drain()
    assert await _sent_to(api, updated["id"]) == {chaoyang["id"]}   # Haidian's earlier recipient is outside

"""An issuer's alert list is its organisation's, filtered before the limit: other organisations'
busier traffic never pushes its own alerts off the page."""
from __future__ import annotations

from dispatcher.api import context as ctx
from tests.factories import cap_json


async def test_the_limit_applies_to_the_issuers_own_alerts(api):
    quiet = await api.app[ctx.KEYS].create("quiet-district", "issuer", ["110105"], org="quiet-gov")
    _, mine = await api.publish(cap_json(codes=["110105"]), who=quiet)
    for _ in range(4):
        assert (await api.publish(cap_json(codes=["110108"]), who="issuer"))[0] == 202
    status, listing = await api.call("GET", "/api/v1/alerts?limit=2", quiet)
    assert status == 200
    assert [a["id"] for a in listing["alerts"]] == [mine["id"]]
    _, everyone = await api.call("GET", "/api/v1/alerts?limit=10", "operator")
    assert len(everyone["alerts"]) == 5

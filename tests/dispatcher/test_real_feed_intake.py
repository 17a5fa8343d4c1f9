"""Real feeds through the API: a point (radius 0) reaches those within POINT_REACH_KM; CAP 1.1 is stored as 1.2."""
from __future__ import annotations

from datetime import datetime, timedelta

from dispatcher.cap.geometry import POINT_REACH_KM
from tests.factories import CST, cap_json, ts


async def _reached(api, alert_id: int) -> set[int]:
    await api.drain()
    _, page = await api.call("GET", f"/api/v1/alerts/{alert_id}/deliveries?state=sent&limit=1000")
    return {d["subscriber_id"] for d in page["deliveries"]}


async def test_a_point_reaches_subscribers_within_the_documented_radius(api):
    assert POINT_REACH_KM == 0.5
    near = await api.register(regions=["110105"], location={"lat": 39.9200, "lon": 116.4430})   # ~0.3 km
    far = await api.register(regions=["110105"], location={"lat": 39.9200, "lon": 116.4640})    # ~2 km
    status, body = await api.publish(cap_json(codes=(), circles=[(39.92, 116.44, 0)]), who="admin")
    assert status == 202, body
    reached = await _reached(api, body["id"])
    assert near["id"] in reached and far["id"] not in reached


CAP11 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.1">
<cap:identifier>{ident}</cap:identifier><cap:sender>bjmb@cma.gov.cn</cap:sender><cap:sent>{sent}</cap:sent>
<cap:status>Actual</cap:status><cap:msgType>Alert</cap:msgType><cap:scope>Public</cap:scope>
<cap:info><cap:category>Met</cap:category><cap:event>Orage</cap:event><cap:urgency>Expected</cap:urgency>
<cap:severity>Moderate</cap:severity><cap:certainty>Likely</cap:certainty><cap:expires>{expires}</cap:expires>
<cap:headline>Orage prévu à Chaoyang</cap:headline>
<cap:parameter><cap:valueName>note</cap:valueName><cap:value/></cap:parameter>
<cap:area><cap:areaDesc>Chaoyang</cap:areaDesc>
<cap:geocode><cap:valueName>GB/T 2260</cap:valueName><cap:value>110105</cap:value></cap:geocode></cap:area>
</cap:info></cap:alert>"""


async def test_a_cap_11_iso_8859_1_message_is_accepted_and_served_as_1_2(api):
    sub = await api.register(regions=["110105"])
    now = datetime.now(CST)
    doc = CAP11.format(ident=f"t11-{now.timestamp()}", sent=ts(now), expires=ts(now + timedelta(hours=1)))
    status, body = await api.call("POST", "/api/v1/alerts", "issuer", data=doc.encode("iso-8859-1"),
                                  headers={"Content-Type": "application/cap+xml"})
    assert status == 202, body
    assert body["errors"] == []
    assert sub["id"] in await _reached(api, body["id"])
    _, xml = await api.call("GET", f"/api/v1/alerts/{body['id']}.xml", "issuer")
    assert b'xmlns="urn:oasis:names:tc:emergency:cap:1.2"' in xml
    assert "Orage prévu à Chaoyang".encode() in xml

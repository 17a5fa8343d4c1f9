"""The CAP warncast serves validates against the CAP 1.2 XML Schema; the feed is RFC 4287 Atom."""
from __future__ import annotations

from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import orjson
import pytest

from dispatcher import cap
from tests.factories import CST, cap_json, ts

from .cap12_xsd import schema

ATOM = "{http://www.w3.org/2005/Atom}"


def _cap11(now: datetime) -> bytes:
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"><identifier>x11-{now.timestamp()}</identifier>
<sender>bjmb@cma.gov.cn</sender><sent>{ts(now)}</sent><status>Actual</status><msgType>Alert</msgType>
<scope>Public</scope><info><category>Met</category><event>Vent</event><urgency>Expected</urgency>
<severity>Minor</severity><certainty>Likely</certainty><expires>{ts(now + timedelta(hours=2))}</expires>
<parameter><valueName>x</valueName><value/></parameter><resource><resourceDesc>map</resourceDesc>
<mimeType>image/png</mimeType><size>10</size><uri>https://example.gov/map.png</uri></resource>
<area><areaDesc>Chaoyang</areaDesc><circle>39.92,116.44 0</circle>
<geocode><valueName>GB/T 2260</valueName><value>110105</value></geocode><altitude>10</altitude>
<ceiling>20</ceiling></area></info></alert>""".encode("iso-8859-1")


DOCS = [
    ("json, two languages", lambda now: ("application/json", orjson.dumps(cap_json()))),
    ("json polygon", lambda now: ("application/json", orjson.dumps(cap_json(
        codes=(), polygons=[[(39.9, 116.4), (39.9, 116.5), (40.0, 116.5), (39.9, 116.4)]])))),
    ("cap 1.1 with resource", lambda now: ("application/cap+xml", _cap11(now))),
]


@pytest.mark.parametrize("case,make", DOCS, ids=[d[0] for d in DOCS])
async def test_served_cap_validates_against_the_cap_1_2_schema(api, case, make):
    ctype, body = make(datetime.now(CST))
    status, alert = await api.call("POST", "/api/v1/alerts", "admin", data=body, headers={"Content-Type": ctype})
    assert status == 202, alert
    for path, who in ((f"/cap/alerts/{alert['id']}.xml", None), (f"/api/v1/alerts/{alert['id']}.xml", "admin")):
        status, xml = await api.call("GET", path, who)
        assert status == 200
        schema().validate(xml)


def test_the_schema_refuses_what_cap_1_2_refuses():
    good = cap.to_xml(cap.parse_json(cap_json()))
    schema().validate(good)
    for bad in (good.replace(b"<status>Actual</status>", b"<status>Real</status>"),
                good.replace(b"+08:00</sent>", b"Z</sent>"),
                good.replace(b"<msgType>Alert</msgType>", b"")):
        assert not schema().is_valid(bad)


async def test_feed_is_rfc_4287_with_stable_distinct_entry_ids(api):
    first = cap_json(identifier="same-id", codes=["110105"])
    second = cap_json(identifier="same-id", codes=["110108"], sent=datetime.now(CST) + timedelta(seconds=5))
    ids = [(await api.publish(d, who="admin"))[1]["id"] for d in (first, second)]
    status, body = await api.call("GET", "/cap/feed.atom", None)
    assert status == 200
    feed = ET.fromstring(body)
    assert feed.find(f"{ATOM}author/{ATOM}name").text and feed.find(f"{ATOM}updated").text
    entries = feed.findall(f"{ATOM}entry")
    entry_ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(entry_ids)) == 2 == len(entries)
    for entry, alert_id in zip(entries, sorted(ids, reverse=True)):
        assert entry.find(f"{ATOM}title").text and entry.find(f"{ATOM}updated").text
        link = entry.find(f"{ATOM}link[@rel='alternate']")
        assert link.get("type") == "application/cap+xml" and link.get("href").endswith(f"/cap/alerts/{alert_id}.xml")
        assert entry.find("{http://www.georss.org/georss}featureName").text
    status, again = await api.call("GET", "/cap/feed.atom", None)
    assert [e.find(f"{ATOM}id").text for e in ET.fromstring(again).findall(f"{ATOM}entry")] == entry_ids


async def test_feed_pages_with_next_links(api):
    ids = [(await api.publish(cap_json(), who="admin"))[1]["id"] for _ in range(5)]
    seen, path = [], "/cap/feed.atom?limit=2"
    while path:
        status, body = await api.call("GET", path, None)
        assert status == 200
        feed = ET.fromstring(body)
        seen += [e.find(f"{ATOM}id").text.rsplit("/", 1)[1] for e in feed.findall(f"{ATOM}entry")]
        nxt = feed.find(f"{ATOM}link[@rel='next']")
        path = nxt.get("href")[nxt.get("href").index("/cap/"):] if nxt is not None else None
    assert seen == [f"{i}.xml" for i in sorted(ids, reverse=True)]


@pytest.mark.parametrize("query", ["?limit=0", "?limit=x", "?before=-1", "?before=" + "9" * 30])
async def test_bad_feed_queries_are_400(api, query):
    status, body = await api.call("GET", "/cap/feed.atom" + query, None)
    assert status == 400, body

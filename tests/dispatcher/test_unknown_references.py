"""An Update or Cancel naming alerts this installation never saw is accepted: its own area, and a warning."""
from __future__ import annotations

import pytest

from tests.factories import cap_json, reference

UNKNOWN = "other@feed.example,never-seen-1,2026-01-01T00:00:00+08:00"


@pytest.mark.parametrize("msg_type", ["Update", "Cancel"])
async def test_unknown_references_are_warnings_and_the_audience_is_the_own_area(api, msg_type):
    inside = await api.register(regions=["110105"])
    outside = await api.register(regions=["110108"])
    known = await api.publish(cap_json(codes=["110106"]))
    assert known[0] == 202
    status, body = await api.publish(cap_json(codes=["110105"], msg_type=msg_type, references=[UNKNOWN]))
    assert status == 202, body
    assert body["errors"] == []
    assert [w["path"] for w in body["warnings"]] == ["alert/references"]
    assert UNKNOWN in body["warnings"][0]["message"]
    await api.drain()
    _, page = await api.call("GET", f"/api/v1/alerts/{body['id']}/deliveries?state=sent")
    reached = {d["subscriber_id"] for d in page["deliveries"]}
    assert inside["id"] in reached and outside["id"] not in reached


async def test_known_references_give_no_warning(api):
    first = cap_json(codes=["110105"])
    assert (await api.publish(first))[0] == 202
    status, body = await api.publish(cap_json(codes=["110105"], msg_type="Update", references=[reference(first)]))
    assert status == 202 and body["warnings"] == [], body

"""An issuer can cancel its own polygon-only or circle-only alert (the Cancel keeps the shapes,
so it stays inside the issuer's bounding boxes)."""
from __future__ import annotations

import pytest

from dispatcher.api import context as ctx
from tests.factories import cap_json

SQUARE = [(39.9, 116.4), (39.9, 116.5), (40.0, 116.5), (40.0, 116.4), (39.9, 116.4)]


@pytest.mark.parametrize("shape", [dict(polygons=[SQUARE]), dict(circles=[(39.95, 116.45, 3)])])
async def test_an_issuer_cancels_its_shape_only_alert(api, shape):
    key = await api.app[ctx.KEYS].create("chaoyang-geo", "issuer", ["bbox:39.85,116.35,40.05,116.6"])
    status, alert = await api.publish(cap_json(codes=(), **shape), who=key)
    assert status == 202, alert
    status, body = await api.call("POST", f"/api/v1/alerts/{alert['id']}/cancel", key)
    assert status == 202, body
    assert body["msgType"] == "Cancel"
    _, xml = await api.call("GET", f"/api/v1/alerts/{body['id']}.xml", key)
    assert (b"<polygon>" in xml) == ("polygons" in shape) and (b"<circle>" in xml) == ("circles" in shape)

"""Stopping a warning is never held for approval: a Cancel by the alert's issuer or an operator
takes effect at once, even when approval is required for its severity."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.dispatcher.conftest import open_api
from tests.factories import cap_json, reference


@pytest.fixture
async def strict_api(store, redis_sync, settings):
    async with open_api(store, replace(settings, approval_severities=("Extreme", "Severe"))) as api:
        yield api


async def _approved_red(api):
    await api.register(regions=["110105"])
    doc = cap_json(codes=["110105"], severity="Extreme", urgency="Immediate")
    status, held = await api.publish(doc)
    assert status == 202 and held["lifecycle"] == "held"
    status, approved = await api.call("POST", f"/api/v1/alerts/{held['id']}/approve", "operator")
    assert status == 202, approved
    return doc, held


@pytest.mark.parametrize("who", ["issuer", "operator"])
async def test_the_cancel_endpoint_takes_effect_at_once(strict_api, who):
    _, red = await _approved_red(strict_api)
    status, cancel = await strict_api.call("POST", f"/api/v1/alerts/{red['id']}/cancel", who, json={})
    assert status == 202, cancel
    assert cancel["lifecycle"] != "held"
    _, now = await strict_api.call("GET", f"/api/v1/alerts/{red['id']}")
    assert now["lifecycle"] == "cancelled"                        # in the answer's wake, not after approval


async def test_a_published_cap_cancel_is_not_held(strict_api):
    doc, red = await _approved_red(strict_api)
    cancel = cap_json(codes=["110105"], severity="Extreme", urgency="Immediate", msg_type="Cancel",
                      references=[reference(doc)])
    status, answer = await strict_api.publish(cancel)
    assert status == 202 and answer["lifecycle"] == "sending", answer
    _, now = await strict_api.call("GET", f"/api/v1/alerts/{red['id']}")
    assert now["lifecycle"] == "cancelled"


async def test_a_widening_update_still_waits(strict_api):
    doc, red = await _approved_red(strict_api)
    update = cap_json(codes=["110105", "110108"], severity="Extreme", urgency="Immediate", msg_type="Update",
                      references=[reference(doc)])
    status, answer = await strict_api.publish(update)
    assert status == 202 and answer["lifecycle"] == "held"

"""A Test or Exercise message reaches only subscribers of its cohort, earlier recipients included,
and never changes the lifecycle of an Actual alert."""
from __future__ import annotations

import pytest

from tests.factories import cap_json, reference


async def _sent_to(api, alert_id: int) -> set[int]:
    _, page = await api.call("GET", f"/api/v1/alerts/{alert_id}/deliveries?state=sent&limit=1000")
    return {d["subscriber_id"] for d in page["deliveries"]}


@pytest.mark.parametrize("status,cohort", [("Test", "test"), ("Exercise", "exercise")])
async def test_a_test_update_of_a_real_alert_reaches_only_its_cohort(api, status, cohort):
    public = await api.register(regions=["110105"])
    tester = await api.register(regions=["110105"], cohorts=[cohort])
    real = cap_json(codes=["110105"])
    _, actual = await api.publish(real)
    await api.drain()
    assert await _sent_to(api, actual["id"]) == {public["id"], tester["id"]}
    drill = cap_json(codes=["110106"], status=status, msg_type="Update", references=[reference(real)])
    code, upd = await api.publish(drill)
    assert code == 202, upd
    await api.drain()
    assert await _sent_to(api, upd["id"]) == {tester["id"]}        # never the public recipients
    _, still = await api.call("GET", f"/api/v1/alerts/{actual['id']}")
    assert still["lifecycle"] == "done"                            # not superseded by a drill


async def test_a_test_cancel_does_not_stop_a_real_alert(api):
    await api.register(regions=["110105"])
    real = cap_json(codes=["110105"])
    _, actual = await api.publish(real)
    await api.drain()
    drill = cap_json(codes=["110105"], status="Test", msg_type="Cancel", references=[reference(real)])
    code, cancel = await api.publish(drill)
    assert code == 202, cancel
    await api.drain()
    _, still = await api.call("GET", f"/api/v1/alerts/{actual['id']}")
    assert still["lifecycle"] == "done"

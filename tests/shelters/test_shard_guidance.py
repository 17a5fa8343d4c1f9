"""The render step's hook: one shard's offsets → each located subscriber's guidance line."""
from datetime import datetime, timezone

import numpy as np

from dispatcher import cap
from dispatcher.shelter_guidance import shard_guidance
from dispatcher.shelters import Shelter, ShelterStore
from subscribers import geo


def _alert(responses) -> cap.Alert:
    info = cap.Info(language="en-US", categories=["Geo"], event="Earthquake", response_types=list(responses))
    return cap.Alert(identifier="t", sender="s", sent=datetime.now(timezone.utc), status="Actual",
                     msg_type="Alert", scope="Public", infos=[info])


async def test_located_subscribers_get_their_nearest_fitting_open_shelter(redis_aio):
    store = ShelterStore(redis_aio)
    await store.save_many([
        Shelter(0, "Flood hall", "1 Road", "110105", 39.905, 116.4, 100, ["flood"]),          # unfit kind
        Shelter(0, "Closed park", "2 Road", "110105", 39.901, 116.4, 100, ["earthquake"], "closed"),
        Shelter(0, "Quake park", "3 Road", "110105", 39.91, 116.4, 100, ["earthquake"]),
    ])
    await geo.bulk_add(redis_aio, 2, np.array([5, 9]), np.array([39.9, 39.92]), np.array([116.4, 116.4]))
    lines = await shard_guidance(redis_aio, store, 2, np.array([5, 7, 9, 70_000]), _alert(["Shelter"]), "en")
    assert lines == ["nearest shelter: Quake park (3 Road), 1.1 km north", None,
                     "nearest shelter: Quake park (3 Road), 1.1 km south", None]
    assert await shard_guidance(redis_aio, store, 2, np.array([5]), _alert(["Monitor"]), "en") == [None]

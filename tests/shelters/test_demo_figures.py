"""The demo's shelter figures: reached subscribers with a location get a nearest open shelter; the median is theirs."""
import numpy as np

from dispatcher import cap, keys
from dispatcher.delivery import State
from dispatcher.demo_shelters import shelter_figures, shelter_warning
from dispatcher.shelters import Shelter, ShelterStore
from subscribers import geo


async def test_only_reached_and_located_subscribers_count(redis_aio):
    store = ShelterStore(redis_aio)
    await store.save_many([Shelter(0, "A", "a", "110105", 39.9, 116.4, 10, ["flood"])])
    alert = cap.parse_json(shelter_warning())
    assert [i.response_types for i in alert.infos] == [["Shelter"], ["Shelter"]]
    # offsets 0, 1 located (≈1.11 km and ≈3.34 km north of the shelter), 2 reached without a location, 3 not reached
    await geo.bulk_add(redis_aio, 0, np.array([0, 1, 3]), np.array([39.91, 39.93, 39.9]), np.array([116.4] * 3))
    st = bytes([State.SENT, State.DELIVERED, State.CONFIRMED, State.FAILED])
    await redis_aio.set(keys.delivery_state(0, 7), st)
    figures = await shelter_figures(redis_aio, store, 7, alert, 1, 8)
    assert (figures["reached"], figures["with_shelter"]) == (3, 2)
    assert abs(figures["median_km"] - (1.112 + 3.336) / 2) < 0.01

"""The grid index finds the same nearest open shelter as measuring every shelter (dispatcher.nearest)."""
import numpy as np
import pytest

from dispatcher.nearest import nearest
from dispatcher.shelter_index import ShelterIndex
from dispatcher.shelters import Shelter, ShelterArrays


def _random_registry(rng, n: int) -> ShelterArrays:
    kinds = ("flood", "earthquake", "fire", "general")
    shelters = [Shelter(i + 1, f"s{i}", "", "110105", float(39.4 + rng.random() * 1.6),
                        float(115.5 + rng.random() * 2.0), 100, [kinds[i % 4]],
                        "closed" if i % 7 == 0 else "open") for i in range(n)]
    return ShelterArrays.build(shelters)


@pytest.mark.parametrize("seed,count", [(1, 72), (2, 5), (3, 300), (4, 6)])
def test_grid_index_agrees_with_brute_force(seed, count):
    rng = np.random.default_rng(seed)
    arrays = _random_registry(rng, count)
    kinds = ("flood",)
    fitting = arrays.fitting(kinds)
    assert len(fitting)
    index = ShelterIndex.build(arrays, fitting)
    # inside the grid, near its edge, and far outside it (the fallback)
    lat = np.concatenate([39.3 + rng.random(5000) * 1.9, [10.0, 60.0]])
    lon = np.concatenate([115.3 + rng.random(5000) * 2.4, [100.0, 130.0]])
    best = index.nearest(lat, lon)
    km, bearing = index.measure(lat, lon, best)
    ref = nearest(lat, lon, arrays, 1, kinds)
    assert (best >= 0).all()
    # the same shelter, or one exactly as far (a tie within the plane's approximation)
    assert np.allclose(km, ref.km[:, 0], rtol=1e-4, atol=1e-6)
    assert (best == ref.index[:, 0]).mean() > 0.999
    assert set(best.tolist()) <= set(fitting.tolist())            # closed and unfit shelters never chosen
    assert np.allclose(bearing[best == ref.index[:, 0]], ref.bearing[best == ref.index[:, 0], 0])

"""Nearest-shelter selection (numpy, per block) against a brute-force reference in plain Python."""
import math
import random

import numpy as np
import pytest

from dispatcher.nearest import BLOCK, bearing_deg, direction, guidance, nearest
from dispatcher.shelters import KINDS, Shelter, ShelterArrays

R = 6371.0088


def _km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * R * math.asin(math.sqrt(a))


def _random_shelters(rng, n):
    return [Shelter(id=i + 1, name=f"s{i}", address="a", district="110105", lat=rng.uniform(39.6, 40.4),
                    lon=rng.uniform(115.9, 117.1), capacity=rng.randint(0, 5000),
                    kinds=rng.sample(KINDS, rng.randint(1, 3)), status=rng.choice(["open", "open", "closed"]))
            for i in range(n)]


def _brute(lat, lon, shelters, n, kinds):
    fit = [s for s in shelters if s.is_open and (not kinds or set(s.kinds) & (set(kinds) | {"general"}))]
    return sorted(fit, key=lambda s: (_km(lat, lon, s.lat, s.lon), s.id))[:n]


@pytest.mark.parametrize("seed,kinds,n_shelters", [(1, (), 72), (2, ("flood",), 72), (3, ("earthquake", "fire"), 200),
                                                    (4, ("chemical",), 15), (5, (), 2)])
def test_matches_brute_force(seed, kinds, n_shelters):
    rng = random.Random(seed)
    shelters = _random_shelters(rng, n_shelters)
    arrays = ShelterArrays.build(shelters)
    m = BLOCK + 300                                          # more than one block
    lat = np.array([rng.uniform(39.5, 40.5) for _ in range(m)])
    lon = np.array([rng.uniform(115.8, 117.2) for _ in range(m)])
    found = nearest(lat, lon, arrays, 3, kinds)
    for i in list(range(0, m, 97)) + [m - 1]:
        want = _brute(lat[i], lon[i], shelters, 3, kinds)
        got = [arrays.shelters[j] for j in found.index[i] if j >= 0]
        assert [s.id for s in got] == [s.id for s in want], i
        assert found.km[i, :len(want)] == pytest.approx([_km(lat[i], lon[i], s.lat, s.lon) for s in want], rel=1e-9)
        assert all(s.is_open for s in got)
        assert np.all(found.index[i, len(want):] == -1) and np.all(np.isinf(found.km[i, len(want):]))


def test_closed_and_unfit_shelters_are_never_chosen():
    near_closed = Shelter(1, "closed", "a", "110105", 39.9, 116.4, 100, ["flood"], "closed")
    near_fire = Shelter(2, "fire only", "a", "110105", 39.9001, 116.4, 100, ["fire"])
    far_flood = Shelter(3, "flood", "a", "110105", 40.0, 116.4, 100, ["flood"])
    far_general = Shelter(4, "general", "a", "110105", 40.1, 116.4, 100, ["general"])
    arrays = ShelterArrays.build([near_closed, near_fire, far_flood, far_general])
    found = nearest(np.array([39.9]), np.array([116.4]), arrays, 3, ("flood",))
    assert [arrays.shelters[j].name for j in found.index[0] if j >= 0] == ["flood", "general"]
    any_kind = nearest(np.array([39.9]), np.array([116.4]), arrays, 1, ())
    assert arrays.shelters[any_kind.index[0, 0]].name == "fire only"


def test_no_open_shelter_gives_no_guidance():
    arrays = ShelterArrays.build([Shelter(1, "x", "a", "110105", 39.9, 116.4, 1, ["flood"], "closed")])
    found = nearest(np.array([39.9, 40.0]), np.array([116.4, 116.5]), arrays, 2, ())
    assert (found.index == -1).all()
    assert guidance(found, arrays, "en") == [None, None]


def test_bearing_and_direction_names():
    assert direction(float(bearing_deg(39.9, 116.4, 40.0, 116.4)), "en") == "north"
    assert direction(float(bearing_deg(39.9, 116.4, 40.0, 116.53)), "en") == "north-east"
    assert direction(float(bearing_deg(39.9, 116.4, 39.9, 116.3)), "zh-CN") == "西"
    assert direction(float(bearing_deg(39.9, 116.4, 39.8, 116.4)), "en") == "south"


def test_guidance_reads_like_a_person_would_say_it():
    s = Shelter(1, "朝阳公园避难场所", "朝阳公园南路1号", "110105", 39.9108, 116.4108, 5000, ["flood"],
                name_en="Chaoyang Park shelter", address_en="1 Chaoyang Park South Rd")
    arrays = ShelterArrays.build([s])
    found = nearest(np.array([39.9, 39.9108]), np.array([116.4, 116.41]), arrays, 1, ())
    en = guidance(found, arrays, "en")
    assert en[0] == "nearest shelter: Chaoyang Park shelter (1 Chaoyang Park South Rd), 1.5 km north-east"
    assert en[1] == "nearest shelter: Chaoyang Park shelter (1 Chaoyang Park South Rd), 50 m east"
    zh = guidance(found, arrays, "zh-CN", with_address=False)
    assert zh[0] == "最近避难场所：朝阳公园避难场所，向东北1.5公里"

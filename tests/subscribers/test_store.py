"""SubscriberStore against the real Redis: what is stored, what a token opens, what delete leaves behind."""
from __future__ import annotations

import struct

import orjson
import pytest

from dispatcher import keys
from subscribers import columns as C
from subscribers import geo
from subscribers.errors import NotFound, ValidationError
from subscribers.model import validate
from subscribers.store import SubscriberStore

HMS_TOKEN = "IQAAAACy0kYhAAB9nL3vL4eQ2xZmW8sYk1Rt0JcPqA9hWv3bN7uE6fDgC2xMpQ"
BEIJING = {"lat": 39.9219, "lon": 116.4436}
SHANGHAI = {"lat": 31.2304, "lon": 121.4737}
FULL = {
    "regions": ["110105", "110108001"], "language": "en", "location": BEIJING,
    "endpoints": {"sms": "13800138000", "hms": HMS_TOKEN}, "channels": ["hms", "sms"],
    "preferences": {"categories": ["Met", "Geo"], "min_severity": "Moderate",
                    "quiet_hours": {"start": "22:00", "end": "07:00", "utc_offset": "+08:00"}},
    "cohorts": ["test"],
}


@pytest.fixture
def subs(redis_aio) -> SubscriberStore:
    return SubscriberStore(redis_aio)


def cell_bytes(redis_sync, shard: int, off: int, col: C.Column) -> bytes:
    return redis_sync.getrange(keys.column(shard, col.name), off * col.width, (off + 1) * col.width - 1)


def cell_value(redis_sync, shard: int, off: int, col: C.Column):
    raw = redis_sync.get(keys.column(shard, col.name))
    return C.decode(col, raw, off + 1)[off]


def geo_members(redis_sync, shard: int, location: dict) -> set[int]:
    members: set[int] = set()
    for cell in geo.cells_for(location["lat"], location["lon"]):
        members |= {int(m) for m in redis_sync.smembers(keys.geo_cell(shard, cell))}
    return members


def stored_coords(redis_sync, shard: int, off: int) -> tuple[int, int]:
    raw = redis_sync.getrange(keys.geo_coords(shard), off * geo.COORD_BYTES, (off + 1) * geo.COORD_BYTES - 1)
    return struct.unpack("<ii", raw)


# -- create, authenticate, get ------------------------------------------------
async def test_create_returns_a_token_that_authenticates(subs):
    first, token1 = await subs.create({"regions": ["110105"]})
    second, token2 = await subs.create({"regions": ["110108"]})
    assert (first.id, second.id) == (0, 1)
    assert token1.startswith("0.") and token2.startswith("1.")
    assert await subs.authenticate(token1) == 0
    assert await subs.authenticate(token2) == 1


@pytest.mark.parametrize("forge", [
    lambda sid, secret: f"{sid}.{secret}x",            # wrong secret
    lambda sid, secret: f"{sid}.{secret[:-1]}",
    lambda sid, secret: f"{sid + 1}.{secret}",         # someone else's id
    lambda sid, secret: f"{sid + 40_000}.{secret}",    # a shard that does not exist
    lambda sid, secret: f"{sid}.",
    lambda sid, secret: f".{secret}",
    lambda sid, secret: secret,
    lambda sid, secret: "",
    lambda sid, secret: f"-{sid}.{secret}",
    lambda sid, secret: f"².{secret}",                 # a digit to str.isdigit, not to int()
    lambda sid, secret: f"١.{secret}",                 # Arabic-Indic one
    lambda sid, secret: f"{sid}.{secret}".upper(),
])
async def test_wrong_or_garbled_token_does_not_authenticate(subs, forge):
    await subs.create({"regions": ["110105"]})
    sub, token = await subs.create({"regions": ["110105"]})
    await subs.create({"regions": ["110105"]})
    secret = token.partition(".")[2]
    assert await subs.authenticate(forge(sub.id, secret)) is None
    assert await subs.authenticate(token) == sub.id


async def test_imported_subscriber_has_no_token(subs, redis_sync):
    [sid] = await subs.write_many([validate({"regions": ["110105"]})])
    assert cell_bytes(redis_sync, 0, sid, C.TOKEN).strip(b"\0") == b""     # never written: reads as zero
    assert await subs.authenticate(f"{sid}.") is None
    assert await subs.authenticate(f"{sid}.anything") is None


async def test_get_returns_what_was_stored_with_endpoints_masked(subs):
    created, _ = await subs.create(FULL)
    got = await subs.get(created.id)
    assert got.endpoints == {"sms": "+8613800138000", "hms": HMS_TOKEN}
    public = got.public()
    assert public == {
        "id": created.id, "regions": ["110105", "110108001"],
        "region_names": {"110105": "Chaoyang", "110108001": "Haidian (110108001)"},
        "language": "en", "channels": ["hms", "sms", "inapp"],
        "endpoints": {"sms": "+861****00", "hms": "IQAAAA…xMpQ"},
        "location": BEIJING,
        "preferences": {"categories": ["Geo", "Met"], "min_severity": "Moderate",
                        "quiet_hours": {"start": "22:00", "end": "07:00", "utc_offset": "+08:00"}},
        "cohorts": ["test"], "created": int(created.created),
    }
    assert "13800138000" not in orjson.dumps(public).decode()
    assert HMS_TOKEN not in orjson.dumps(public).decode()


async def test_create_writes_the_column_cells(subs, redis_sync):
    sub, _ = await subs.create(FULL)
    for col, value in sub.cells().items():
        assert cell_value(redis_sync, 0, sub.id, col) == value, col.name
    assert cell_value(redis_sync, 0, sub.id, C.REGIONS[1]) == 110108001000
    assert C.unpack_chain(int(cell_value(redis_sync, 0, sub.id, C.CHAIN))) == ["hms", "sms", "inapp"]
    assert sub.id in geo_members(redis_sync, 0, BEIJING)


async def test_get_of_unknown_id_is_not_found(subs):
    with pytest.raises(NotFound):
        await subs.get(5)


async def test_invalid_create_stores_nothing(subs, redis_sync):
    with pytest.raises(ValidationError) as info:
        await subs.create({"regions": ["110105"], "endpoints": {"sms": "12345"}})
    assert [f for f, _ in info.value.errors] == ["endpoints.sms"]
    assert await subs.count() == 0
    assert redis_sync.keys("wc:*") == []


# -- update -------------------------------------------------------------------
async def test_update_changes_only_the_given_fields(subs, redis_sync):
    sub, token = await subs.create(FULL)
    before = (await subs.get(sub.id)).public()
    await subs.update(sub.id, {"preferences": {"min_severity": "Extreme"}, "language": "zh-CN"})
    after = (await subs.get(sub.id)).public()
    assert after["preferences"]["min_severity"] == "Extreme" and after["language"] == "zh-CN"
    unchanged = ("preferences", "language", "region_names")        # names follow the language
    assert {k: v for k, v in after.items() if k not in unchanged} == \
        {k: v for k, v in before.items() if k not in unchanged}
    assert after["region_names"]["110105"] == "朝阳区" and before["region_names"]["110105"] == "Chaoyang"
    assert after["preferences"]["categories"] == before["preferences"]["categories"]
    assert cell_value(redis_sync, 0, sub.id, C.MIN_SEVERITY) == 4
    assert cell_value(redis_sync, 0, sub.id, C.LANGUAGE) == C.LANGUAGES.index("zh-CN")
    assert await subs.authenticate(token) == sub.id


async def test_update_removes_an_endpoint_given_as_null(subs, redis_sync):
    sub, _ = await subs.create(FULL)
    updated = await subs.update(sub.id, {"endpoints": {"sms": None}, "channels": ["hms"]})
    assert updated.endpoints == {"hms": HMS_TOKEN}
    got = await subs.get(sub.id)
    assert got.endpoints == {"hms": HMS_TOKEN} and got.channels == ["hms", "inapp"]
    assert redis_sync.hget(keys.endpoints(0, "sms"), sub.id) is None
    assert C.unpack_chain(int(cell_value(redis_sync, 0, sub.id, C.CHAIN))) == ["hms", "inapp"]


async def test_refused_update_changes_nothing(subs):
    sub, _ = await subs.create(FULL)
    before = (await subs.get(sub.id)).public()
    with pytest.raises(ValidationError) as info:
        await subs.update(sub.id, {"regions": ["999"], "language": "fr"})
    assert [f for f, _ in info.value.errors] == ["regions[0]"]
    assert (await subs.get(sub.id)).public() == before


async def test_update_of_regions_clears_the_slots_no_longer_used(subs, redis_sync):
    sub, _ = await subs.create({"regions": ["11", "110101", "110102"]})
    await subs.update(sub.id, {"regions": ["110108"]})
    assert [cell_value(redis_sync, 0, sub.id, col) for col in C.REGIONS] == [110108000000, 0, 0, 0]


async def test_moving_a_subscriber_moves_the_geo_index(subs, redis_sync):
    sub, _ = await subs.create({"regions": ["110105"], "location": BEIJING})
    await subs.set_location(sub.id, SHANGHAI["lat"], SHANGHAI["lon"])
    assert sub.id not in geo_members(redis_sync, 0, BEIJING)
    assert sub.id in geo_members(redis_sync, 0, SHANGHAI)
    assert stored_coords(redis_sync, 0, sub.id) == geo.quantize(SHANGHAI["lat"], SHANGHAI["lon"])
    await subs.update(sub.id, {"location": None})
    assert sub.id not in geo_members(redis_sync, 0, SHANGHAI)
    assert not cell_value(redis_sync, 0, sub.id, C.FLAGS) & C.LOCATED


async def test_update_of_unknown_id_is_not_found(subs):
    with pytest.raises(NotFound):
        await subs.update(3, {"language": "en"})


# -- delete ---------------------------------------------------------------------
async def test_delete_erases_record_cells_endpoints_and_geo(subs, redis_sync):
    before, _ = await subs.create(FULL)
    sub, token = await subs.create(FULL)
    after, after_token = await subs.create(FULL)
    assert await subs.count() == 3

    await subs.delete(sub.id)

    with pytest.raises(NotFound):
        await subs.get(sub.id)
    assert redis_sync.hget(keys.records(0), sub.id) is None
    for col in C.ALL:
        assert cell_bytes(redis_sync, 0, sub.id, col) == b"\0" * col.width, col.name
        for neighbour in (before, after):
            assert cell_bytes(redis_sync, 0, neighbour.id, col) != b"\0" * col.width or col in C.REGIONS[2:]
    for ch in C.CHANNEL_IDS:
        assert redis_sync.hget(keys.endpoints(0, ch), sub.id) is None, ch
    assert redis_sync.hget(keys.endpoints(0, "sms"), after.id) == b"+8613800138000"
    members = geo_members(redis_sync, 0, BEIJING)
    assert sub.id not in members and {before.id, after.id} <= members
    assert stored_coords(redis_sync, 0, sub.id) == (geo.NO_COORD, geo.NO_COORD)
    assert stored_coords(redis_sync, 0, after.id) == geo.quantize(BEIJING["lat"], BEIJING["lon"])

    assert await subs.authenticate(token) is None
    assert await subs.authenticate(after_token) == after.id
    assert await subs.count() == 2
    with pytest.raises(NotFound):
        await subs.delete(sub.id)


async def test_delete_removes_an_endpoint_the_record_does_not_list(subs, redis_sync):
    """An endpoint hash entry the record lost track of (an older write) must not outlive the subscriber."""
    sub, _ = await subs.create({"regions": ["110105"]})
    redis_sync.hset(keys.endpoints(0, "smpp"), sub.id, "+8613800138000")
    await subs.delete(sub.id)
    assert redis_sync.hget(keys.endpoints(0, "smpp"), sub.id) is None


# -- remove_endpoint ----------------------------------------------------------
async def test_remove_endpoint_prunes_the_channel_from_the_chain(subs, redis_sync):
    sub, _ = await subs.create(FULL)
    await subs.remove_endpoint(sub.id, "hms")
    got = await subs.get(sub.id)
    assert got.endpoints == {"sms": "+8613800138000"}
    assert got.channels == ["sms", "inapp"]
    assert C.unpack_chain(int(cell_value(redis_sync, 0, sub.id, C.CHAIN))) == ["sms", "inapp"]
    assert redis_sync.hget(keys.endpoints(0, "hms"), sub.id) is None


@pytest.mark.parametrize("sid, channel", [(0, "fcm"), (99, "hms")])
async def test_remove_endpoint_of_missing_endpoint_or_subscriber_is_a_no_op(subs, sid, channel):
    sub, _ = await subs.create(FULL)
    before = (await subs.get(sub.id)).public()
    await subs.remove_endpoint(sid, channel)
    assert (await subs.get(sub.id)).public() == before


# -- bulk ------------------------------------------------------------------------
def bulk_subscriber(i: int):
    data = {"regions": [f"110105{i:06d}"], "language": "en" if i % 2 else "zh-CN"}
    if i % 3 == 0:
        data["endpoints"] = {"sms": f"+861380{i:07d}"}
    if i % 5 == 0:
        data["location"] = {"lat": 39.0 + i / 10_000, "lon": 116.0 + i / 10_000}
    if i % 7 == 0:
        data["preferences"] = {"min_severity": "Severe"}
    return validate(data)


async def test_write_many_across_shard_boundaries(redis_aio, redis_sync):
    subs = SubscriberStore(redis_aio, shard_size=1000)
    await subs.create({"regions": ["110105"]})             # id 0: the bulk write starts mid-shard
    n = 2_500
    ids = await subs.write_many([bulk_subscriber(i) for i in range(n)], chunk=300)
    assert ids == list(range(1, n + 1))
    assert await subs.count() == n + 1
    assert await subs.shard_count() == 3
    assert [redis_sync.hlen(keys.records(s)) for s in range(3)] == [1000, 1000, 501]

    for shard in range(3):
        regions = C.decode(C.REGIONS[0], redis_sync.get(keys.column(shard, C.REGIONS[0].name)), 1000)
        flags = C.decode(C.FLAGS, redis_sync.get(keys.column(shard, C.FLAGS.name)), 1000)
        minsev = C.decode(C.MIN_SEVERITY, redis_sync.get(keys.column(shard, C.MIN_SEVERITY.name)), 1000)
        lang = C.decode(C.LANGUAGE, redis_sync.get(keys.column(shard, C.LANGUAGE.name)), 1000)
        for off in range(1000):
            sid = shard * 1000 + off
            if sid == 0 or sid > n:
                continue
            i = sid - 1
            assert regions[off] == C.pad_code(f"110105{i:06d}"), sid
            assert flags[off] & C.EXISTS and bool(flags[off] & C.LOCATED) == (i % 5 == 0), sid
            assert minsev[off] == (3 if i % 7 == 0 else 0), sid
            assert lang[off] == (1 if i % 2 else 0), sid
        if shard == 2:
            assert not flags[501:].any()

    for sid in (1, 999, 1000, 1001, 1999, 2000, 2500):
        i = sid - 1
        got = await subs.get(sid)
        assert got.regions == [f"110105{i:06d}"]
        assert got.id == sid
        shard, off = divmod(sid, 1000)
        phone = redis_sync.hget(keys.endpoints(shard, "sms"), off)
        assert phone == (f"+861380{i:07d}".encode() if i % 3 == 0 else None), sid
        if i % 5 == 0:
            assert off in geo_members(redis_sync, shard, got.public()["location"])
            assert stored_coords(redis_sync, shard, off) == geo.quantize(*got.location)
    assert redis_sync.hlen(keys.endpoints(1, "sms")) == len([i for i in range(999, 1999) if i % 3 == 0])


async def test_bulk_written_subscriber_deletes_cleanly(redis_aio, redis_sync):
    subs = SubscriberStore(redis_aio, shard_size=1000)
    await subs.write_many([bulk_subscriber(i) for i in range(1_200)])
    sid = 1_005                                           # i = 1005: located, no sms; shard 1, offset 5
    located = (await subs.get(sid)).public()["location"]
    await subs.delete(sid)
    assert 5 not in geo_members(redis_sync, 1, located)
    assert stored_coords(redis_sync, 1, 5) == (geo.NO_COORD, geo.NO_COORD)
    for col in C.ALL:
        assert cell_bytes(redis_sync, 1, 5, col) == b"\0" * col.width
    assert await subs.count() == 1_199


async def test_write_many_of_nothing(subs):
    assert await subs.write_many([]) == []
    assert await subs.count() == 0


async def test_count_is_zero_on_an_empty_store(subs):
    assert await subs.count() == 0
    assert await subs.shard_count() == 0


async def test_remove_endpoints_prunes_a_whole_batch_at_once(subs, redis_sync):
    created = [(await subs.create(FULL))[0] for _ in range(5)]
    plain, _ = await subs.create({"regions": ["110105"]})               # no hms endpoint: untouched
    pruned = await subs.remove_endpoints(0, [c.id for c in created[:3]] + [plain.id], "hms")
    assert pruned == 3
    for c in created[:3]:
        got = await subs.get(c.id)
        assert "hms" not in got.endpoints and got.channels == ["sms", "inapp"]
        assert C.unpack_chain(int(cell_value(redis_sync, 0, c.id, C.CHAIN))) == ["sms", "inapp"]
    for c in created[3:]:
        assert (await subs.get(c.id)).channels == ["hms", "sms", "inapp"]
    assert (await subs.get(plain.id)).channels == ["inapp"]

"""Imports can be repeated: external ids upsert, an endpoint belongs to one subscriber, unknown regions are refused."""
from __future__ import annotations

import orjson
import pytest

from dispatcher import keys
from subscribers.importer import import_bytes
from subscribers.store import SubscriberStore

TOKEN = "IQAAAACy0kYhAAB9nL3vL4eQ2xZmW8sYk1Rt0JcPqA9hWv3bN7uE6fDgC2x"


def ndjson(*rows) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def person(ext: str | None, phone: str, region: str = "110105", **more) -> dict:
    row = {"regions": [region], "endpoints": {"sms": phone}, **more}
    if ext:
        row["external_id"] = ext
    return row


@pytest.fixture
def subs(redis_aio) -> SubscriberStore:
    return SubscriberStore(redis_aio)


def counts(report) -> tuple[int, int, int]:
    return report.created, report.updated, report.skipped


async def sms_numbers(subs: SubscriberStore) -> list[str]:
    got = await subs.get_many(list(range(int(await subs.redis.get(keys.SUBSCRIBER_SEQ) or 0))))
    return sorted(s.endpoints["sms"] for s in got.values() if "sms" in s.endpoints)


async def test_the_same_file_twice_creates_once(subs):
    data = ndjson(*(person(f"p{i}", f"+86138001380{i:02d}") for i in range(5)))
    first = await import_bytes(subs, data, "ndjson")
    assert counts(first) == (5, 0, 0) and first.errors == []
    again = await import_bytes(subs, data, "ndjson")
    assert counts(again) == (0, 0, 5)
    assert [why for _, why in again.skips] == [f"unchanged (subscriber {i})" for i in range(5)]
    assert await subs.count() == 5
    assert len(await sms_numbers(subs)) == 5                # nobody gets every SMS twice


async def test_external_id_updates_in_place_keeping_id_and_token(subs):
    sub, token = await subs.create({"regions": ["110105"]})      # someone self-registered first: id 0
    await import_bytes(subs, ndjson(person("p1", "+8613800138001"), person("p2", "+8613800138002")), "ndjson")
    report = await import_bytes(subs, ndjson(
        person("p1", "+8613800138011", region="110108", language="en"),      # moved and new number
        person("p2", "+8613800138002"),                                      # unchanged
        person("p3", "+8613800138003")), "ndjson")                           # new
    assert counts(report) == (1, 1, 1)
    ids = await subs.external_ids(["p1", "p2", "p3"])
    assert ids == {"p1": 1, "p2": 2, "p3": 3}
    moved = await subs.get(1)
    assert (moved.regions, moved.language, moved.endpoints["sms"]) == (["110108"], "en", "+8613800138011")
    assert await subs.authenticate(token) == sub.id
    assert await sms_numbers(subs) == ["+8613800138002", "+8613800138003", "+8613800138011"]


async def test_an_endpoint_already_stored_is_skipped_not_doubled(subs):
    await subs.create({"regions": ["110105"], "endpoints": {"sms": "+8613800138001", "hms": TOKEN}})
    report = await import_bytes(subs, ndjson(person(None, "+8613800138001"), person("p2", "+8613800138002"),
                                             {"regions": ["110101"], "endpoints": {"hms": TOKEN}}), "ndjson")
    assert counts(report) == (1, 0, 2)
    assert report.skips == [
        (1, "endpoints.sms is already registered to subscriber 0; give the line an external_id to update "
            "that subscriber"),
        (3, "endpoints.hms is already registered to subscriber 0; give the line an external_id to update "
            "that subscriber")]
    assert await subs.count() == 2


@pytest.mark.parametrize("rows, expected", [
    ([person("p1", "+8613800138001"), person("p1", "+8613800138002")],
     [(2, "external_id", "p1 is also on line 1")]),
    ([person("p1", "+8613800138001"), person("p2", "+8613800138001")],
     [(2, "endpoints.sms", "the same sms endpoint is on line 1")]),
    ([person(None, "+8613800138001", region="999999")],
     [(1, "regions[0]", "999999 is not in the region registry: no alert could reach it")]),
    ([person(None, "+8613800138001", region="110199")],
     [(1, "regions[0]", "110199 is not in the region registry: no alert could reach it")]),
    ([person("has space", "+8613800138001")],
     [(1, "external_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ / + -")]),
])
async def test_duplicates_within_a_file_and_unknown_regions_import_nothing(subs, redis_sync, rows, expected):
    report = await import_bytes(subs, ndjson(*rows), "ndjson")
    assert report.errors == expected
    assert counts(report) == (0, 0, 0)
    assert redis_sync.keys("wc:*") == []


async def test_csv_external_id_column(subs):
    data = (b"external_id,regions,sms\nhh-1,110105001001,+8613800138001\nhh-2,110108,\n")
    assert counts(await import_bytes(subs, data, "csv")) == (2, 0, 0)
    data2 = b"external_id,regions,sms\nhh-1,110105001001,+8613800138009\nhh-2,110108,\n"
    assert counts(await import_bytes(subs, data2, "csv")) == (0, 1, 1)
    assert (await subs.get(0)).endpoints == {"sms": "+8613800138009"}


async def test_deleting_frees_the_external_id(subs):
    await import_bytes(subs, ndjson(person("p1", "+8613800138001")), "ndjson")
    await subs.delete(0)
    assert await subs.external_ids(["p1"]) == {}
    report = await import_bytes(subs, ndjson(person("p1", "+8613800138001")), "ndjson")
    assert counts(report) == (1, 0, 0)


async def test_progress_covers_every_phase_in_order(subs):
    await subs.create({"regions": ["110105"], "endpoints": {"sms": "+8613800138999"}})
    data = ndjson(*(person(f"p{i}", f"+86138001{i:05d}") for i in range(30)))
    seen = []
    await import_bytes(subs, data, "ndjson", progress=lambda *step: seen.append(step), slice_size=10)
    phases = [p for p, _, _ in seen]
    assert phases == sorted(phases, key=["checking", "comparing", "writing"].index)
    assert [s for s in seen if s[0] == "checking"] == [("checking", 10, 30), ("checking", 20, 30),
                                                       ("checking", 30, 30), ("checking", 30, 30)]
    assert [s for s in seen if s[0] == "comparing"][-1] == ("comparing", 1, 1)   # 1 shard x 1 channel
    assert [s for s in seen if s[0] == "writing"][-1] == ("writing", 30, 30)


async def test_open_registration_cannot_claim_an_external_id(subs):
    from subscribers.errors import ValidationError
    with pytest.raises(ValidationError) as err:
        await subs.create({"regions": ["110105"], "external_id": "p1"})
    assert err.value.errors == [("external_id", "is set only by an operator's import")]

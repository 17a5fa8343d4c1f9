"""Bulk import: everything valid is imported, or nothing is and every bad line is named."""
from __future__ import annotations

import base64
import json
import os

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dispatcher import keys
from subscribers.importer import detect_format, import_bytes
from subscribers.store import SubscriberStore

HMS_TOKEN = "IQAAAACy0kYhAAB9nL3vL4eQ2xZmW8sYk1Rt0JcPqA9hWv3bN7uE6fDgC2xMpQ"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def webpush_subscription() -> dict:
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": "https://push.example.com/wpush/v2/abc", "keys": {"p256dh": b64url(key), "auth": b64url(os.urandom(16))}}


def ndjson(*rows) -> bytes:
    return b"\n".join(r if isinstance(r, bytes) else orjson.dumps(r) for r in rows) + b"\n"


@pytest.fixture
def subs(redis_aio) -> SubscriberStore:
    return SubscriberStore(redis_aio)


async def assert_nothing_stored(subs, redis_sync):
    assert await subs.count() == 0
    assert redis_sync.keys("wc:*") == []


# -- good files -----------------------------------------------------------------
async def test_good_ndjson_imports_everything(subs):
    web = webpush_subscription()
    data = ndjson(
        {"regions": ["110105"]},
        {"regions": ["110108", "11"], "language": "en", "endpoints": {"sms": "13800138000"}},
        b"",
        {"regions": ["110101001"], "location": {"lat": 39.93, "lon": 116.41},
         "preferences": {"categories": ["Met"], "quiet_hours": {"start": "22:00", "end": "07:00"}}},
        b"   ",
        {"regions": ["110115"], "endpoints": {"webpush": web, "hms": HMS_TOKEN}, "cohorts": ["exercise"]},
    )
    report = await import_bytes(subs, data, "ndjson")
    assert (report.imported, report.lines, report.errors) == (4, 4, [])
    assert await subs.count() == 4
    second, third, fourth = await subs.get(1), await subs.get(2), await subs.get(3)
    assert (second.regions, second.language, second.endpoints, second.channels) == (
        ["110108", "11"], "en", {"sms": "+8613800138000"}, ["sms", "inapp"])
    assert third.location == (39.93, 116.41) and third.categories == ["Met"]
    assert third.quiet_hours == {"start": "22:00", "end": "07:00", "utc_offset": "+08:00"}
    assert json.loads(fourth.endpoints["webpush"]) == web
    assert fourth.channels == ["hms", "webpush", "inapp"] and fourth.cohorts == ["exercise"]


async def test_good_csv_imports_everything(subs):
    web = json.dumps(webpush_subscription()).replace('"', '""')
    data = (
        "regions,language,channels,location_lat,location_lon,hms,sms,webpush,categories,min_severity,"
        "quiet_start,quiet_end,utc_offset,cohorts\r\n"
        "110105,,,,,,,,,,,,,\r\n"
        "110108;11,en,sms,39.98,116.30,,13800138000,,Met;Geo,Severe,22:00,07:00,+08:00,test\r\n"
        "\r\n"
        f'110115,zh-CN,hms;webpush,,,{HMS_TOKEN},,"{web}",,,,,,\r\n'
    ).encode()
    report = await import_bytes(subs, data, detect_format("people.csv"))
    assert (report.imported, report.lines, report.errors) == (3, 3, [])
    first, second, third = await subs.get(0), await subs.get(1), await subs.get(2)
    assert (first.regions, first.language, first.channels) == (["110105"], "zh-CN", ["inapp"])
    assert second.public() | {"created": 0} == {
        "id": 1, "regions": ["110108", "11"], "region_names": {"110108": "Haidian", "11": "Beijing"},
        "language": "en", "channels": ["sms", "inapp"],
        "endpoints": {"sms": "+861****00"}, "location": {"lat": 39.98, "lon": 116.30},
        "preferences": {"categories": ["Geo", "Met"], "min_severity": "Severe",
                        "quiet_hours": {"start": "22:00", "end": "07:00", "utc_offset": "+08:00"}},
        "cohorts": ["test"], "created": 0}
    assert third.channels == ["hms", "webpush", "inapp"]
    assert json.loads(third.endpoints["webpush"])["endpoint"] == "https://push.example.com/wpush/v2/abc"


async def test_import_in_slices_reports_progress(subs, redis_sync):
    data = ndjson(*({"regions": [f"110105{i % 100:03d}"]} for i in range(250)))
    seen = []
    report = await import_bytes(subs, data, "ndjson", progress=lambda *step: seen.append(step), slice_size=100)
    assert report.imported == 250 and await subs.count() == 250
    assert seen == [("checking", 100, 250), ("checking", 200, 250), ("checking", 250, 250), ("comparing", 1, 1),
                    ("writing", 100, 250), ("writing", 200, 250), ("writing", 250, 250)]
    assert redis_sync.hlen(keys.records(0)) == 250


@pytest.mark.parametrize("name, content_type, fmt", [
    ("people.csv", "", "csv"), ("PEOPLE.CSV", "", "csv"), ("upload", "text/csv", "csv"),
    ("people.ndjson", "", "ndjson"), ("people.jsonl", "application/x-ndjson", "ndjson"),
])
def test_detect_format(name, content_type, fmt):
    assert detect_format(name, content_type) == fmt


async def test_empty_file_imports_nothing_without_error(subs):
    report = await import_bytes(subs, b"\n\n  \n", "ndjson")
    assert (report.imported, report.lines, report.errors) == (0, 0, [])


# -- bad files: nothing imported, every problem named -----------------------------
GOOD = {"regions": ["110105"]}


@pytest.mark.parametrize("data, fmt, expected", [
    pytest.param(ndjson(GOOD, b'{"regions": ["110105"]', GOOD), "ndjson", [(2, "json")], id="bad-json"),
    pytest.param(ndjson(GOOD, GOOD, {"regions": ["1101050"]}), "ndjson", [(3, "regions[0]")], id="bad-region"),
    pytest.param(ndjson({"regions": ["110105"], "endpoints": {"sms": "12345"}}, GOOD), "ndjson",
                 [(1, "endpoints.sms")], id="bad-phone"),
    pytest.param(ndjson(GOOD, [1, 2], GOOD), "ndjson", [(2, "body")], id="not-an-object"),
    pytest.param(ndjson(GOOD, b"", {"regions": ["110"], "colour": "red"}, b"", b"nope", GOOD), "ndjson",
                 [(3, "colour"), (3, "regions[0]"), (5, "json")], id="every-line-reported-blank-lines-counted"),
    pytest.param(ndjson(GOOD, {"regions": ["110105"], "language": "en\u2028"}, {"regions": ["9"]}), "ndjson",
                 [(2, "language"), (3, "regions[0]")], id="line-separator-inside-a-string"),
    pytest.param(b'{"regions": ["110105"]}\r\n{"regions": ["1"]}\r\n', "ndjson", [(2, "regions[0]")], id="crlf"),
    pytest.param(b"regions,phone\n110105,13800138000\n", "csv", [(1, "header")], id="unknown-csv-column"),
    pytest.param(b"language\nen\n", "csv", [(1, "header")], id="csv-without-regions"),
    pytest.param(b"", "csv", [(1, "header")], id="empty-csv"),
    pytest.param(b"regions,sms\n110105,13800138000\n110108,13800138000,extra\n110101,\n", "csv",
                 [(3, "row")], id="too-many-cells"),
    pytest.param(b"regions,sms\n110105,13800138000\n110108,99\n11010,\n", "csv",
                 [(3, "endpoints.sms"), (4, "regions[0]")], id="csv-bad-phone-and-region"),
    pytest.param(b"regions,location_lat,location_lon\n110105,39.9,\n110105,north,116.4\n", "csv",
                 [(2, "location.lon"), (3, "location.lat")], id="csv-only-the-bad-coordinate"),
    pytest.param(b"regions,min_severity,quiet_start\n110105,High,\n110105,,22:00\n", "csv",
                 [(2, "preferences.min_severity"), (3, "preferences.quiet_hours")], id="csv-preferences"),
])
async def test_bad_line_imports_nothing_and_names_line_and_field(subs, redis_sync, data, fmt, expected):
    report = await import_bytes(subs, data, fmt)
    assert report.imported == 0
    assert [(line, field) for line, field, _ in report.errors] == expected
    assert all(message for _, _, message in report.errors)
    await assert_nothing_stored(subs, redis_sync)


async def test_error_messages_say_what_is_wrong(subs):
    report = await import_bytes(subs, b"regions,phone,email\n110105,1,a@b\n", "csv")
    assert [m for _, _, m in report.errors] == [
        "unknown column 'phone' (allowed: external_id, regions, language, channels, location_lat, location_lon, hms, fcm, apns, "
        "sms, webpush, categories, min_severity, quiet_start, quiet_end, utc_offset, cohorts)",
        "unknown column 'email' (allowed: external_id, regions, language, channels, location_lat, location_lon, hms, fcm, apns, "
        "sms, webpush, categories, min_severity, quiet_start, quiet_end, utc_offset, cohorts)",
    ]
    report = await import_bytes(subs, ndjson({"regions": ["110105"], "endpoints": {"sms": "+8613800138"}}), "ndjson")
    assert report.as_dict() == {"imported": 0, "created": 0, "updated": 0, "skipped": 0, "skipped_lines": [],
                                "lines": 1, "error_count": 1, "errors": [
        {"line": 1, "field": "endpoints.sms",
             "message": "sms endpoint: not a valid phone number for its country (use E.164, e.g. +8613912345678)"}]}


@pytest.mark.parametrize("data, fmt, line", [
    (b'{"regions": ["110105"]}\n{"regions": ["11\xff05"]}\n', "ndjson", 2),
    (b"regions\n110105\n110108\n\xe5\x8c\n", "csv", 4),
    (b"\xff\xfe{}", "ndjson", 1),
])
async def test_non_utf8_file_is_a_clear_error(subs, redis_sync, data, fmt, line):
    report = await import_bytes(subs, data, fmt)
    assert report.imported == 0
    assert len(report.errors) == 1
    err_line, field, message = report.errors[0]
    assert (err_line, field) == (line, "file")
    assert message.startswith("is not UTF-8 text (byte 0x")
    await assert_nothing_stored(subs, redis_sync)


async def test_utf8_bom_is_accepted(subs):
    report = await import_bytes(subs, "\ufeffregions,language\n110105,zh-CN\n".encode(), "csv")
    assert (report.imported, report.errors) == (1, [])

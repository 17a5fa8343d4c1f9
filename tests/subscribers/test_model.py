"""Subscriber validation (every field a client may send) and the column cells targeting reads."""
from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from subscribers import columns as C
from subscribers.errors import ValidationError
from subscribers.model import Subscriber, validate

HMS_TOKEN = "IQAAAACy0kYhAAB9nL3vL4eQ2xZmW8sYk1Rt0JcPqA9hWv3bN7uE6fDgC2xMpQ"
FCM_TOKEN = "dGVzdC1mY20tdG9rZW4:APA91b" + "Hx7Qz_k-" * 15
APNS_TOKEN = "9f1c" * 16
REGION = ["110105"]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def p256_public_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def webpush_subscription(**overrides) -> dict:
    sub = {"endpoint": "https://push.example.com/wpush/v2/abc123",
           "keys": {"p256dh": b64url(p256_public_key()), "auth": b64url(os.urandom(16))}}
    sub.update(overrides)
    return sub


def errors_of(data, base=None) -> dict[str, str]:
    """The field → message pairs a client is shown for ``data``."""
    with pytest.raises(ValidationError) as info:
        validate(data, base)
    return dict(info.value.errors)


# -- regions ----------------------------------------------------------------
@pytest.mark.parametrize("regions, stored", [
    (["11"], ["11"]),
    (["1101"], ["1101"]),
    (["110105"], ["110105"]),
    (["110105001"], ["110105001"]),
    (["110105001001"], ["110105001001"]),
    (["11", "1101", "110105", "110105001"], ["11", "1101", "110105", "110105001"]),
    (["110105", "110105"], ["110105"]),
])
def test_valid_regions(regions, stored):
    assert validate({"regions": regions}).regions == stored


@pytest.mark.parametrize("regions, field", [
    (["110"], "regions[0]"),
    (["11010"], "regions[0]"),
    (["1101050"], "regions[0]"),
    (["110105", "11a105"], "regions[1]"),
    (["110105", ""], "regions[1]"),
    (["１１"], "regions[0]"),                 # full-width digits
    (["11010\n"], "regions[0]"),              # a trailing newline is not a digit
    ([110105], "regions[0]"),                 # a number, not a string
    ([None], "regions[0]"),
    ([], "regions"),
    ("110105", "regions"),
    (None, "regions"),
    (["11", "1101", "110105", "110108", "110101"], "regions"),
])
def test_invalid_regions_name_the_field(regions, field):
    errors = errors_of({"regions": regions})
    assert field in errors
    assert "code" in errors[field] or "region" in errors[field]


def test_missing_regions_is_reported():
    assert "regions" in errors_of({"language": "en"})


def test_every_bad_region_is_reported_at_once():
    errors = errors_of({"regions": ["110", "1101050", "11"]})
    assert {"regions[0]", "regions[1]"} <= set(errors)
    assert "regions[2]" not in errors


# -- language ---------------------------------------------------------------
@pytest.mark.parametrize("language", ["zh-CN", "en", "en-US", "zh-Hans-CN", "yue"])
def test_valid_language(language):
    assert validate({"regions": REGION, "language": language}).language == language


@pytest.mark.parametrize("language", ["", "e", "english_us", "zh_CN", "en-", "en\n", 5, None, ["en"]])
def test_invalid_language(language):
    errors = errors_of({"regions": REGION, "language": language})
    assert errors["language"] == "must be a language tag such as zh-CN or en"


def test_default_language_is_chinese():
    assert validate({"regions": REGION}).language == "zh-CN"


# -- location ---------------------------------------------------------------
@pytest.mark.parametrize("location, stored", [
    ({"lat": 39.9042, "lon": 116.4074}, (39.9042, 116.4074)),
    ({"lat": 0, "lon": 0}, (0.0, 0.0)),
    ({"lat": -90, "lon": 180}, (-90.0, 180.0)),
    ({"lat": 90, "lon": -180}, (90.0, -180.0)),
    (None, None),
])
def test_valid_location(location, stored):
    assert validate({"regions": REGION, "location": location}).location == stored


@pytest.mark.parametrize("location, fields", [
    ({"lat": 90.0001, "lon": 116.4}, {"location.lat"}),
    ({"lat": -91, "lon": 116.4}, {"location.lat"}),
    ({"lat": 39.9, "lon": 180.5}, {"location.lon"}),
    ({"lat": 39.9, "lon": -181}, {"location.lon"}),
    ({"lat": "39.9", "lon": 116.4}, {"location.lat"}),
    ({"lat": 39.9, "lon": "east"}, {"location.lon"}),
    ({"lat": True, "lon": 116.4}, {"location.lat"}),
    ({"lat": float("nan"), "lon": 116.4}, {"location.lat"}),
    ({"lat": 39.9, "lon": float("inf")}, {"location.lon"}),
    ({"lat": 10**400, "lon": 116.4}, {"location.lat"}),
    ({"lat": 39.9}, {"location.lon"}),
    ({}, {"location.lat", "location.lon"}),
    ([39.9, 116.4], {"location"}),
    ("39.9,116.4", {"location"}),
])
def test_invalid_location_names_the_coordinate(location, fields):
    errors = errors_of({"regions": REGION, "location": location})
    assert set(errors) == fields
    for f in fields - {"location"}:
        assert "must be a number between" in errors[f]


# -- endpoints --------------------------------------------------------------
@pytest.mark.parametrize("channel, value, stored", [
    ("sms", "+8613800138000", "+8613800138000"),
    ("sms", "13800138000", "+8613800138000"),
    ("sms", "+86 138 0013 8000", "+8613800138000"),
    ("sms", "+447911123456", "+447911123456"),
    ("hms", HMS_TOKEN, HMS_TOKEN),
    ("fcm", FCM_TOKEN, FCM_TOKEN),
    ("apns", APNS_TOKEN, APNS_TOKEN),
    ("apns", APNS_TOKEN.upper(), APNS_TOKEN.lower()),
    ("apns", APNS_TOKEN + "\n", APNS_TOKEN.lower()),          # surrounding white space is dropped
    ("hms", HMS_TOKEN + "\n", HMS_TOKEN),
])
def test_valid_endpoints_are_normalised(channel, value, stored):
    sub = validate({"regions": REGION, "endpoints": {channel: value}})
    assert sub.endpoints == {channel: stored}
    assert sub.channels == [channel, "inapp"]


@pytest.mark.parametrize("channel, value, message", [
    ("sms", "+8613800138", "sms endpoint: not a valid phone number for its country"),
    ("sms", "12345", "sms endpoint: not a valid phone number for its country"),
    ("sms", "+86138001380001", "sms endpoint: not a valid phone number for its country"),
    ("sms", "+861012345678", "sms endpoint: not a mobile number (text messages cannot reach it)"),   # Beijing landline
    ("sms", "call me maybe", "sms endpoint: not a phone number"),
    ("sms", "", "sms endpoint: a phone number is required"),
    ("sms", 8613800138000, "must be a string"),
    ("hms", "short", "HMS push token must be 32-512 characters of A-Z a-z 0-9 _ . : - = + / (got 5 characters, wrong length)"),
    ("hms", HMS_TOKEN + " spaces", "HMS push token must be 32-512 characters"),
    ("fcm", "A" * 99, "FCM registration token must be 100-4096 characters long (got 99)"),
    ("fcm", FCM_TOKEN + "/", "FCM registration token may hold only A-Z a-z 0-9 _ : -"),
    ("apns", "9f1c" * 15, "APNs device token must be 64-200 hexadecimal characters (got 60 characters)"),
    ("apns", "zz" * 32, "APNs device token must be 64-200 hexadecimal characters (got 64 characters, not all hexadecimal)"),
])
def test_invalid_endpoints_name_the_channel(channel, value, message):
    errors = errors_of({"regions": REGION, "endpoints": {channel: value}})
    assert set(errors) == {f"endpoints.{channel}"}
    assert errors[f"endpoints.{channel}"].startswith(message)


def test_webpush_subscription_is_stored_as_compact_json():
    sub = webpush_subscription(expirationTime=None)
    stored = validate({"regions": REGION, "endpoints": {"webpush": sub}}).endpoints["webpush"]
    assert json.loads(stored) == {"endpoint": sub["endpoint"], "keys": sub["keys"]}
    assert " " not in stored


def test_webpush_subscription_given_as_json_text_is_accepted():
    sub = webpush_subscription()
    stored = validate({"regions": REGION, "endpoints": {"webpush": json.dumps(sub)}}).endpoints["webpush"]
    assert json.loads(stored) == sub


@pytest.mark.parametrize("change, message", [
    ({"endpoint": "not-a-url"}, "Web Push subscription endpoint must be an http(s) URL"),
    ({"endpoint": "ftp://push.example.com/x"}, "Web Push subscription endpoint must be an http(s) URL"),
    ({"endpoint": None}, "Web Push subscription lacks endpoint"),
    ({"keys": {"p256dh": b64url(p256_public_key()[:33]), "auth": b64url(os.urandom(16))}},
     "Web Push subscription keys.p256dh must be a 65-byte uncompressed P-256 point (got 33 bytes)"),
    ({"keys": {"p256dh": b64url(b"\x05" + p256_public_key()[1:]), "auth": b64url(os.urandom(16))}},
     "Web Push subscription keys.p256dh must be a 65-byte uncompressed P-256 point (got 65 bytes)"),
    ({"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(os.urandom(16))}},
     "Web Push subscription keys.p256dh is not a point on P-256"),
    ({"keys": {"p256dh": b64url(p256_public_key()), "auth": b64url(os.urandom(12))}},
     "Web Push subscription keys.auth must be 16 bytes (got 12)"),
    ({"keys": "nope"}, "Web Push subscription lacks keys"),
])
def test_invalid_webpush_subscription(change, message):
    errors = errors_of({"regions": REGION, "endpoints": {"webpush": webpush_subscription(**change)}})
    assert errors == {"endpoints.webpush": message}


@pytest.mark.parametrize("value", ["{not json", 42, ["https://push.example.com"]])
def test_webpush_must_be_a_subscription_object(value):
    errors = errors_of({"regions": REGION, "endpoints": {"webpush": value}})
    assert errors == {"endpoints.webpush": "Web Push subscription must be a JSON object"}


@pytest.mark.parametrize("channel", ["smpp", "inapp", "telegram"])
def test_endpoint_for_unknown_channel(channel):
    errors = errors_of({"regions": REGION, "endpoints": {channel: "+8613800138000"}})
    assert errors[f"endpoints.{channel}"].startswith("unknown channel (allowed: hms, fcm, apns, webpush, sms)")


def test_endpoints_must_be_an_object():
    assert errors_of({"regions": REGION, "endpoints": ["+8613800138000"]})["endpoints"].startswith("must be an object")


# -- channels ---------------------------------------------------------------
@pytest.mark.parametrize("data, chain", [
    ({}, ["inapp"]),
    ({"endpoints": {"sms": "+8613800138000"}}, ["sms", "inapp"]),
    ({"endpoints": {"sms": "+8613800138000", "hms": HMS_TOKEN}}, ["hms", "sms", "inapp"]),
    ({"endpoints": {"sms": "+8613800138000"}, "channels": ["sms"]}, ["sms", "inapp"]),
    ({"endpoints": {"sms": "+8613800138000"}, "channels": ["inapp", "sms"]}, ["inapp", "sms"]),
    ({"endpoints": {"hms": HMS_TOKEN}, "channels": ["hms", "hms"]}, ["hms", "inapp"]),
    # more endpoints than the chain holds: in-app still ends it
    ({"endpoints": {"sms": "+8613800138000", "hms": HMS_TOKEN, "fcm": FCM_TOKEN, "apns": APNS_TOKEN}},
     ["hms", "fcm", "apns", "inapp"]),
])
def test_channel_chain(data, chain):
    sub = validate({"regions": REGION, **data})
    assert sub.channels == chain
    assert C.unpack_chain(sub.cells()[C.CHAIN]) == chain


@pytest.mark.parametrize("channels, endpoints, field, message", [
    (["sms"], {}, "channels", "channel sms needs endpoints.sms"),
    (["hms", "sms"], {"sms": "+8613800138000"}, "channels", "channel hms needs endpoints.hms"),
    (["telegram"], {}, "channels[0]", "unknown channel"),
    (["inapp", "smpp"], {}, "channels[1]", "unknown channel"),
    ([], {}, "channels", "must be a non-empty list"),
    ("sms", {}, "channels", "must be a non-empty list"),
    (["hms", "fcm", "apns", "sms"], {"hms": HMS_TOKEN, "fcm": FCM_TOKEN, "apns": APNS_TOKEN,
                                     "sms": "+8613800138000"}, "channels", "at most 4 channels including inapp"),
])
def test_invalid_channels(channels, endpoints, field, message):
    errors = errors_of({"regions": REGION, "channels": channels, "endpoints": endpoints})
    assert errors[field].startswith(message)


# -- preferences ------------------------------------------------------------
@pytest.mark.parametrize("prefs, categories, min_severity, quiet", [
    ({}, None, "Minor", None),
    ({"categories": None}, None, "Minor", None),
    ({"categories": ["Met", "Geo"]}, ["Geo", "Met"], "Minor", None),     # kept in canonical order
    ({"categories": []}, [], "Minor", None),
    ({"min_severity": "Severe"}, None, "Severe", None),
    ({"quiet_hours": {"start": "22:00", "end": "07:00"}}, None, "Minor",
     {"start": "22:00", "end": "07:00", "utc_offset": "+08:00"}),
    ({"quiet_hours": {"start": "23:30", "end": "06:15", "utc_offset": "-05:00"}}, None, "Minor",
     {"start": "23:30", "end": "06:15", "utc_offset": "-05:00"}),
    ({"quiet_hours": None}, None, "Minor", None),
])
def test_valid_preferences(prefs, categories, min_severity, quiet):
    sub = validate({"regions": REGION, "preferences": prefs})
    assert (sub.categories, sub.min_severity, sub.quiet_hours) == (categories, min_severity, quiet)


@pytest.mark.parametrize("prefs, field", [
    ({"categories": ["Weather"]}, "preferences.categories"),
    ({"categories": "Met"}, "preferences.categories"),
    ({"categories": [["Met"]]}, "preferences.categories"),
    ({"categories": [{"Met": 1}]}, "preferences.categories"),
    ({"min_severity": "Unknown"}, "preferences.min_severity"),
    ({"min_severity": "severe"}, "preferences.min_severity"),
    ({"min_severity": 3}, "preferences.min_severity"),
    ({"quiet_hours": {"start": "24:00", "end": "07:00"}}, "preferences.quiet_hours"),
    ({"quiet_hours": {"start": "22:00", "end": "7:00"}}, "preferences.quiet_hours"),
    ({"quiet_hours": {"start": "22:00"}}, "preferences.quiet_hours"),
    ({"quiet_hours": {"start": "22:00\n", "end": "07:00"}}, "preferences.quiet_hours"),
    ({"quiet_hours": {"start": "22:00", "end": "07:00", "utc_offset": "+8"}}, "preferences.quiet_hours"),
    ({"quiet_hours": {"start": "22:00", "end": "07:00", "utc_offset": "+25:00"}}, "preferences.quiet_hours"),
    ({"quiet_hours": {"start": "22:00", "end": "07:00", "utc_offset": "+08:75"}}, "preferences.quiet_hours"),
    ({"quiet_hours": {"start": "22:00", "end": "07:00", "utc_offset": None}}, "preferences.quiet_hours"),
    ({"quiet_hours": "22:00-07:00"}, "preferences.quiet_hours"),
    ({"sound": "off"}, "preferences.sound"),
])
def test_invalid_preferences(prefs, field):
    assert field in errors_of({"regions": REGION, "preferences": prefs})


def test_preferences_must_be_an_object():
    assert errors_of({"regions": REGION, "preferences": ["Met"]}) == {"preferences": "must be an object"}


# -- cohorts and unknown fields ---------------------------------------------
@pytest.mark.parametrize("cohorts, stored", [
    ([], []), (["test"], ["test"]), (["exercise", "test", "test"], ["exercise", "test"]),
])
def test_valid_cohorts(cohorts, stored):
    assert validate({"regions": REGION, "cohorts": cohorts}).cohorts == stored


@pytest.mark.parametrize("cohorts", [["beta"], "test", [["test"]], None])
def test_invalid_cohorts(cohorts):
    assert errors_of({"regions": REGION, "cohorts": cohorts})["cohorts"] == "must be a list of test, exercise"


def test_unknown_top_level_field_is_named():
    errors = errors_of({"regions": REGION, "phone": "+8613800138000"})
    assert errors["phone"].startswith("unknown field (allowed: channels, cohorts, endpoints, external_id, language, location")


@pytest.mark.parametrize("body", [[], "subscriber", None, 42])
def test_body_must_be_an_object(body):
    assert errors_of(body) == {"body": "must be a JSON object"}


def test_every_problem_is_reported_with_its_field():
    errors = errors_of({"regions": ["110"], "language": "?", "location": {"lat": 100, "lon": 0},
                        "endpoints": {"sms": "12"}, "preferences": {"min_severity": "High"},
                        "cohorts": ["x"], "colour": "red"})
    assert set(errors) == {"regions[0]", "language", "location.lat", "endpoints.sms",
                           "preferences.min_severity", "cohorts", "colour"}
    assert all(message for message in errors.values())


# -- PATCH --------------------------------------------------------------------
def test_patch_changes_only_the_given_fields():
    base = validate({"regions": ["110105"], "language": "en", "endpoints": {"sms": "13800138000"},
                     "preferences": {"min_severity": "Severe"}, "location": {"lat": 39.9, "lon": 116.4}})
    patched = validate({"preferences": {"categories": ["Met"]}}, base=base)
    assert (patched.regions, patched.language, patched.endpoints, patched.channels, patched.location,
            patched.min_severity, patched.categories) == (
        ["110105"], "en", {"sms": "+8613800138000"}, ["sms", "inapp"], (39.9, 116.4), "Severe", ["Met"])
    assert base.categories is None


def test_patch_removing_an_endpoint_still_in_the_chain_is_refused():
    base = validate({"regions": REGION, "endpoints": {"sms": "13800138000"}})
    errors = errors_of({"endpoints": {"sms": None}}, base=base)
    assert errors == {"channels": "channel sms needs endpoints.sms"}
    assert base.endpoints == {"sms": "+8613800138000"}


# -- cells ----------------------------------------------------------------------
@pytest.mark.parametrize("categories, opted_out", [
    (None, 0),
    (list(C.CATEGORIES), 0),
    (["Met"], C.ALL_CATEGORIES & ~C.CATEGORY_BIT["Met"]),
    (["Geo", "Other"], C.ALL_CATEGORIES & ~(1 | 1 << 11)),
    ([], C.ALL_CATEGORIES),
])
def test_opted_out_bitmask(categories, opted_out):
    sub = validate({"regions": REGION, "preferences": {"categories": categories}})
    assert sub.opted_out() == opted_out == sub.cells()[C.OPTED_OUT]


@pytest.mark.parametrize("min_severity, cell", [("Minor", 0), ("Moderate", 2), ("Severe", 3), ("Extreme", 4)])
def test_min_severity_cell(min_severity, cell):
    assert validate({"regions": REGION, "preferences": {"min_severity": min_severity}}).cells()[C.MIN_SEVERITY] == cell


@pytest.mark.parametrize("start, end, offset, utc_start, utc_end", [
    ("22:00", "07:00", "+08:00", 14 * 60, 23 * 60),
    ("22:00", "07:00", None, 14 * 60, 23 * 60),          # +08:00 by default
    ("06:00", "09:30", "+08:00", 22 * 60, 90),
    ("22:00", "07:00", "+00:00", 22 * 60, 7 * 60),
    ("22:00", "07:00", "-05:00", 3 * 60, 12 * 60),
    ("23:45", "00:15", "+05:45", 18 * 60, 18 * 60 + 30),
])
def test_quiet_hours_cell_is_utc_minutes(start, end, offset, utc_start, utc_end):
    quiet = {"start": start, "end": end} | ({"utc_offset": offset} if offset else {})
    sub = validate({"regions": REGION, "preferences": {"quiet_hours": quiet}})
    cell = sub.cells()[C.QUIET_HOURS]
    assert (cell >> 16, cell & 0xFFFF) == (utc_start, utc_end)
    assert sub.flags() & C.QUIET


def test_no_quiet_hours_is_a_zero_cell():
    sub = validate({"regions": REGION})
    assert sub.cells()[C.QUIET_HOURS] == 0
    assert not sub.flags() & C.QUIET


@pytest.mark.parametrize("data, flags", [
    ({}, C.EXISTS),
    ({"cohorts": ["test"]}, C.EXISTS | C.COHORT_TEST),
    ({"cohorts": ["exercise", "test"]}, C.EXISTS | C.COHORT_TEST | C.COHORT_EXERCISE),
    ({"location": {"lat": 0, "lon": 0}}, C.EXISTS | C.LOCATED),
    ({"preferences": {"quiet_hours": {"start": "22:00", "end": "07:00"}}}, C.EXISTS | C.QUIET),
])
def test_flags_cell(data, flags):
    assert validate({"regions": REGION, **data}).cells()[C.FLAGS] == flags


@pytest.mark.parametrize("chain, packed", [
    (["inapp"], 0x1),
    (["sms", "inapp"], 0x16),
    (["hms", "sms", "inapp"], 0x162),
    (["hms", "fcm", "apns", "inapp"], 0x1432),
    (["webpush", "inapp"], 0x15),
])
def test_chain_packing_round_trips(chain, packed):
    assert C.pack_chain(chain) == packed
    assert C.unpack_chain(packed) == chain
    assert np.frombuffer(C.cell(C.CHAIN, packed), dtype="<u2")[0] == packed


def test_chain_packs_at_most_four_channels():
    assert C.unpack_chain(C.pack_chain(["hms", "fcm", "apns", "sms", "inapp"])) == ["hms", "fcm", "apns", "sms"]


@pytest.mark.parametrize("code, padded", [
    ("11", 110000000000), ("1101", 110100000000), ("110105", 110105000000),
    ("110105001", 110105001000), ("110105001002", 110105001002),
])
def test_region_cells_are_padded_to_12_digits(code, padded):
    assert C.pad_code(code) == padded
    low, high = C.code_range(code)
    assert low == padded and str(high).startswith(code) and len(str(high)) == 12


def test_region_cells_fill_unused_slots_with_zero():
    cells = validate({"regions": ["11", "110105001"]}).cells()
    assert [cells[col] for col in C.REGIONS] == [110000000000, 110105001000, 0, 0]


@pytest.mark.parametrize("language, index", [("zh-CN", 0), ("zh-TW", 0), ("zh", 0), ("en", 1), ("en-GB", 1), ("fr", 1)])
def test_language_cell_is_nearest_template_language(language, index):
    assert validate({"regions": REGION, "language": language}).cells()[C.LANGUAGE] == index


def test_record_round_trips_through_storage_form():
    sub = validate({"regions": ["110105", "11"], "language": "en", "location": {"lat": 39.9, "lon": 116.4},
                    "endpoints": {"sms": "13800138000"}, "cohorts": ["test"],
                    "preferences": {"categories": ["Met"], "min_severity": "Moderate",
                                    "quiet_hours": {"start": "22:00", "end": "07:00"}}})
    again = Subscriber.from_record(7, json.loads(json.dumps(sub.record())), dict(sub.endpoints))
    assert again.cells() == sub.cells()
    assert again.public()["endpoints"] == {"sms": "+861****00"}
    assert "+8613800138000" not in json.dumps(again.public())

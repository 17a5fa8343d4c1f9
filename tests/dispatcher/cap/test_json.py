"""The JSON form of CAP: its shape, its errors, and to_dict reading back equal."""
from __future__ import annotations

import orjson
import pytest

from dispatcher.cap import CapError, CapTooLarge, parse_json, parse_xml, to_dict

from . import SAMPLES, minimal, patched


def _errors(data) -> list[tuple[str, str]]:
    with pytest.raises(CapError) as caught:
        parse_json(data)
    return [(e.path, e.message) for e in caught.value.errors]


def test_sample_json_is_the_sample_xml():
    from_json = parse_json((SAMPLES / "rainstorm_red.json").read_bytes())
    from_xml = parse_xml((SAMPLES / "rainstorm_red.xml").read_bytes())
    assert from_json == from_xml
    assert from_json.sent_text == "2026-07-30T14:00:00+08:00"


def test_bytes_dict_and_wrapped_forms_agree():
    doc = minimal()
    expected = parse_json(doc)
    assert parse_json(orjson.dumps(doc)) == expected
    assert parse_json({"alert": doc}) == expected
    assert parse_json(orjson.dumps({"alert": doc})) == expected
    assert parse_json(orjson.dumps(doc).decode()) == expected


def test_single_values_stand_for_one_item_lists():
    doc = patched({"info.0.category": "Met", "info.0.area": minimal()["info"][0]["area"][0], "code": "CN-BJ"})
    alert = parse_json(doc)
    assert alert.infos[0].categories == ["Met"]
    assert alert.infos[0].areas[0].geocodes[0].value == "110101"
    assert alert.codes == ["CN-BJ"]


def test_numbers_may_be_json_numbers_or_strings():
    res = {"resourceDesc": "radar", "mimeType": "image/png"}
    doc = patched({"info.0.resource": [{**res, "size": 2048}, {**res, "size": "4096"}],
                   "info.0.area.0.altitude": 100, "info.0.area.0.ceiling": "2500.5"})
    alert = parse_json(doc)
    assert [r.size for r in alert.infos[0].resources] == [2048, 4096]
    assert (alert.infos[0].areas[0].altitude, alert.infos[0].areas[0].ceiling) == (100.0, 2500.5)


def test_null_means_absent():
    alert = parse_json(patched({"note": None, "info.0.expires": None}))
    assert alert.note is None and alert.infos[0].expires is None


SHAPE_ERRORS = [
    ("unknown top key", {"priority": 1}, "alert/priority", "unknown key 'priority'"),
    ("misspelt key", {"msgtype": "Alert"}, "alert/msgtype", "unknown key 'msgtype'; did you mean 'msgType'?"),
    ("unknown info key", {"info.0.colour": "red"}, "alert/info[0]/colour", "unknown key 'colour'"),
    ("unknown area key", {"info.1.area.0.codes": []}, "alert/info[1]/area[0]/codes", "unknown key 'codes'"),
    ("unknown geocode key", {"info.0.area.0.geocode.0.type": "x"}, "alert/info[0]/area[0]/geocode[0]/type",
     "unknown key 'type'"),
    ("snake case key", {"info.0.sender_name": "x"}, "alert/info[0]/sender_name", "did you mean 'senderName'?"),
    ("number for text", {"identifier": 42}, "alert/identifier", "must be a string, not a number"),
    ("bool for text", {"status": True}, "alert/status", "must be a string, not a boolean"),
    ("object for list", {"info.0.category": {"name": "Met"}}, "alert/info[0]/category",
     "must be an array of strings, not an object"),
    ("number in list", {"info.0.category": ["Met", 3]}, "alert/info[0]/category[1]", "must be a string, not a number"),
    ("string for nodes", {"info": "rain"}, "alert/info", "must be an array of objects, not a string"),
    ("string in nodes", {"info.1": "rain"}, "alert/info[1]", "must be an object, not a string"),
    ("bool for number", {"info.0.area.0.altitude": False}, "alert/info[0]/area[0]/altitude",
     "must be a number, not a boolean"),
    ("infinite number", {"info.0.area.0.altitude": float("inf")}, "alert/info[0]/area[0]/altitude",
     "inf is not a finite number"),
    ("negative size", {"info.0.resource": [{"resourceDesc": "r", "mimeType": "image/png", "size": -1}]},
     "alert/info[0]/resource[0]/size", "-1 is negative"),
    ("fractional size", {"info.0.resource": [{"resourceDesc": "r", "mimeType": "image/png", "size": 1.5}]},
     "alert/info[0]/resource[0]/size", "1.5 is not a whole number of bytes"),
    ("control character", {"note": "bad\x07bell"}, "alert/note", "contains the control character U+0007"),
    ("control character in list", {"code": ["ok", "a\x00b"]}, "alert/code[1]", "control character U+0000"),
]


@pytest.mark.parametrize("changes, path, message", [c[1:] for c in SHAPE_ERRORS], ids=[c[0] for c in SHAPE_ERRORS])
def test_shape_errors_name_the_path(changes, path, message):
    errors = _errors(patched(changes))
    assert any(p == path and message in m for p, m in errors), errors


def test_items_after_a_bad_one_keep_their_index():
    errors = _errors(patched({"info.0.category": [7, "Weather"]}))
    assert ("alert/info[0]/category[0]", "must be a string, not a number") in errors
    assert any(p == "alert/info[0]/category[1]" and "'Weather' is not one of" in m for p, m in errors)


def test_wrapper_with_other_keys_is_not_unwrapped():
    errors = _errors({"alert": minimal(), "meta": {}})
    assert ("alert/alert", "unknown key 'alert'") in errors
    assert ("alert/identifier", "is required") in errors


@pytest.mark.parametrize("body, fragment", [
    (b'{"identifier": "x",', "malformed JSON: "),
    (b"", "malformed JSON: "),
    (b'{"identifier": "x" "sender": "y"}', "line 1 column 20"),
])
def test_malformed_json(body, fragment):
    [(path, message)] = _errors(body)
    assert path == "alert"
    assert message.startswith("malformed JSON: ") and fragment in message


@pytest.mark.parametrize("body, kind", [(b"[]", "an array"), (b'"alert"', "a string"), (b"null", "null"),
                                        (b"3", "a number")])
def test_top_level_must_be_an_object(body, kind):
    assert _errors(body) == [("alert", f"must be a JSON object, not {kind}")]


def test_oversize_json_is_refused_before_parsing():
    body = orjson.dumps(minimal())
    with pytest.raises(CapTooLarge) as caught:
        parse_json(body + b"garbage", max_bytes=len(body))
    assert caught.value.errors[0].message == f"body is {len(body) + 7} bytes; the limit is {len(body)} bytes"
    assert parse_json(body, max_bytes=len(body)).identifier == "bjmb-20260730-001"


def test_to_dict_is_the_json_form():
    doc = to_dict(parse_json(patched({"msgType": "Update", "references": "a@b,id-1,2026-07-30T13:00:00+08:00",
                                      "info.0.area.0.polygon": ["39.9,116.3 39.9,116.5 40.1,116.5 39.9,116.3"],
                                      "info.0.area.0.circle": ["39.93,116.42 5"],
                                      "info.0.resource": [{"resourceDesc": "r", "mimeType": "image/png",
                                                           "size": "10"}]})))
    assert list(doc) == ["identifier", "sender", "sent", "status", "msgType", "scope", "references", "info"]
    assert doc["references"] == "a@b,id-1,2026-07-30T13:00:00+08:00"
    info = doc["info"][0]
    assert info["category"] == ["Met"]
    assert info["parameter"] == [{"valueName": "level", "value": "red"}]
    assert info["expires"] == "2026-07-30T20:00:00+08:00"
    assert info["resource"] == [{"resourceDesc": "r", "mimeType": "image/png", "size": 10}]
    assert info["area"][0] == {"areaDesc": "东城区", "polygon": ["39.9,116.3 39.9,116.5 40.1,116.5 39.9,116.3"],
                               "circle": ["39.93,116.42 5"],
                               "geocode": [{"valueName": "GB/T 2260", "value": "110101"}]}
    assert "language" in info and "responseType" not in info


@pytest.mark.parametrize("changes", [
    {},
    {"msgType": "Cancel", "references": "bjmb@cma.gov.cn,x-1,2026-07-30T13:00:00+08:00", "info": None},
    {"scope": "Private", "addresses": 'ops "duty desk"', "incidents": "a b", "code": ["x", "y"], "note": "n",
     "source": "s"},
    {"info.0.eventCode": [{"valueName": "CMA", "value": "11B03"}], "info.0.audience": "公众",
     "info.0.effective": "2026-07-30T14:00:00.25+08:00", "info.0.onset": "2026-07-30T16:00:00-02:00",
     "info.0.area.0.altitude": 0, "info.0.area.0.ceiling": 1e6},
])
def test_to_dict_round_trips_through_parse_json(changes):
    alert = parse_json(patched(changes))
    doc = to_dict(alert)
    assert parse_json(doc) == alert
    assert parse_json(orjson.dumps(doc)) == alert

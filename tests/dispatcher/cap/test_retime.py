"""`publish --now`: sent becomes now, the other times move by as much, nothing else changes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from dispatcher import cap
from dispatcher.cap.retime import RetimeError, retime

SAMPLES = Path(__file__).resolve().parents[3] / "dispatcher" / "samples"
NOW = datetime(2026, 12, 3, 9, 30, 15, tzinfo=timezone.utc)


def times(alert: cap.Alert) -> list[datetime]:
    return [alert.sent] + [t for i in alert.infos for t in (i.effective, i.onset, i.expires) if t]


@pytest.mark.parametrize("name", ["rainstorm_red.xml", "rainstorm_red.json", "rainstorm_polygon.xml"])
def test_sample_becomes_current_with_its_spacing_kept(name):
    data = (SAMPLES / name).read_bytes()
    is_json = name.endswith(".json")
    before = cap.parse(data, "application/json" if is_json else "application/cap+xml")
    moved = retime(data, is_json, now=NOW)
    after = cap.parse(moved, "application/json" if is_json else "application/cap+xml")
    assert after.sent == NOW
    assert after.sent.utcoffset() == before.sent.utcoffset()          # written in the same offset
    assert [t - before.sent for t in times(before)] == [t - after.sent for t in times(after)]
    assert after.expires_at() > NOW
    assert after.identifier == before.identifier and cap.to_dict(after)["info"][0]["headline"] == \
        cap.to_dict(before)["info"][0]["headline"]


def test_xml_is_otherwise_left_byte_for_byte():
    data = (SAMPLES / "rainstorm_red.xml").read_bytes()
    moved = retime(data, False, now=NOW)
    assert moved.replace(b"2026-12-03T17:30:15+08:00", b"X").replace(b"2026-12-03T23:30:15+08:00", b"X") == \
        data.replace(b"2026-07-30T14:00:00+08:00", b"X").replace(b"2026-07-30T20:00:00+08:00", b"X")


def test_prefixed_elements_and_other_offsets():
    data = (b'<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2"><cap:sent>2020-01-01T00:00:00-05:00'
            b'</cap:sent><cap:info><cap:expires> 2020-01-01T06:00:00+00:00 </cap:expires></cap:info></cap:alert>')
    moved = retime(data, False, now=NOW)
    assert b"<cap:sent>2026-12-03T04:30:15-05:00</cap:sent>" in moved
    assert b"<cap:expires> 2026-12-03T10:30:15+00:00 </cap:expires>" in moved


@pytest.mark.parametrize("data, is_json, message", [
    (b"<alert><identifier>x</identifier></alert>", False, "no <sent>"),
    (b"<alert><sent>yesterday</sent></alert>", False, "sent: 'yesterday' is not a CAP date-time"),
    (b'{"identifier": "x"}', True, 'no "sent"'),
    (b"[1, 2]", True, 'no "sent"'),
    (b"{nope", True, "not valid JSON"),
])
def test_nothing_to_move_from_is_named(data, is_json, message):
    with pytest.raises(RetimeError, match=message.replace("(", r"\(")):
        retime(data, is_json, now=NOW)


def test_json_wrapped_in_alert_moves_too():
    doc = {"alert": {"sent": "2026-07-30T14:00:00+08:00", "info": [{"expires": "2026-07-30T15:00:00+08:00"}]}}
    out = orjson.loads(retime(orjson.dumps(doc), True, now=NOW))
    assert out["alert"]["sent"] == "2026-12-03T17:30:15+08:00"
    assert out["alert"]["info"][0]["expires"] == "2026-12-03T18:30:15+08:00"
    assert NOW + timedelta(hours=1) == datetime.fromisoformat(out["alert"]["info"][0]["expires"])

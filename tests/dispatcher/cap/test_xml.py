"""CAP XML: hostile and broken inputs are refused, structure is checked, and to_xml reads back equal."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest

from dispatcher.cap import (CAP_NS, Alert, Area, CapError, CapTooLarge, EventCode, Geocode, Info, Parameter,
                            Reference, Resource, UnsupportedMediaType, parse, parse_json, parse_xml, to_dict, to_xml)

from . import SAMPLES, minimal, xml_of

CST = timezone(timedelta(hours=8))
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

HOSTILE = [
    ("xxe file", HEAD + '<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
     f'<alert xmlns="{CAP_NS}"><identifier>&xxe;</identifier></alert>'),
    ("xxe url", HEAD + '<!DOCTYPE alert [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/steal">]>'
     f'<alert xmlns="{CAP_NS}"><note>&xxe;</note></alert>'),
    ("billion laughs", HEAD + '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
     + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
     + f']><alert xmlns="{CAP_NS}"><note>&lol9;</note></alert>'),
    ("quadratic blowup", HEAD + f'<!DOCTYPE alert [<!ENTITY a "{"x" * 10_000}">]>'
     f'<alert xmlns="{CAP_NS}"><note>{"&a;" * 1000}</note></alert>'),
    ("external dtd", HEAD + '<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">'
     f'<alert xmlns="{CAP_NS}"/>'),
    ("parameter entity", HEAD + '<!DOCTYPE alert [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>'
     f'<alert xmlns="{CAP_NS}"/>'),
    ("harmless internal dtd", HEAD + f'<!DOCTYPE alert []><alert xmlns="{CAP_NS}"/>'),
]


@pytest.mark.parametrize("body", [c[1] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_dtds_and_entities_are_refused_not_expanded(body):
    with pytest.raises(CapError) as caught:
        parse_xml(body.encode())
    [error] = caught.value.errors
    assert error.path == "alert"
    assert "DTDs and entities are not allowed" in error.message
    assert "root:" not in error.message  # nothing from /etc/passwd leaked into the message


def test_undeclared_entity_is_refused():
    with pytest.raises(CapError) as caught:
        parse_xml(f'<alert xmlns="{CAP_NS}"><note>&secret;</note></alert>'.encode())
    [error] = caught.value.errors
    assert (error.path, error.message) == (
        "alert", "malformed XML at line 1, column 58: undefined entity (DTDs and entities are not allowed)")


MALFORMED = [
    ("truncated", f'<alert xmlns="{CAP_NS}">\n  <identifier>x</ident', "line 2, column 15", "unclosed token"),
    ("mismatched tag", f'<alert xmlns="{CAP_NS}">\n<identifier>x</sender>\n</alert>', "line 2, column 15",
     "mismatched tag"),
    ("empty body", "", "line 1, column 0", "no element found"),
    ("not xml", "{\"identifier\": 1}", "line 1, column 0", "not well-formed (invalid token)"),
    ("cut after root", f'<alert xmlns="{CAP_NS}"><identifier>x</identifier>', "line 1, column 78", "no element found"),
    ("bad bytes", b"<alert>\xff\xfe</alert>".decode("latin-1"), "line 1, column 7", "not well-formed"),
]


@pytest.mark.parametrize("body, position, reason", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_xml_reports_line_and_column(body, position, reason):
    data = body.encode("latin-1") if "\xff" in body else body.encode()
    with pytest.raises(CapError) as caught:
        parse_xml(data)
    [error] = caught.value.errors
    assert error.path == "alert"
    assert error.message.startswith(f"malformed XML at {position}: ")
    assert reason in error.message


ROOTS = [
    ("cap 9.9", '<alert xmlns="urn:oasis:names:tc:emergency:cap:9.9"/>',
     "root element <alert> is in namespace 'urn:oasis:names:tc:emergency:cap:9.9'; "
     "expected urn:oasis:names:tc:emergency:cap:1.2"),
    ("no namespace", "<alert><identifier>x</identifier></alert>",
     'root element <alert> has no namespace; expected xmlns="urn:oasis:names:tc:emergency:cap:1.2"'),
    ("wrong root", f'<feed xmlns="{CAP_NS}"/>',
     f"root element is <feed> in namespace '{CAP_NS}'; expected <alert> in namespace {CAP_NS}"),
    ("atom root", '<feed xmlns="http://www.w3.org/2005/Atom"/>',
     "root element is <feed> in namespace 'http://www.w3.org/2005/Atom'; expected <alert>"),
]


@pytest.mark.parametrize("body, message", [c[1:] for c in ROOTS], ids=[c[0] for c in ROOTS])
def test_root_must_be_cap_1_2_alert(body, message):
    with pytest.raises(CapError) as caught:
        parse_xml(body.encode())
    [error] = caught.value.errors
    assert error.path == "alert"
    assert message in error.message


def test_oversize_body_is_refused_before_parsing():
    body = xml_of(minimal())
    with pytest.raises(CapTooLarge) as caught:
        parse_xml(body + b"<!-- not even well-formed", max_bytes=len(body))
    assert (caught.value.size_bytes, caught.value.max_bytes) == (len(body) + 25, len(body))
    assert caught.value.errors[0].message == f"body is {len(body) + 25} bytes; the limit is {len(body)} bytes"
    assert isinstance(caught.value, CapError)


def test_body_at_the_limit_is_accepted():
    body = xml_of(minimal())
    assert parse_xml(body, max_bytes=len(body)).identifier == "bjmb-20260730-001"


def test_default_limit_is_one_mebibyte():
    padding = b" " * (1 << 20)
    with pytest.raises(CapTooLarge):
        parse_xml(xml_of(minimal()) + padding)


def _with(body: bytes, old: str, new: str) -> bytes:
    assert old.encode() in body
    return body.replace(old.encode(), new.encode(), 1)


STRUCTURE = [
    ("unknown alert element", "<scope>Public</scope>", "<scope>Public</scope><priority>1</priority>",
     "alert/priority", "unknown element <priority>"),
    ("misspelt element", "<msgType>", "<msgtype>Alert</msgtype><msgType>", "alert/msgtype",
     "unknown element <msgtype>; did you mean 'msgType'?"),
    ("unknown info element", "<event>暴雨</event>", "<event>暴雨</event><colour>red</colour>", "alert/info[0]/colour",
     "unknown element <colour>"),
    ("unknown area element", "<areaDesc>Dongcheng</areaDesc>", "<areaDesc>Dongcheng</areaDesc><radius>3</radius>",
     "alert/info[1]/area[0]/radius", "unknown element <radius>"),
    ("foreign namespace", "<scope>Public</scope>", '<scope>Public</scope><x:scope xmlns:x="urn:other">y</x:scope>',
     "alert/scope", "unknown element <scope> in namespace 'urn:other'"),
    ("no namespace child", "<scope>Public</scope>", '<scope>Public</scope><note xmlns="">n</note>', "alert/note",
     "unknown element <note> with no namespace"),
    ("duplicate identifier", "<sender>", "<identifier>again</identifier><sender>", "alert/identifier",
     "appears more than once; CAP allows one <identifier> here"),
    ("duplicate severity", "<certainty>", "<severity>Minor</severity><certainty>", "alert/info[0]/severity",
     "appears more than once"),
    ("elements inside text element", "<event>暴雨</event>", "<event><b>暴雨</b></event>", "alert/info[0]/event",
     "must hold text, not child elements"),
]


@pytest.mark.parametrize("old, new, path, message", [c[1:] for c in STRUCTURE], ids=[c[0] for c in STRUCTURE])
def test_structure_problems_name_the_path(old, new, path, message):
    with pytest.raises(CapError) as caught:
        parse_xml(_with(xml_of(minimal()), old, new))
    found = [(e.path, e.message) for e in caught.value.errors]
    assert any(p == path and message in m for p, m in found), found


def test_signature_comments_and_processing_instructions_are_allowed():
    body = _with(xml_of(minimal()), "</alert>",
                 '<!-- signed --><?audit ok?><Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'
                 "<SignedInfo/></Signature></alert>")
    assert parse_xml(body) == parse_json(minimal())


def test_pretty_printed_whitespace_is_trimmed():
    body = _with(xml_of(minimal()), "<event>暴雨</event>", "<event>\n      暴雨\n    </event>")
    assert parse_xml(body).infos[0].event == "暴雨"


def test_other_encodings_are_read():
    body = xml_of(minimal()).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert parse_xml(body).infos[0].event == "暴雨"


def test_sample_reads():
    alert = parse_xml((SAMPLES / "rainstorm_red.xml").read_bytes())
    assert alert.identity() == ("bjmb@cma.gov.cn", "bjmb-20260730140000-rainstorm-red", "2026-07-30T14:00:00+08:00")
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    assert [i.language for i in alert.infos] == ["zh-CN", "en-US"]
    assert [i.event for i in alert.infos] == ["暴雨", "Rainstorm"]
    assert alert.severity() == "Extreme" and alert.urgency() == "Immediate"
    assert alert.categories() == {"Met"}
    assert alert.infos[0].sender_name == "北京市气象台"
    assert alert.infos[0].parameter("level") == "red"
    assert alert.expires_at() == datetime(2026, 7, 30, 20, tzinfo=CST)
    assert alert.geocodes() == ["110101", "110102", "110105", "110106", "110107", "110108", "110109", "110111",
                                "110112", "110113", "110114", "110115", "110116", "110117", "110118", "110119"]
    for info in alert.infos:
        [area] = info.areas
        assert {g.value_name for g in area.geocodes} == {"GB/T 2260"} and len(area.geocodes) == 16
    assert alert.infos[0].areas[0].area_desc.count("、") == 15


# -- round trip ----------------------------------------------------------------

def _every_optional_element() -> Alert:
    sent = datetime(2026, 7, 30, 14, tzinfo=CST)
    return Alert(
        identifier="bjmb-20260730-full", sender="bjmb@cma.gov.cn", sent=sent, status="Exercise", msg_type="Update",
        source="北京市气象台值班室", scope="Private", restriction="仅限应急部门", addresses=["ops@bj.gov.cn", "duty desk"],
        codes=["CN-BJ", "drill 2026"], note="演练 <不是> 真实 & 预警",
        references=[Reference("bjmb@cma.gov.cn", "bjmb-20260730-001", "2026-07-30T13:00:00+08:00"),
                    Reference("bjmb@cma.gov.cn", "bjmb-20260730-002", "2026-07-30T05:30:00.250-00:00")],
        incidents=["flood-0730", "west hills"],
        infos=[Info(
            language="zh-CN", categories=["Met", "Geo"], event="暴雨", response_types=["Avoid", "Prepare"],
            urgency="Expected", severity="Severe", certainty="Possible", audience="公众",
            event_codes=[EventCode("CMA", "11B03"), EventCode("SAME", "FFW")],
            effective=sent, onset=datetime(2026, 7, 30, 15, 30, 0, 500000, tzinfo=CST),
            expires=datetime(2026, 7, 31, 2, tzinfo=timezone(timedelta(hours=-5))),
            sender_name="北京市气象台", headline="暴雨橙色预警", description="预计未来6小时……\n第二段", instruction="注意防范",
            web="http://bj.cma.gov.cn/alerts/full?x=1&y=2", contact="12121",
            parameters=[Parameter("level", "orange"), Parameter("source", "radar")],
            resources=[Resource("雷达回波图", "image/png", size=20480, uri="http://bj.cma.gov.cn/r.png",
                                deref_uri="iVBORw0KGgo=", digest="da39a3ee5e6b4b0d3255bfef95601890afd80709"),
                       Resource("map", "application/geo+json")],
            areas=[Area(area_desc="西山", polygons=[[(39.9, 116.1), (39.9, 116.25), (40.05, 116.25), (39.9, 116.1)],
                                                   [(-16.0, 179.0), (-16.0, 180.0), (-18.0, 180.0), (-16.0, 179.0)]],
                        circles=[(39.93, 116.42, 12.5), (40.0, -0.000001, 0.3)],
                        geocodes=[Geocode("GB/T 2260", "110108"), Geocode("GB/T 2260", "110109001")],
                        altitude=-12.25, ceiling=30000.0),
                   Area(area_desc="东城区")],
        ), Info(language="en-US", categories=["Met"], event="Rainstorm", urgency="Expected", severity="Severe",
                certainty="Possible")],
    )


ROUND_TRIP = [
    ("sample", lambda: parse_xml((SAMPLES / "rainstorm_red.xml").read_bytes())),
    ("minimal", lambda: parse_json(minimal())),
    ("every optional element", _every_optional_element),
    ("cancel without info", lambda: Alert(
        identifier="c-1", sender="bjmb@cma.gov.cn", sent=datetime(2026, 7, 30, 16, tzinfo=CST), msg_type="Cancel",
        references=[Reference("bjmb@cma.gov.cn", "bjmb-1", "2026-07-30T14:00:00+08:00")])),
    ("sent text kept as given", lambda: parse_json({**minimal(), "sent": "2026-07-30T06:00:00.000-00:00"})),
]


@pytest.mark.parametrize("make", [c[1] for c in ROUND_TRIP], ids=[c[0] for c in ROUND_TRIP])
def test_to_xml_round_trips(make):
    alert = make()
    again = parse_xml(to_xml(alert))
    assert again == alert
    assert again.sent_text == alert.sent_text
    assert parse_xml(to_xml(again)) == again


def test_to_xml_writes_cap_1_2_in_standard_order():
    body = to_xml(_every_optional_element())
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                           b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">')
    root = ET.fromstring(body)
    names = [child.tag.split("}")[1] for child in root]
    assert names == ["identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
                     "addresses", "code", "code", "note", "references", "incidents", "info", "info"]
    info = [child.tag.split("}")[1] for child in root.find(f"{{{CAP_NS}}}info")]
    assert info == ["language", "category", "category", "event", "responseType", "responseType", "urgency",
                    "severity", "certainty", "audience", "eventCode", "eventCode", "effective", "onset", "expires",
                    "senderName", "headline", "description", "instruction", "web", "contact", "parameter",
                    "parameter", "resource", "resource", "area", "area"]
    area = root.find(f"{{{CAP_NS}}}info/{{{CAP_NS}}}area")
    assert [c.tag.split("}")[1] for c in area] == ["areaDesc", "polygon", "polygon", "circle", "circle", "geocode",
                                                   "geocode", "altitude", "ceiling"]
    resource = root.find(f"{{{CAP_NS}}}info/{{{CAP_NS}}}resource")
    assert [c.tag.split("}")[1] for c in resource] == ["resourceDesc", "mimeType", "size", "uri", "derefUri", "digest"]


def test_to_xml_writes_values_in_cap_text_form():
    body = to_xml(_every_optional_element()).decode()
    assert "<sent>2026-07-30T14:00:00+08:00</sent>" in body
    assert "<expires>2026-07-31T02:00:00-05:00</expires>" in body
    assert "<onset>2026-07-30T15:30:00.500000+08:00</onset>" in body
    assert "<polygon>39.9,116.1 39.9,116.25 40.05,116.25 39.9,116.1</polygon>" in body
    assert "<circle>40,-0.000001 0.3</circle>" in body
    assert "<addresses>ops@bj.gov.cn \"duty desk\"</addresses>" in body
    assert "<references>bjmb@cma.gov.cn,bjmb-20260730-001,2026-07-30T13:00:00+08:00 " in body
    assert "<note>演练 &lt;不是&gt; 真实 &amp; 预警</note>" in body
    assert "<altitude>-12.25</altitude>" in body and "<ceiling>30000</ceiling>" in body
    assert "Z<" not in body


MEDIA = [
    ("application/cap+xml", "xml"),
    ("application/xml", "xml"),
    ("text/xml; charset=utf-8", "xml"),
    ("Application/CAP+XML", "xml"),
    ("application/json", "json"),
    ("application/json; charset=UTF-8", "json"),
]


@pytest.mark.parametrize("content_type, form", MEDIA)
def test_parse_dispatches_on_media_type(content_type, form):
    import orjson

    body = xml_of(minimal()) if form == "xml" else orjson.dumps(minimal())
    assert parse(body, content_type) == parse_json(minimal())


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "", "xml"])
def test_parse_refuses_other_media_types(content_type):
    with pytest.raises(UnsupportedMediaType) as caught:
        parse(xml_of(minimal()), content_type)
    [error] = caught.value.errors
    assert error.path == "Content-Type"
    assert f"unsupported media type {content_type!r}" in error.message
    assert isinstance(caught.value, CapError)


def test_parse_applies_the_size_limit():
    with pytest.raises(CapTooLarge):
        parse(xml_of(minimal()), "application/cap+xml", max_bytes=100)


def test_to_dict_of_parsed_xml_matches_sample_json():
    import orjson

    from_xml = parse_xml((SAMPLES / "rainstorm_red.xml").read_bytes())
    assert to_dict(from_xml) == orjson.loads((SAMPLES / "rainstorm_red.json").read_bytes())

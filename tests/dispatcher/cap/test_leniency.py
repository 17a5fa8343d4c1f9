"""CAP as real feeds write it: accepted where the OASIS schema accepts it, refused where it is broken."""
from __future__ import annotations

import pytest

from dispatcher.cap import CapError, parse_xml, to_xml
from dispatcher.cap.schema import CAP_10_NS, CAP_11_NS, CAP_NS

INFO = """<info><language>en-US</language><category>Geo</category><event>Earthquake</event>
<urgency>Immediate</urgency><severity>Severe</severity><certainty>{certainty}</certainty>
<expires>2026-12-01T10:00:00-00:00</expires><headline>Quake</headline>
{pairs}
<area><areaDesc>Epicentre</areaDesc>{shape}{geocode}</area></info>"""


def cap(ns: str = CAP_NS, *, prefix: str = "", head: str = '<?xml version="1.0" encoding="UTF-8"?>',
        sent: str = "2026-11-30T10:00:00-00:00", extra: str = "", certainty: str = "Observed",
        pairs: str = "<parameter><valueName>mag</valueName><value/></parameter>",
        shape: str = "<circle>39.9,116.4 0</circle>", geocode: str = "", msg: str = "Alert",
        refs: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    body = (f"<identifier>eq-1</identifier><sender>usgs@example.gov</sender><sent>{sent}</sent>"
            f"<status>Actual</status><msgType>{msg}</msgType>{extra}<scope>Public</scope>{refs}"
            + INFO.format(certainty=certainty, pairs=pairs, shape=shape, geocode=geocode))
    if p:
        import re
        body = re.sub(r"<(/?)(\w+)", lambda m: f"<{m.group(1)}{p}{m.group(2)}", body)
        body = re.sub(r"<(\w+:)?(\w+)/>", lambda m: f"<{p}{m.group(2)}/>", body)
    xmlns = f'xmlns:{prefix}="{ns}"' if prefix else f'xmlns="{ns}"'
    return f'{head}\n<{p}alert {xmlns}>{body}</{p}alert>'


ACCEPTED = [
    ("empty parameter value", cap(), lambda a: a.infos[0].parameters[0].value == ""),
    ("-00:00 offsets", cap(), lambda a: a.sent_text == "2026-11-30T10:00:00-00:00"),
    ("radius 0 is a point", cap(), lambda a: a.infos[0].areas[0].circles == [(39.9, 116.4, 0.0)]),
    ("prefixed namespace", cap(prefix="cap"), lambda a: a.identifier == "eq-1"),
    ("CAP 1.1", cap(CAP_11_NS), lambda a: a.infos[0].event == "Earthquake"),
    ("CAP 1.0 pairs as text", cap(CAP_10_NS, pairs="<parameter>mag=5.1</parameter>",
                                  geocode="<geocode>GB/T 2260=110105</geocode>"),
     lambda a: (a.infos[0].parameters[0].value, a.infos[0].areas[0].geocodes[0].value) == ("5.1", "110105")),
    ("CAP 1.0 Very Likely", cap(CAP_10_NS, certainty="Very Likely"), lambda a: a.infos[0].certainty == "Likely"),
    ("CAP 1.0 password", cap(CAP_10_NS, extra="<password>s3cret</password>"),
     lambda a: any("password" in w.path for w in a.warnings)),
    ("empty polygon", cap(shape="<polygon/><circle>39.9,116.4 5</circle>"),
     lambda a: len(a.infos[0].areas[0].polygons) == 0 and a.warnings),
    ("empty geocode value", cap(geocode="<geocode><valueName>GB/T 2260</valueName><value/></geocode>"),
     lambda a: a.infos[0].areas[0].geocodes == [] and a.warnings),
]


@pytest.mark.parametrize("case,doc,check", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_forms(case, doc, check):
    alert = parse_xml(doc.encode("utf-8"))
    assert check(alert)
    again = to_xml(alert)
    assert f'xmlns="{CAP_NS}"'.encode() in again  # stored and served as CAP 1.2
    assert parse_xml(again) == alert


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "UTF-16"])
def test_any_declared_encoding_is_read(encoding):
    doc = cap(head=f'<?xml version="1.0" encoding="{encoding}"?>').replace("Epicentre", "Épicentre près de Zürich")
    alert = parse_xml(doc.encode(encoding))
    assert alert.infos[0].areas[0].area_desc == "Épicentre près de Zürich"


REFUSED = [
    ("missing identifier", cap().replace("<identifier>eq-1</identifier>", ""), "alert/identifier"),
    ("bad status enum", cap().replace("<status>Actual</status>", "<status>Real</status>"), "alert/status"),
    ("open polygon", cap(shape="<polygon>39.9,116.4 39.9,116.5 40.0,116.5 40.0,116.4</polygon>"),
     "alert/info[0]/area[0]/polygon[0]"),
    ("self-intersecting polygon",
     cap(shape="<polygon>39.9,116.4 40.0,116.5 39.9,116.5 40.0,116.4 39.9,116.4</polygon>"),
     "alert/info[0]/area[0]/polygon[0]"),
    ("negative radius", cap(shape="<circle>39.9,116.4 -1</circle>"), "alert/info[0]/area[0]/circle[0]"),
    ("DTD", cap(head='<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x "y">]>'), "alert"),
    ("CAP 1.0 unknown element", cap(CAP_10_NS, extra="<colour>red</colour>"), "alert/colour"),
    ("unknown version", cap("urn:oasis:names:tc:emergency:cap:2.0"), "alert"),
]


@pytest.mark.parametrize("case,doc,path", REFUSED, ids=[c[0] for c in REFUSED])
def test_still_refused(case, doc, path):
    with pytest.raises(CapError) as err:
        parse_xml(doc.encode("utf-8"))
    assert path in [e.path for e in err.value.errors]

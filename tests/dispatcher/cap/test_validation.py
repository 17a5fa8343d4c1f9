"""Every CAP 1.2 rule, valid and invalid, through both readers (JSON and XML) with the same paths."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dispatcher.cap import CapError, parse_json, parse_xml
from dispatcher.cap import vocab

from . import DELETE, minimal, patched, xml_of

READERS = {
    "json": lambda doc: parse_json(doc),
    "xml": lambda doc: parse_xml(xml_of(doc)),
}

I0 = "alert/info[0]"
A0 = "alert/info[0]/area[0]"
RES = {"resourceDesc": "雷达回波图", "mimeType": "image/png"}
CANCEL_REF = "bjmb@cma.gov.cn,bjmb-20260730-000,2026-07-30T13:00:00+08:00"
SQUARE = "39.9,116.3 39.9,116.5 40.1,116.5 40.1,116.3 39.9,116.3"


@pytest.fixture(params=sorted(READERS))
def read(request):
    return READERS[request.param]


def errors_of(read, doc) -> list[tuple[str, str]]:
    with pytest.raises(CapError) as caught:
        read(doc)
    return [(e.path, e.message) for e in caught.value.errors]


# (case id, changes to the minimal alert, expected path, expected message fragment)
INVALID = [
    # -- required elements ----------------------------------------------------
    ("identifier missing", {"identifier": DELETE}, "alert/identifier", "is required"),
    ("identifier empty", {"identifier": "  "}, "alert/identifier", "is required"),
    ("sender missing", {"sender": DELETE}, "alert/sender", "is required"),
    ("sent missing", {"sent": DELETE}, "alert/sent", "is required"),
    ("status missing", {"status": DELETE}, "alert/status", "is required"),
    ("msgType missing", {"msgType": DELETE}, "alert/msgType", "is required"),
    ("scope missing", {"scope": DELETE}, "alert/scope", "is required"),
    ("category missing", {"info.0.category": DELETE}, f"{I0}/category", "is required (at least one)"),
    ("category empty item", {"info.0.category": [""]}, f"{I0}/category[0]", "must not be empty"),
    ("event missing", {"info.1.event": DELETE}, "alert/info[1]/event", "is required"),
    ("urgency missing", {"info.0.urgency": DELETE}, f"{I0}/urgency", "is required"),
    ("severity missing", {"info.0.severity": DELETE}, f"{I0}/severity", "is required"),
    ("certainty missing", {"info.0.certainty": DELETE}, f"{I0}/certainty", "is required"),
    ("areaDesc missing", {"info.0.area.0.areaDesc": DELETE}, f"{A0}/areaDesc", "is required"),
    ("resourceDesc missing", {"info.0.resource": [{"mimeType": "image/png"}]},
     f"{I0}/resource[0]/resourceDesc", "is required"),
    ("mimeType missing", {"info.0.resource": [{"resourceDesc": "radar"}]}, f"{I0}/resource[0]/mimeType", "is required"),
    ("restriction needed", {"scope": "Restricted"}, "alert/restriction", "is required when scope is Restricted"),
    ("addresses needed", {"scope": "Private"}, "alert/addresses", "is required when scope is Private"),
    ("references for Update", {"msgType": "Update"}, "alert/references", "is required when msgType is Update"),
    ("references for Cancel", {"msgType": "Cancel"}, "alert/references", "is required when msgType is Cancel"),
    ("references for Ack", {"msgType": "Ack"}, "alert/references", "is required when msgType is Ack"),
    ("references for Error", {"msgType": "Error"}, "alert/references", "is required when msgType is Error"),
    ("references blank", {"msgType": "Cancel", "references": " "}, "alert/references",
     "is required when msgType is Cancel"),
    # -- identifier and sender ------------------------------------------------
    ("identifier space", {"identifier": "bjmb 001"}, "alert/identifier",
     "must not contain whitespace, commas, '<' or '&' (found ' ')"),
    ("identifier comma", {"identifier": "bjmb,001"}, "alert/identifier", "(found ',')"),
    ("identifier lt", {"identifier": "bjmb<001"}, "alert/identifier", "(found '<')"),
    ("identifier amp", {"identifier": "bjmb&001"}, "alert/identifier", "(found '&')"),
    ("sender space", {"sender": "bjmb @cma.gov.cn"}, "alert/sender", "(found ' ')"),
    ("sender comma", {"sender": "bjmb,cma"}, "alert/sender", "(found ',')"),
    ("sender amp", {"sender": "a&b"}, "alert/sender", "(found '&')"),
    ("sender lt", {"sender": "a<b"}, "alert/sender", "(found '<')"),
    # -- enumerations ---------------------------------------------------------
    ("status", {"status": "Real"}, "alert/status", "'Real' is not one of Actual, Exercise, System, Test, Draft"),
    ("status case", {"status": "actual"}, "alert/status", "did you mean 'Actual'?"),
    ("msgType", {"msgType": "Notice"}, "alert/msgType", "is not one of Alert, Update, Cancel, Ack, Error"),
    ("scope", {"scope": "Everyone"}, "alert/scope", "is not one of Public, Restricted, Private"),
    ("category", {"info.0.category": ["Met", "Weather"]}, f"{I0}/category[1]",
     "'Weather' is not one of Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other"),
    ("responseType", {"info.0.responseType": ["Run"]}, f"{I0}/responseType[0]",
     "is not one of Shelter, Evacuate, Prepare, Execute, Avoid, Monitor, Assess, AllClear, None"),
    ("urgency", {"info.0.urgency": "Now"}, f"{I0}/urgency", "is not one of Immediate, Expected, Future, Past, Unknown"),
    ("severity", {"info.0.severity": "High"}, f"{I0}/severity",
     "is not one of Extreme, Severe, Moderate, Minor, Unknown"),
    ("certainty", {"info.0.certainty": "Sure"}, f"{I0}/certainty",
     "is not one of Observed, Likely, Possible, Unlikely, Unknown"),
    # -- date-times -----------------------------------------------------------
    ("sent Z", {"sent": "2026-07-30T06:00:00Z"}, "alert/sent", "needs an explicit offset such as +08:00"),
    ("sent no offset", {"sent": "2026-07-30T14:00:00"}, "alert/sent", "needs an explicit offset such as +08:00"),
    ("sent date only", {"sent": "2026-07-30"}, "alert/sent", "is not a CAP date-time YYYY-MM-DDThh:mm:ss±hh:mm"),
    ("sent space", {"sent": "2026-07-30 14:00:00+08:00"}, "alert/sent", "is not a CAP date-time"),
    ("sent compact offset", {"sent": "2026-07-30T14:00:00+0800"}, "alert/sent", "is not a CAP date-time"),
    ("sent impossible day", {"sent": "2026-02-30T14:00:00+08:00"}, "alert/sent", "is not a real date-time"),
    ("sent impossible offset", {"sent": "2026-07-30T14:00:00+25:00"}, "alert/sent", "has an impossible offset +25:00"),
    ("effective Z", {"info.0.effective": "2026-07-30T06:00:00Z"}, f"{I0}/effective", "needs an explicit offset"),
    ("onset no offset", {"info.0.onset": "2026-07-30T15:00:00"}, f"{I0}/onset", "needs an explicit offset"),
    ("expires Z", {"info.1.expires": "2026-07-30T12:00:00Z"}, "alert/info[1]/expires", "needs an explicit offset"),
    ("expires before effective", {"info.0.effective": "2026-07-30T21:00:00+08:00"}, f"{I0}/expires",
     "2026-07-30T20:00:00+08:00 is not after effective (2026-07-30T21:00:00+08:00)"),
    ("expires at effective", {"info.0.effective": "2026-07-30T12:00:00-00:00"}, f"{I0}/expires",
     "is not after effective"),
    # -- references -----------------------------------------------------------
    ("reference two parts", {"msgType": "Cancel", "references": "bjmb@cma.gov.cn,bjmb-1"}, "alert/references",
     "reference 0 'bjmb@cma.gov.cn,bjmb-1' is not sender,identifier,sent"),
    ("reference empty part", {"msgType": "Update", "references": f"{CANCEL_REF} ,bjmb-2,2026-07-30T13:00:00+08:00"},
     "alert/references", "reference 1 ',bjmb-2,2026-07-30T13:00:00+08:00' is not sender,identifier,sent"),
    ("reference four parts", {"msgType": "Update", "references": f"{CANCEL_REF},x"}, "alert/references",
     "is not sender,identifier,sent"),
    ("reference bad sent", {"msgType": "Cancel", "references": "bjmb@cma.gov.cn,bjmb-1,yesterday"},
     "alert/references", "reference 0 sent: 'yesterday' is not a CAP date-time"),
    ("reference Z sent", {"msgType": "Cancel", "references": "bjmb@cma.gov.cn,bjmb-1,2026-07-30T05:00:00Z"},
     "alert/references", "needs an explicit offset such as +08:00"),
    # -- polygon --------------------------------------------------------------
    ("polygon 3 points", {"info.0.area.0.polygon": ["39.9,116.3 40.1,116.5 39.9,116.3"]}, f"{A0}/polygon[0]",
     "has 3 points; a polygon needs at least 4"),
    ("polygon not closed", {"info.0.area.0.polygon": ["39.9,116.3 39.9,116.5 40.1,116.5 40.1,116.3"]},
     f"{A0}/polygon[0]", "is not closed: the first point 39.9,116.3 and the last 40.1,116.3 differ"),
    ("polygon lat range", {"info.0.area.0.polygon": ["39.9,116.3 91,116.5 40.1,116.5 39.9,116.3"]},
     f"{A0}/polygon[0]", "point 1 latitude 91 is outside [-90, 90]"),
    ("polygon lon range", {"info.0.area.0.polygon": ["39.9,116.3 39.9,181 40.1,116.5 39.9,116.3"]},
     f"{A0}/polygon[0]", "point 1 longitude 181 is outside [-180, 180]"),
    ("polygon not numbers", {"info.0.area.0.polygon": ["39.9,116.3 north,east 40.1,116.5 39.9,116.3"]},
     f"{A0}/polygon[0]", "point 1 'north,east' is not a 'lat,lon' pair of numbers"),
    ("polygon semicolons", {"info.0.area.0.polygon": ["39.9;116.3 39.9;116.5 40.1;116.5 39.9;116.3"]},
     f"{A0}/polygon[0]", "point 0 '39.9;116.3' is not a 'lat,lon' pair"),
    ("polygon nan", {"info.0.area.0.polygon": ["nan,116.3 39.9,116.5 40.1,116.5 nan,116.3"]},
     f"{A0}/polygon[0]", "finite numbers"),
    ("polygon self-intersecting", {"info.0.area.0.polygon": ["39.9,116.3 40.1,116.5 39.9,116.5 40.1,116.3 39.9,116.3"]},
     f"{A0}/polygon[0]", "Self-intersection"),
    ("polygon antimeridian", {"info.0.area.0.polygon": ["-16,179 -16,-179 -18,-179 -18,179 -16,179"]},
     f"{A0}/polygon[0]", "antimeridian-crossing polygons must be split in two"),
    ("polygon second of two", {"info.0.area.0.polygon": [SQUARE, "1,1 2,2 1,1"]}, f"{A0}/polygon[1]",
     "has 3 points"),
    ("polygon in second area", {"info.0.area.1": {"areaDesc": "x", "polygon": ["1,1 2,2 1,1"]}},
     "alert/info[0]/area[1]/polygon[0]", "has 3 points"),
    # -- circle ---------------------------------------------------------------
    ("circle no radius", {"info.0.area.0.circle": ["39.9,116.4"]}, f"{A0}/circle[0]",
     "'39.9,116.4' is not 'lat,lon radius' (radius in km)"),
    ("circle negative radius", {"info.0.area.0.circle": ["39.9,116.4 -5"]}, f"{A0}/circle[0]", "0 or more"),
    ("circle radius text", {"info.0.area.0.circle": ["39.9,116.4 ten"]}, f"{A0}/circle[0]",
     "radius 'ten' is not a number of km"),
    ("circle lat range", {"info.0.area.0.circle": ["-91,116.4 5"]}, f"{A0}/circle[0]",
     "centre latitude -91 is outside [-90, 90]"),
    ("circle lon range", {"info.0.area.0.circle": ["39.9,-180.5 5"]}, f"{A0}/circle[0]",
     "centre longitude -180.5 is outside [-180, 180]"),
    # -- value pairs ----------------------------------------------------------
    ("geocode no value", {"info.0.area.0.geocode": [{"valueName": "GB/T 2260"}]}, f"{A0}/geocode[0]/value",
     "is required"),
    ("geocode no valueName", {"info.0.area.0.geocode": [{"value": "110101"}]}, f"{A0}/geocode[0]/valueName",
     "is required"),
    ("eventCode no value", {"info.0.eventCode": [{"valueName": "CMA"}]}, f"{I0}/eventCode[0]/value", "is required"),
    ("eventCode no valueName", {"info.0.eventCode": [{"value": "11B03"}]}, f"{I0}/eventCode[0]/valueName",
     "is required"),
    ("parameter no value", {"info.0.parameter.1": {"valueName": "x"}}, f"{I0}/parameter[1]/value", "is required"),
    ("parameter no valueName", {"info.0.parameter.1": {"value": "x"}}, f"{I0}/parameter[1]/valueName", "is required"),
    # -- resource -------------------------------------------------------------
    ("size negative", {"info.0.resource": [{**RES, "size": "-1"}]}, f"{I0}/resource[0]/size",
     "'-1' is not a whole number of bytes"),
    ("size text", {"info.0.resource": [{**RES, "size": "big"}]}, f"{I0}/resource[0]/size", "is not a whole number"),
    ("size fraction", {"info.0.resource": [{**RES, "size": "1.5"}]}, f"{I0}/resource[0]/size", "is not a whole number"),
    ("mimeType shape", {"info.0.resource": [{"resourceDesc": "map", "mimeType": "png"}]},
     f"{I0}/resource[0]/mimeType", "'png' is not a MIME type"),
    # -- China warning levels -------------------------------------------------
    ("level contradicts", {"info.0.severity": "Moderate"}, f"{I0}/parameter[0]",
     "level red means severity Extreme but severity is Moderate"),
    ("level 红色 contradicts", {"info.0.parameter.0.value": "红色", "info.0.severity": "Severe"}, f"{I0}/parameter[0]",
     "level 红色 means severity Extreme but severity is Severe"),
    ("warningLevel orange", {"info.0.parameter": [{"valueName": "warningLevel", "value": "Orange"}]},
     f"{I0}/parameter[0]", "level Orange means severity Severe but severity is Extreme"),
    ("预警级别 黄色", {"info.0.parameter": [{"valueName": "预警级别", "value": "黄色"}]}, f"{I0}/parameter[0]",
     "level 黄色 means severity Moderate"),
    ("颜色 蓝色", {"info.0.parameter": [{"valueName": "颜色", "value": "蓝色"}]}, f"{I0}/parameter[0]",
     "level 蓝色 means severity Minor"),
    ("COLOR blue", {"info.0.parameter": [{"valueName": "COLOR", "value": "BLUE"}]}, f"{I0}/parameter[0]",
     "level BLUE means severity Minor"),
    ("level unknown value", {"info.0.parameter.0.value": "purple"}, f"{I0}/parameter[0]",
     "unrecognised warning level 'purple'; expected red, orange, yellow or blue"),
    ("level third parameter", {"info.0.parameter": [{"valueName": "a", "value": "1"}, {"valueName": "b", "value": "2"},
                                                     {"valueName": "level", "value": "yellow"}]},
     f"{I0}/parameter[2]", "level yellow means severity Moderate but severity is Extreme"),
    ("two levels disagree", {"info.0.severity": "Unknown",
                             "info.0.parameter": [{"valueName": "level", "value": "red"},
                                                  {"valueName": "color", "value": "blue"}]},
     f"{I0}/parameter[1]", "level blue means severity Minor but severity is Extreme"),
    # -- other rules of the standard ------------------------------------------
    ("language tag", {"info.0.language": "zh_CN"}, f"{I0}/language", "'zh_CN' is not a language tag"),
    ("ceiling alone", {"info.0.area.0.ceiling": "3000"}, f"{A0}/ceiling", "may only be given together with altitude"),
    ("ceiling below altitude", {"info.0.area.0.altitude": "3000", "info.0.area.0.ceiling": "1000"}, f"{A0}/ceiling",
     "1000 is below altitude 3000"),
    ("altitude text", {"info.0.area.0.altitude": "high"}, f"{A0}/altitude", "'high' is not a decimal number"),
    ("addresses unclosed quote", {"scope": "Private", "addresses": 'ops "duty desk'}, "alert/addresses",
     "has an unclosed double quote"),
]


@pytest.mark.parametrize("changes, path, fragment", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid(read, changes, path, fragment):
    errors = errors_of(read, patched(changes))
    matching = [m for p, m in errors if p == path]
    assert matching, f"no error at {path}; got {errors}"
    assert any(fragment in m for m in matching), f"{fragment!r} not in {matching}"


# (case id, changes to the minimal alert, check on the parsed alert)
VALID = [
    ("minimal", {}, lambda a: a.identity() == ("bjmb@cma.gov.cn", "bjmb-20260730-001", "2026-07-30T14:00:00+08:00")),
    ("cancel without info", {"msgType": "Cancel", "references": CANCEL_REF, "info": DELETE},
     lambda a: a.infos == [] and a.references[0].identity() == tuple(CANCEL_REF.split(","))),
    ("alert without info", {"info": DELETE}, lambda a: a.infos == []),
    ("update with two references", {"msgType": "Update",
                                    "references": f"{CANCEL_REF}  bjmb@cma.gov.cn,bjmb-2,2026-07-30T13:30:00.5+08:00"},
     lambda a: [r.identifier for r in a.references] == ["bjmb-20260730-000", "bjmb-2"]
     and a.references[1].sent == "2026-07-30T13:30:00.5+08:00"),
    ("restricted", {"scope": "Restricted", "restriction": "emergency services only"},
     lambda a: a.restriction == "emergency services only"),
    ("private quoted addresses", {"scope": "Private", "addresses": 'ops@bj.gov.cn "duty desk" 110'},
     lambda a: a.addresses == ["ops@bj.gov.cn", "duty desk", "110"]),
    ("incidents", {"incidents": 'flood-0730 "west hills"'}, lambda a: a.incidents == ["flood-0730", "west hills"]),
    ("sent fraction", {"sent": "2026-07-30T14:00:00.123+08:00"},
     lambda a: a.sent.microsecond == 123000 and a.sent_text == "2026-07-30T14:00:00.123+08:00"),
    ("sent utc minus zero", {"sent": "2026-07-30T06:00:00-00:00"},
     lambda a: a.sent == datetime(2026, 7, 30, 14, tzinfo=timezone(timedelta(hours=8)))
     and a.sent_text == "2026-07-30T06:00:00-00:00"),
    ("sent negative offset", {"sent": "2026-07-30T01:00:00-05:00"},
     lambda a: a.sent.utcoffset() == timedelta(hours=-5)),
    ("sent with whitespace kept trimmed", {"sent": " 2026-07-30T14:00:00+08:00 "},
     lambda a: a.sent_text == "2026-07-30T14:00:00+08:00"),
    ("same language and event twice", {"info.1": {**minimal()["info"][0]}},
     lambda a: [i.language for i in a.infos] == ["zh-CN", "zh-CN"]),
    ("no language means en-US", {"info.1.language": DELETE}, lambda a: a.infos[1].language == "en-US"),
    ("level fills Unknown severity", {"info.0.severity": "Unknown"}, lambda a: a.infos[0].severity == "Extreme"),
    ("level 橙色 fills Unknown", {"info.0.severity": "Unknown", "info.0.parameter.0.value": "橙色"},
     lambda a: a.infos[0].severity == "Severe"),
    ("level RED agrees", {"info.0.parameter.0.value": "RED"}, lambda a: a.infos[0].parameter("level") == "RED"),
    ("预警级别 红色 agrees", {"info.0.parameter": [{"valueName": "预警级别", "value": "红色"}]},
     lambda a: a.infos[0].severity == "Extreme"),
    ("Color Yellow", {"info.0.severity": "Moderate", "info.0.parameter": [{"valueName": "Color", "value": "Yellow"}]},
     lambda a: a.infos[0].severity == "Moderate"),
    ("other parameter ignored", {"info.0.parameter.0": {"valueName": "signal", "value": "purple"}},
     lambda a: a.infos[0].parameter("signal") == "purple"),
    ("polygon", {"info.0.area.0.polygon": [SQUARE]},
     lambda a: a.infos[0].areas[0].polygons == [
         [(39.9, 116.3), (39.9, 116.5), (40.1, 116.5), (40.1, 116.3), (39.9, 116.3)]]),
    ("polygon across newlines", {"info.0.area.0.polygon": [SQUARE.replace(" ", "\n  ")]},
     lambda a: len(a.infos[0].areas[0].polygons[0]) == 5),
    ("polygon near antimeridian", {"info.0.area.0.polygon": ["-16,179 -16,180 -18,180 -18,179 -16,179"]},
     lambda a: a.infos[0].areas[0].polygons[0][1] == (-16.0, 180.0)),
    ("circle", {"info.0.area.0.circle": ["39.93,116.42 12.5"]},
     lambda a: a.infos[0].areas[0].circles == [(39.93, 116.42, 12.5)]),
    ("area of shapes only", {"info.0.area.0.geocode": DELETE, "info.0.area.0.circle": ["39.93,116.42 5"]},
     lambda a: a.infos[0].areas[0].geocodes == []),
    ("eventCode", {"info.0.eventCode": [{"valueName": "CMA", "value": "11B03"}]},
     lambda a: (a.infos[0].event_codes[0].value_name, a.infos[0].event_codes[0].value) == ("CMA", "11B03")),
    ("resource size 0", {"info.0.resource": [{**RES, "size": "0"}]}, lambda a: a.infos[0].resources[0].size == 0),
    ("resource size big", {"info.0.resource": [{**RES, "size": "123456789"}]},
     lambda a: a.infos[0].resources[0].size == 123456789),
    ("altitude only", {"info.0.area.0.altitude": "1500"}, lambda a: a.infos[0].areas[0].altitude == 1500.0),
    ("altitude and ceiling", {"info.0.area.0.altitude": "-20.5", "info.0.area.0.ceiling": "3000"},
     lambda a: (a.infos[0].areas[0].altitude, a.infos[0].areas[0].ceiling) == (-20.5, 3000.0)),
    ("expires before sent (a late cancel keeps the original expiry)",
     {"msgType": "Cancel", "references": CANCEL_REF, "info.0.expires": "2026-07-30T13:00:00+08:00"},
     lambda a: a.infos[0].expires.hour == 13),
    ("expires absent", {"info.0.expires": DELETE}, lambda a: a.infos[0].expires is None and a.expires_at() is None),
    ("effective and onset",
     {"info.0.effective": "2026-07-30T14:05:00+08:00", "info.0.onset": "2026-07-30T15:00:00+08:00"},
     lambda a: a.infos[0].onset.hour == 15),
    ("language tag with script", {"info.0.language": "zh-Hans-CN"}, lambda a: a.infos[0].language == "zh-Hans-CN"),
    ("codes and note", {"code": ["IPAWSv1.0", "CN-BJ"], "note": "演练请忽略", "source": "雷达"},
     lambda a: a.codes == ["IPAWSv1.0", "CN-BJ"] and a.note == "演练请忽略" and a.source == "雷达"),
    ("identifier with punctuation", {"identifier": "11000041600000000000000000_20260730140000.v2-a:b/c"},
     lambda a: a.identifier.endswith("v2-a:b/c")),
    ("several categories and responses",
     {"info.0.category": ["Met", "Geo"], "info.0.responseType": ["Avoid", "Monitor"]},
     lambda a: a.categories() == {"Met", "Geo"} and a.infos[0].response_types == ["Avoid", "Monitor"]),
]


@pytest.mark.parametrize("changes, check", [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid(read, changes, check):
    alert = read(patched(changes))
    assert check(alert)


ENUMS = [
    ("status", vocab.STATUS, lambda a: a.status),
    ("msgType", vocab.MSG_TYPE, lambda a: a.msg_type),
    ("scope", vocab.SCOPE, lambda a: a.scope),
    ("info.0.category", vocab.CATEGORY, lambda a: a.infos[0].categories[0]),
    ("info.0.responseType", vocab.RESPONSE_TYPE, lambda a: a.infos[0].response_types[0]),
    ("info.0.urgency", vocab.URGENCY, lambda a: a.infos[0].urgency),
    ("info.1.severity", vocab.SEVERITY, lambda a: a.infos[1].severity),
    ("info.0.certainty", vocab.CERTAINTY, lambda a: a.infos[0].certainty),
]
_CONTEXT = {"Restricted": {"restriction": "ops"}, "Private": {"addresses": "ops"}}


@pytest.mark.parametrize("field, value, get", [(f, v, g) for f, values, g in ENUMS for v in values],
                         ids=[f"{f}={v}" for f, values, _ in ENUMS for v in values])
def test_every_enumeration_value_is_accepted(read, field, value, get):
    extra = dict(_CONTEXT.get(value, {}))
    if field == "msgType" and value != "Alert":
        extra["references"] = CANCEL_REF
    item = [value] if field.endswith(("category", "responseType")) else value
    alert = read(patched({field: item, **extra}))
    assert get(alert) == value


def test_enumeration_sets_are_exactly_cap_1_2():
    assert vocab.STATUS == ("Actual", "Exercise", "System", "Test", "Draft")
    assert vocab.MSG_TYPE == ("Alert", "Update", "Cancel", "Ack", "Error")
    assert vocab.SCOPE == ("Public", "Restricted", "Private")
    assert set(vocab.CATEGORY) == {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                                   "Transport", "Infra", "CBRNE", "Other"}
    assert set(vocab.RESPONSE_TYPE) == {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess",
                                        "AllClear", "None"}
    assert vocab.URGENCY == ("Immediate", "Expected", "Future", "Past", "Unknown")
    assert vocab.SEVERITY == ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
    assert vocab.CERTAINTY == ("Observed", "Likely", "Possible", "Unlikely", "Unknown")


def test_all_problems_are_reported_at_once(read):
    doc = patched({
        "identifier": "has space",
        "sent": "2026-07-30T14:00:00Z",
        "status": "Live",
        "info.0.category": ["Weather"],
        "info.0.severity": "Moderate",
        "info.1.area.0.polygon": ["1,1 2,2 1,1"],
        "info.1.area.0.circle": ["1,1 -1"],
    })
    paths = {p for p, _ in errors_of(read, doc)}
    assert paths == {
        "alert/identifier", "alert/sent", "alert/status", f"{I0}/category[0]", f"{I0}/parameter[0]",
        "alert/info[1]/area[0]/polygon[0]", "alert/info[1]/area[0]/circle[0]",
    }


def test_error_text_names_path_and_message(read):
    with pytest.raises(CapError) as caught:
        read(patched({"scope": "Everyone"}))
    assert str(caught.value).startswith("alert/scope: 'Everyone' is not one of Public, Restricted, Private")
    assert caught.value.as_list() == [
        {"path": "alert/scope", "message": "'Everyone' is not one of Public, Restricted, Private"}]

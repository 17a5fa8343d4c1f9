"""An XML Schema for CAP 1.2, written for these tests from the OASIS CAP 1.2 standard (section 3.4).

It states the standard's structure — element order and cardinality, the value
lists, the date-time pattern ``YYYY-MM-DDThh:mm:ss±hh:mm`` — so that the CAP
warncast serves can be checked by an independent validator (``xmlschema``).
"""
from __future__ import annotations

from functools import cache

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def _enum(name: str, values: str) -> str:
    items = "".join(f'<xs:enumeration value="{v}"/>' for v in values.split("|"))
    return f'<xs:element name="{name}"><xs:simpleType><xs:restriction base="xs:string">{items}</xs:restriction></xs:simpleType></xs:element>'


def _enum_many(name: str, values: str, min_occurs: int) -> str:
    items = "".join(f'<xs:enumeration value="{v}"/>' for v in values.split("|"))
    return (f'<xs:element name="{name}" minOccurs="{min_occurs}" maxOccurs="unbounded"><xs:simpleType>'
            f'<xs:restriction base="xs:string">{items}</xs:restriction></xs:simpleType></xs:element>')


def _time(name: str, min_occurs: int = 0) -> str:
    return (f'<xs:element name="{name}" minOccurs="{min_occurs}"><xs:simpleType><xs:restriction base="xs:dateTime">'
            r'<xs:pattern value="\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[\-,+]\d\d:\d\d"/>'
            '</xs:restriction></xs:simpleType></xs:element>')


def _pairs(name: str) -> str:
    return (f'<xs:element name="{name}" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>'
            '<xs:element name="valueName" type="xs:string"/><xs:element name="value" type="xs:string"/>'
            '</xs:sequence></xs:complexType></xs:element>')


def _opt(name: str, kind: str = "xs:string", many: bool = False) -> str:
    many_attr = ' maxOccurs="unbounded"' if many else ""
    return f'<xs:element name="{name}" type="{kind}" minOccurs="0"{many_attr}/>'


@cache
def schema_text() -> str:
    resource = ('<xs:element name="resource" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>'
                '<xs:element name="resourceDesc" type="xs:string"/><xs:element name="mimeType" type="xs:string"/>'
                + _opt("size", "xs:integer") + _opt("uri", "xs:anyURI") + _opt("derefUri") + _opt("digest")
                + '</xs:sequence></xs:complexType></xs:element>')
    area = ('<xs:element name="area" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>'
            '<xs:element name="areaDesc" type="xs:string"/>' + _opt("polygon", many=True) + _opt("circle", many=True)
            + _pairs("geocode") + _opt("altitude", "xs:decimal") + _opt("ceiling", "xs:decimal")
            + '</xs:sequence></xs:complexType></xs:element>')
    info = ('<xs:element name="info" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>'
            '<xs:element name="language" type="xs:language" default="en-US" minOccurs="0"/>'
            + _enum_many("category", "Geo|Met|Safety|Security|Rescue|Fire|Health|Env|Transport|Infra|CBRNE|Other", 1)
            + '<xs:element name="event" type="xs:string"/>'
            + _enum_many("responseType", "Shelter|Evacuate|Prepare|Execute|Avoid|Monitor|Assess|AllClear|None", 0)
            + _enum("urgency", "Immediate|Expected|Future|Past|Unknown")
            + _enum("severity", "Extreme|Severe|Moderate|Minor|Unknown")
            + _enum("certainty", "Observed|Likely|Possible|Unlikely|Unknown")
            + _opt("audience") + _pairs("eventCode") + _time("effective") + _time("onset") + _time("expires")
            + _opt("senderName") + _opt("headline") + _opt("description") + _opt("instruction")
            + _opt("web", "xs:anyURI") + _opt("contact") + _pairs("parameter") + resource + area
            + '</xs:sequence></xs:complexType></xs:element>')
    alert = ('<xs:element name="alert"><xs:complexType><xs:sequence>'
             '<xs:element name="identifier" type="xs:string"/><xs:element name="sender" type="xs:string"/>'
             + _time("sent", 1)
             + _enum("status", "Actual|Exercise|System|Test|Draft")
             + _enum("msgType", "Alert|Update|Cancel|Ack|Error")
             + _opt("source") + _enum("scope", "Public|Restricted|Private") + _opt("restriction")
             + _opt("addresses") + _opt("code", many=True) + _opt("note") + _opt("references")
             + _opt("incidents") + info
             + '<xs:any minOccurs="0" maxOccurs="unbounded" namespace="##other" processContents="lax"/>'
             + '</xs:sequence></xs:complexType></xs:element>')
    return (f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:cap="{CAP_NS}" '
            f'targetNamespace="{CAP_NS}" elementFormDefault="qualified" attributeFormDefault="unqualified" '
            f'version="1.2">{alert}</xs:schema>')


@cache
def schema():
    import xmlschema
    return xmlschema.XMLSchema(schema_text())

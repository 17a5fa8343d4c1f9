"""Signed CAP: enveloped XML-DSig checked against each issuer's trusted certificates; warncast signs its feed."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, XMLVerifier, methods

from dispatcher import cap, signatures
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json

from .cap.cap12_xsd import schema


def _identity(name: str) -> tuple[bytes, bytes]:
    """A fresh RSA key and self-signed certificate (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def bureau():
    return _identity("bjmb")


@pytest.fixture(scope="module")
def stranger():
    return _identity("someone else")


def _signed(doc: dict, identity: tuple[bytes, bytes]) -> bytes:
    root = etree.fromstring(cap.to_xml(cap.parse_json(doc)))
    signed = XMLSigner(method=methods.enveloped, digest_algorithm="sha256").sign(
        root, key=identity[0], cert=identity[1])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _tampered(doc: dict, identity) -> bytes:
    return _signed(doc, identity).replace("暴雨橙色预警".encode(), "一切正常".encode())


@pytest.fixture
def settings(settings, tmp_path, bureau):
    (tmp_path / "bjmb.pem").write_bytes(bureau[1])
    signers = tmp_path / "signers.json"
    signers.write_text(json.dumps({"bjmb": {"certificates": ["bjmb.pem"], "required": True},
                                   "chaoyang-emergency": {"certificates": ["bjmb.pem"], "required": False}}))
    signatures.load_policies.cache_clear()
    return dataclasses.replace(settings, signers_file=str(signers))


CASES = [
    ("signed by a trusted certificate", "issuer", lambda d, b, s: _signed(d, b), 202, None),
    ("tampered after signing", "issuer", lambda d, b, s: _tampered(d, b), 422, "does not verify"),
    ("signed by another key", "issuer", lambda d, b, s: _signed(d, s), 422, "does not verify"),
    ("missing where required", "issuer", lambda d, b, s: cap.to_xml(cap.parse_json(d)), 422, "required"),
    ("JSON where required", "issuer", lambda d, b, s: orjson.dumps(d), 422, "required"),
    ("missing where optional", "chaoyang", lambda d, b, s: cap.to_xml(cap.parse_json(d)), 202, None),
    ("tampered where optional", "chaoyang", lambda d, b, s: _tampered(d, b), 422, "does not verify"),
]


@pytest.mark.parametrize("case,who,make,status,message", CASES, ids=[c[0] for c in CASES])
async def test_signatures_are_checked_per_issuer(api, bureau, stranger, case, who, make, status, message):
    body = make(cap_json(codes=["110105"]), bureau, stranger)
    ctype = "application/json" if body.startswith(b"{") else "application/cap+xml"
    code, answer = await api.call("POST", "/api/v1/alerts", who, data=body, headers={"Content-Type": ctype})
    assert code == status, answer
    if message:
        assert answer["errors"][0]["path"] == "alert/Signature" and message in answer["errors"][0]["message"]
        _, listing = await api.call("GET", "/api/v1/alerts")
        assert listing["alerts"] == []


async def test_validate_reports_a_bad_signature(api, bureau):
    code, answer = await api.call("POST", "/api/v1/alerts:validate", "issuer", data=_tampered(cap_json(), bureau),
                                  headers={"Content-Type": "application/cap+xml"})
    assert code == 200 and answer["valid"] is False
    assert [e["path"] for e in answer["errors"]] == ["alert/Signature"]


async def test_warncast_signs_the_cap_it_publishes(store, redis_sync, settings, tmp_path):
    key, cert = _identity("warncast")
    (tmp_path / "wc.key").write_bytes(key)
    (tmp_path / "wc.pem").write_bytes(cert)
    signing = dataclasses.replace(settings, signers_file="", signing_key_file=str(tmp_path / "wc.key"),
                                  signing_cert_file=str(tmp_path / "wc.pem"))
    async with open_api(store, signing) as api:
        status, alert = await api.publish(cap_json())
        assert status == 202, alert
        status, xml = await api.call("GET", f"/cap/alerts/{alert['id']}.xml", None)
    assert status == 200
    XMLVerifier().verify(xml, x509_cert=cert.decode())
    schema().validate(xml)
    assert cap.parse_xml(xml).identifier == alert["identifier"]
    with pytest.raises(Exception):
        XMLVerifier().verify(xml.replace(b"Rainstorm warning", b"All is well"), x509_cert=cert.decode())

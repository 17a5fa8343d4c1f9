"""Signed CAP: XML-DSig enveloped signatures checked against each issuer's trusted certificates,
and warncast's own signature on the CAP it publishes.

Which certificates an issuer's messages must be signed with, and whether a
signature is required, is read from ``WARNCAST_SIGNERS_FILE``, a JSON object
keyed by the issuer's identity (its key's name, or its key id)::

    {"bjmb": {"certificates": ["certs/bjmb.pem"], "required": true}}

(certificate paths relative to the file). A message that carries a signature
is verified against the issuer's certificates (a signature that does not
verify is refused even where none is required); a missing signature is
refused where one is required; a signature from an issuer with no trusted
certificate is accepted with a warning that it was not checked. The
signature must cover the whole alert (an enveloped signature with
``URI=""``). JSON bodies cannot carry one.

With ``WARNCAST_SIGNING_KEY_FILE`` and ``WARNCAST_SIGNING_CERT_FILE`` (PEM)
set, the CAP served at ``/cap/alerts/{id}.xml`` is signed with that key.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lxml import etree
from signxml import InvalidInput, InvalidSignature, XMLSigner, XMLVerifier, methods

from .cap.errors import FieldError
from .cap.schema import XMLDSIG_NS
from .errors import Rejected

SIGNATURE_PATH = "alert/Signature"


@dataclass(frozen=True)
class SignerPolicy:
    certificates: tuple[str, ...]  #: PEM texts
    required: bool = False


@cache
def load_policies(path: str) -> dict[str, SignerPolicy]:
    """Issuer identity → policy, from the signers file (read once per path)."""
    if not path:
        return {}
    base = Path(path).parent
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for issuer, spec in raw.items():
        certs = tuple((base / c).read_text(encoding="ascii") for c in spec.get("certificates", ()))
        out[issuer] = SignerPolicy(certs, bool(spec.get("required", False)))
    return out


def policy_for(policies: dict[str, SignerPolicy], *identities: object) -> SignerPolicy | None:
    """The policy of the first identity (key id, key name) the signers file names."""
    for identity in identities:
        if identity is not None and str(identity) in policies:
            return policies[str(identity)]
    return None


def _signature_present(body: bytes) -> bool:
    if XMLDSIG_NS.encode() not in body:
        return False
    root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    return root.find(f"{{{XMLDSIG_NS}}}Signature") is not None


def _refuse(message: str) -> Rejected:
    return Rejected(message, [{"path": SIGNATURE_PATH, "message": message}])


def _verifies(body: bytes, certificate: str) -> bool:
    try:
        result = XMLVerifier().verify(body, x509_cert=certificate)
    except (InvalidSignature, InvalidInput):
        return False
    signed = result.signed_xml
    return signed is not None and etree.QName(signed).localname == "alert"


def check(body: bytes, is_xml: bool, policy: SignerPolicy | None) -> list[FieldError]:
    """Warnings for an acceptable message; Rejected naming the signature otherwise."""
    present = is_xml and _signature_present(body)
    if not present:
        if policy is not None and policy.required:
            raise _refuse("a signature is required for this issuer: send CAP XML with an enveloped XML-DSig "
                          "signature by one of its trusted certificates")
        return []
    if policy is None or not policy.certificates:
        return [FieldError(SIGNATURE_PATH, "the signature was not checked: no trusted certificate is "
                                           "configured for this issuer")]
    if not any(_verifies(body, cert) for cert in policy.certificates):
        raise _refuse("the signature does not verify against this issuer's trusted certificates "
                      "(the message was changed after signing, or signed by another key)")
    return []


class Signer:
    """Signs CAP XML with warncast's own key (enveloped, RSA or EC with SHA-256)."""

    def __init__(self, key_pem: bytes, cert_pem: bytes):
        self.key_pem, self.cert_pem = key_pem, cert_pem

    def sign(self, xml: bytes) -> bytes:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        signed = XMLSigner(method=methods.enveloped, digest_algorithm="sha256").sign(
            root, key=self.key_pem, cert=self.cert_pem)
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


@cache
def signer(key_file: str, cert_file: str) -> Signer | None:
    if not key_file or not cert_file:
        return None
    return Signer(Path(key_file).read_bytes(), Path(cert_file).read_bytes())

"""X.509 certificates and CRLs of eMRTD PKIs, parsed with ``asn1crypto`` (which accepts the encodings states
really use: algorithm identifiers with NULL or absent parameters, explicit EC domain parameters) rather than a
strict parser that refuses a whole CSCA over them.

Names compare under RFC 5280 section 7.1 (case-insensitive, insignificant spaces folded: asn1crypto's
``Name`` equality); :func:`same_attributes_reordered` is the one tolerated deviation beyond it."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from kiosk.documents.chip.keys import PublicKey, UnusableKey, load_public_key

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


class CertificateError(ValueError):
    """A certificate or CRL that cannot be parsed."""


@dataclass(frozen=True)
class Certificate:
    der: bytes
    subject: asn1_x509.Name = field(repr=False)
    issuer: asn1_x509.Name = field(repr=False)
    serial_number: int
    not_valid_before: datetime
    not_valid_after: datetime
    is_ca: bool
    digital_signature: bool | None  # key usage; None when the extension is absent
    subject_key_id: bytes | None
    authority_key_id: bytes | None
    tbs: bytes = field(repr=False)  # the signed part, as encoded
    signature_algorithm: asn1_x509.SignedDigestAlgorithm = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def subject_text(self) -> str:
        return self.subject.human_friendly

    @functools.cached_property
    def _key(self) -> PublicKey | UnusableKey:
        try:
            spki = asn1_x509.Certificate.load(self.der)["tbs_certificate"]["subject_public_key_info"]
            return load_public_key(spki)
        except UnusableKey as exc:
            return exc
        except _PARSE_ERRORS as exc:
            return UnusableKey(f"malformed public key ({type(exc).__name__})")

    def public_key(self) -> PublicKey:
        """The subject's key; UnusableKey when it cannot be used."""
        key = self._key
        if isinstance(key, UnusableKey):
            raise key
        return key


@dataclass(frozen=True)
class Crl:
    der: bytes
    issuer: asn1_x509.Name = field(repr=False)
    this_update: datetime
    next_update: datetime | None
    revoked: dict[int, datetime] = field(repr=False)  # serial number -> revocation date
    authority_key_id: bytes | None
    tbs: bytes = field(repr=False)
    signature_algorithm: asn1_x509.SignedDigestAlgorithm = field(repr=False)
    signature: bytes = field(repr=False)


def load_certificate(der: bytes) -> Certificate:
    """Parse one DER certificate completely; CertificateError for anything malformed."""
    try:
        certificate = asn1_x509.Certificate.load(der, strict=True)
        certificate.native  # noqa: B018  (parse every field now: a malformed one fails here, not later)
        tbs = certificate["tbs_certificate"]
        validity = tbs["validity"]
        constraints = certificate.basic_constraints_value
        usage = certificate.key_usage_value
        aki = certificate.authority_key_identifier
        return Certificate(
            der=der,
            subject=tbs["subject"].untag(),
            issuer=tbs["issuer"].untag(),
            serial_number=tbs["serial_number"].native,
            not_valid_before=validity["not_before"].native,
            not_valid_after=validity["not_after"].native,
            is_ca=bool(constraints is not None and constraints["ca"].native),
            digital_signature=None if usage is None else "digital_signature" in usage.native,
            subject_key_id=certificate.key_identifier,
            authority_key_id=aki,
            tbs=tbs.dump(),
            signature_algorithm=certificate["signature_algorithm"],
            signature=certificate["signature_value"].native,
        )
    except _PARSE_ERRORS as exc:
        raise CertificateError(f"not an X.509 certificate ({_first_line(exc)})") from exc


def load_certificates(data: bytes) -> list[Certificate]:
    """Every certificate of a PEM file (one or more blocks) or a single DER certificate."""
    if pem.detect(data):
        try:
            blocks = [der for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
        except _PARSE_ERRORS as exc:
            raise CertificateError(f"malformed PEM ({exc})") from exc
        if not blocks:
            raise CertificateError("no CERTIFICATE block in the PEM file")
        return [load_certificate(der) for der in blocks]
    return [load_certificate(data)]


def load_crl(data: bytes) -> Crl:
    """Parse a DER or PEM CRL; CertificateError for anything malformed."""
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        crl = asn1_crl.CertificateList.load(data, strict=True)
        crl.native  # noqa: B018  (parse every field now)
        tbs = crl["tbs_cert_list"]
        next_update = tbs["next_update"].native
        revoked = {
            entry["user_certificate"].native: entry["revocation_date"].native
            for entry in tbs["revoked_certificates"]
        }
        return Crl(
            der=data,
            issuer=tbs["issuer"].untag(),
            this_update=tbs["this_update"].native,
            next_update=next_update,
            revoked=revoked,
            authority_key_id=crl.authority_key_identifier,
            tbs=tbs.dump(),
            signature_algorithm=crl["signature_algorithm"],
            signature=crl["signature"].native,
        )
    except _PARSE_ERRORS as exc:
        raise CertificateError(f"not an X.509 CRL ({_first_line(exc)})") from exc


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'malformed'}"


def same_name(first: asn1_x509.Name, second: asn1_x509.Name) -> bool:
    """RFC 5280 name comparison (attribute values case-insensitive, spaces folded, same RDN order)."""
    return first == second


def same_attributes_reordered(first: asn1_x509.Name, second: asn1_x509.Name) -> bool:
    """The same attributes in another RDN order, where that is unambiguous: every attribute type occurs at
    most once in each name (so "C=MY, O=X, CN=Y" matches "CN=Y, O=X, C=MY", but two OUs could not)."""
    firsts, seconds = _attributes(first), _attributes(second)
    if firsts is None or seconds is None:
        return False
    return firsts == seconds


def _attributes(name: asn1_x509.Name) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for rdn in name.chosen:
        for attribute in rdn:
            kind = attribute["type"].dotted
            if kind in found:
                return None
            found[kind] = attribute.prepped_value
    return found

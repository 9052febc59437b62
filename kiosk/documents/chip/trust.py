"""The trusted Country Signing CA (CSCA) certificates and their CRLs, from a folder or an ICAO master list.

Passive authentication only ever trusts these: a document signer certificate carried by the chip is
accepted when one of them signed it, never on its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from kiosk.documents.chip.signature import (
    SignatureFailure,
    find_signer_certificate,
    issued_by,
    verify_signer_info,
)
from kiosk.errors import ConfigError

MASTER_LIST_OID = "2.23.136.1.1.2"
CERTIFICATE_SUFFIXES = {".cer", ".crt", ".der", ".pem"}
CRL_SUFFIXES = {".crl"}
MASTER_LIST_SUFFIXES = {".ml"}
_MAX_FILE_BYTES = 64 * 1024 * 1024


class TrustStoreError(ConfigError):
    """A trust-store file cannot be used (unreadable, malformed, not a CA, bad master-list signature)."""

    code = "TRUST_STORE_INVALID"


class _CertificateSet(core.SetOf):
    _child_spec = asn1_x509.Certificate


class CscaMasterList(core.Sequence):
    _fields: ClassVar[list] = [("version", core.Integer), ("cert_list", _CertificateSet)]


@dataclass(frozen=True)
class TrustStore:
    """CSCA certificates and CRLs. ``require_crl``: fail ``chip.pa.crl`` when no CRL covers the CSCA."""

    cscas: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    require_crl: bool = False
    sources: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_folder(cls, path: Path, *, require_crl: bool = False) -> TrustStore:
        """Every ``*.cer/*.crt/*.der/*.pem`` (CSCA certificates), ``*.crl`` and ``*.ml`` (master lists,
        verified as in :meth:`from_master_list`) in ``path``; other files are ignored."""
        path = Path(path)
        if not path.is_dir():
            raise TrustStoreError(f"trust store folder {path} does not exist")
        cscas: list[x509.Certificate] = []
        crls: list[x509.CertificateRevocationList] = []
        for file in sorted(path.iterdir()):
            suffix = file.suffix.lower()
            if suffix in CERTIFICATE_SUFFIXES:
                cscas.extend(_load_certificates(file))
            elif suffix in CRL_SUFFIXES:
                crls.append(_load_crl(file))
        store = cls(tuple(cscas), tuple(crls), require_crl, (str(path),))
        for file in sorted(path.iterdir()):
            if file.suffix.lower() in MASTER_LIST_SUFFIXES:
                store = store.merged(cls.from_master_list(file))
        return store

    @classmethod
    def from_master_list(
        cls, file: Path, *, anchors: TrustStore | None = None, at: datetime | None = None
    ) -> TrustStore:
        """The CSCA certificates of an ICAO master list (CMS SignedData, content ``CscaMasterList``).

        The CMS signature must verify with the master-list signer certificate, and that certificate must be
        issued by a CSCA in ``anchors`` (when given) or else by a CSCA in the list itself (the usual
        self-contained form: the publishing state's CSCA signs its master-list signer)."""
        data = _read(Path(file))
        try:
            info = cms.ContentInfo.load(data, strict=True)
            if info["content_type"].native != "signed_data":
                raise TrustStoreError(f"{file}: not CMS SignedData")
            signed = info["content"]
            encap = signed["encap_content_info"]
            if encap["content_type"].dotted != MASTER_LIST_OID:
                raise TrustStoreError(f"{file}: not an ICAO CSCA master list")
            econtent = encap["content"].contents
            listed = [
                x509.load_der_x509_certificate(c.dump())
                for c in CscaMasterList.load(econtent, strict=True)["cert_list"]
            ]
            signers = signed["signer_infos"]
            if len(signers) != 1:
                raise TrustStoreError(f"{file}: {len(signers)} signer infos, expected 1")
            signer_certificate = find_signer_certificate(signed, signers[0])
            verify_signer_info(signers[0], econtent, MASTER_LIST_OID, signer_certificate.public_key())
        except TrustStoreError:
            raise
        except SignatureFailure as exc:
            raise TrustStoreError(f"{file}: master list signature: {exc}") from exc
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
            raise TrustStoreError(f"{file}: malformed master list ({type(exc).__name__})") from exc
        issuers = (anchors.cscas if anchors is not None else ()) or tuple(listed)
        when = at or datetime.now(UTC)
        if not any(issued_by(signer_certificate, ca) for ca in issuers):
            raise TrustStoreError(f"{file}: the master list signer is not issued by a trusted CSCA")
        if not signer_certificate.not_valid_before_utc <= when <= signer_certificate.not_valid_after_utc:
            raise TrustStoreError(f"{file}: the master list signer certificate is not valid now")
        cscas = tuple(c for c in listed if _is_ca(c))
        return cls(cscas, (), False, (str(file),))

    def merged(self, other: TrustStore) -> TrustStore:
        seen = {c.fingerprint(hashes.SHA256()) for c in self.cscas}
        extra = tuple(c for c in other.cscas if c.fingerprint(hashes.SHA256()) not in seen)
        return TrustStore(
            self.cscas + extra,
            self.crls + other.crls,
            self.require_crl or other.require_crl,
            self.sources + other.sources,
        )

    def issuer_candidates(self, certificate: x509.Certificate) -> list[x509.Certificate]:
        """CSCAs whose subject is the certificate's issuer (and key id, when both carry one)."""
        aki = _authority_key_id(certificate)
        found = []
        for csca in self.cscas:
            if csca.subject != certificate.issuer:
                continue
            ski = _subject_key_id(csca)
            if aki is not None and ski is not None and aki != ski:
                continue
            found.append(csca)
        return found

    def crls_for(self, issuer: x509.Name) -> list[x509.CertificateRevocationList]:
        return [crl for crl in self.crls if crl.issuer == issuer]

    def crl_is_authentic(self, crl: x509.CertificateRevocationList) -> bool:
        """True when a trusted CSCA of the CRL's issuer name signed it (after a CSCA key rollover the new
        key signs the CRLs that cover certificates issued under the old one)."""
        for csca in self.cscas:
            if csca.subject != crl.issuer:
                continue
            try:
                if crl.is_signature_valid(csca.public_key()):
                    return True
            except (ValueError, TypeError, UnsupportedAlgorithm):  # a key this CRL's algorithm cannot use
                continue
        return False


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False


def _authority_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        return ext.value.key_identifier
    except (x509.ExtensionNotFound, ValueError):
        return None


def _subject_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def _read(file: Path) -> bytes:
    try:
        if file.stat().st_size > _MAX_FILE_BYTES:
            raise TrustStoreError(f"{file}: larger than {_MAX_FILE_BYTES} bytes")
        return file.read_bytes()
    except OSError as exc:
        raise TrustStoreError(f"{file}: {exc.strerror or exc}") from exc


def _load_certificates(file: Path) -> list[x509.Certificate]:
    data = _read(file)
    try:
        certificates = (
            x509.load_pem_x509_certificates(data)
            if b"-----BEGIN" in data
            else [x509.load_der_x509_certificate(data)]
        )
    except ValueError as exc:
        raise TrustStoreError(f"{file}: not an X.509 certificate ({exc})") from exc
    for certificate in certificates:
        if not _is_ca(certificate):
            raise TrustStoreError(f"{file}: certificate {certificate.subject.rfc4514_string()} is not a CA")
    return certificates


def _load_crl(file: Path) -> x509.CertificateRevocationList:
    data = _read(file)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise TrustStoreError(f"{file}: not an X.509 CRL ({exc})") from exc

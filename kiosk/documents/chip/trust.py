"""The trusted Country Signing CA (CSCA) certificates and their CRLs, from a folder or an ICAO master list.

Passive authentication only ever trusts these: a document signer certificate carried by the chip is
accepted when one of them signed it, never on its own.

Trust material as states publish it has flaws: a master list of hundreds of CSCAs with a few that no parser
reads, a CSCA folder with one bad file. One such item never rejects the rest: it is left out and named in
``TrustStore.skipped`` (and logged once as ``TRUST_ITEM_SKIPPED``). What is never tolerated: a master list
whose own signature or signer chain fails, and a folder that does not exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from asn1crypto import core

from kiosk.documents.chip.certificates import (
    Certificate,
    CertificateError,
    Crl,
    load_certificate,
    load_certificates,
    load_crl,
    same_name,
)
from kiosk.documents.chip.deviation_list import DeviationListError, ListedDeviation, load_deviation_list
from kiosk.documents.chip.keys import UnusableKey
from kiosk.documents.chip.signature import SignatureFailure, SignedListError, issued_by, open_signed_list
from kiosk.errors import ConfigError

MASTER_LIST_OID = "2.23.136.1.1.2"
CERTIFICATE_SUFFIXES = {".cer", ".crt", ".der", ".pem"}
CRL_SUFFIXES = {".crl"}
MASTER_LIST_SUFFIXES = {".ml"}
DEVIATION_LIST_SUFFIXES = {".dvl"}
SKIPPED_WARNING = "TRUST_ITEM_SKIPPED"
_MAX_FILE_BYTES = 64 * 1024 * 1024
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)
log = logging.getLogger(__name__)


class TrustStoreError(ConfigError):
    """A trust-store file cannot be used (unreadable, malformed, bad master-list signature)."""

    code = "TRUST_STORE_INVALID"


class _AnySet(core.SetOf):
    _child_spec = core.Any  # each certificate is parsed on its own, so one bad entry spoils only itself


class CscaMasterList(core.Sequence):
    _fields: ClassVar[list] = [("version", core.Integer), ("cert_list", _AnySet)]


@dataclass(frozen=True)
class TrustStore:
    """CSCA certificates and CRLs. ``require_crl``: fail ``chip.pa.crl`` when no CRL covers the CSCA.
    ``skipped``: one line per certificate or CRL left out, with where it was and why."""

    cscas: tuple[Certificate, ...] = ()
    crls: tuple[Crl, ...] = ()
    require_crl: bool = False
    sources: tuple[str, ...] = field(default=(), compare=False)
    skipped: tuple[str, ...] = field(default=(), compare=False)
    deviations: tuple[ListedDeviation, ...] = field(default=(), compare=False)  # from ICAO deviation lists

    @classmethod
    def from_folder(cls, path: Path, *, require_crl: bool = False, at: datetime | None = None) -> TrustStore:
        """Every ``*.cer/*.crt/*.der/*.pem`` (CSCA certificates), ``*.crl``, ``*.ml`` (master lists,
        verified as in :meth:`from_master_list` at ``at``) and ``*.dvl`` (ICAO deviation lists, signed by a
        signer one of those CSCAs issued) in ``path``; other files are ignored. A certificate or CRL that
        cannot be used is skipped and listed in ``skipped``; a deviation list that fails is an error."""
        path = Path(path)
        if not path.is_dir():
            raise TrustStoreError(f"trust store folder {path} does not exist")
        cscas: list[Certificate] = []
        crls: list[Crl] = []
        skipped: list[str] = []
        for file in sorted(path.iterdir()):
            suffix = file.suffix.lower()
            if suffix in CERTIFICATE_SUFFIXES:
                try:
                    found = load_certificates(_read(file))
                except CertificateError as exc:
                    skipped.append(f"{file}: {exc}")
                    continue
                for number, certificate in enumerate(found, 1):
                    where = file if len(found) == 1 else f"{file} #{number}"
                    problem = csca_problem(certificate)
                    if problem:
                        skipped.append(f"{where}: {problem}")
                    else:
                        cscas.append(certificate)
            elif suffix in CRL_SUFFIXES:
                try:
                    crls.append(load_crl(_read(file)))
                except CertificateError as exc:
                    skipped.append(f"{file}: {exc}")
        store = cls(_unique(cscas), tuple(crls), require_crl, (str(path),), ())
        for file in sorted(path.iterdir()):
            if file.suffix.lower() in MASTER_LIST_SUFFIXES:
                store = store.merged(cls.from_master_list(file, at=at))  # logs its own skipped items
        deviations: list[ListedDeviation] = []
        for file in sorted(path.iterdir()):
            if file.suffix.lower() in DEVIATION_LIST_SUFFIXES:
                try:
                    deviations += load_deviation_list(_read(file), store.cscas, source=str(file), at=at)
                except DeviationListError as exc:
                    raise TrustStoreError(str(exc)) from exc
        _warn(tuple(skipped))
        return TrustStore(
            store.cscas,
            store.crls,
            require_crl,
            store.sources,
            tuple(skipped) + store.skipped,
            tuple(deviations),
        )

    @classmethod
    def from_master_list(
        cls, file: Path, *, anchors: TrustStore | None = None, at: datetime | None = None
    ) -> TrustStore:
        """The CSCA certificates of an ICAO master list (CMS SignedData, content ``CscaMasterList``).

        The CMS signature must verify with the master-list signer certificate, that certificate must be valid
        at ``at`` (default now) and issued by a CSCA in ``anchors`` (when given) or else by a CSCA in the list
        itself (the usual self-contained form: the publishing state's CSCA signs its master-list signer).
        Listed certificates that cannot be parsed or are no CA are skipped and named in ``skipped``."""
        data = _read(Path(file))
        try:
            econtent, signer_certificate = open_signed_list(data, MASTER_LIST_OID, "ICAO CSCA master list")
            entries = [item.dump() for item in CscaMasterList.load(econtent, strict=True)["cert_list"]]
        except SignedListError as exc:
            raise TrustStoreError(f"{file}: {exc}") from None
        except (SignatureFailure, UnusableKey) as exc:
            raise TrustStoreError(f"{file}: master list signature: {exc}") from exc
        except _PARSE_ERRORS as exc:
            raise TrustStoreError(f"{file}: malformed master list ({type(exc).__name__})") from exc
        listed: list[Certificate] = []
        skipped: list[str] = []
        for number, der in enumerate(entries, 1):
            try:
                certificate = load_certificate(der)
            except CertificateError as exc:
                skipped.append(f"{file} entry {number}: {exc}")
                continue
            problem = csca_problem(certificate)
            if problem:
                skipped.append(f"{file} entry {number} ({certificate.subject_text}): {problem}")
            else:
                listed.append(certificate)
        issuers = (anchors.cscas if anchors is not None else ()) or tuple(listed)
        when = at or datetime.now(UTC)
        if not any(issued_by(signer_certificate, ca) for ca in issuers):
            raise TrustStoreError(f"{file}: the master list signer is not issued by a trusted CSCA")
        if not signer_certificate.not_valid_before <= when <= signer_certificate.not_valid_after:
            raise TrustStoreError(f"{file}: the master list signer certificate is not valid now")
        store = cls(_unique(listed), (), False, (str(file),), tuple(skipped))
        _warn(store.skipped)
        return store

    def merged(self, other: TrustStore) -> TrustStore:
        """Both stores' CSCAs (without duplicates), CRLs, sources and skipped items."""
        return TrustStore(
            _unique(self.cscas + other.cscas),
            self.crls + other.crls,
            self.require_crl or other.require_crl,
            self.sources + other.sources,
            self.skipped + other.skipped,
            self.deviations + other.deviations,
        )

    def issuer_candidates(self, certificate: Certificate) -> list[Certificate]:
        """CSCAs whose subject is the certificate's issuer (and key id, when both carry one)."""
        found = []
        for csca in self.cscas:
            if not same_name(csca.subject, certificate.issuer):
                continue
            aki, ski = certificate.authority_key_id, csca.subject_key_id
            if aki is not None and ski is not None and aki != ski:
                continue
            found.append(csca)
        return found

    def crls_for(self, issuer: object) -> list[Crl]:
        return [crl for crl in self.crls if same_name(crl.issuer, issuer)]

    def crl_is_authentic(self, crl: Crl) -> bool:
        """True when a trusted CSCA of the CRL's issuer name signed it (after a CSCA key rollover the new
        key signs the CRLs that cover certificates issued under the old one)."""
        return any(issued_by(crl, csca) for csca in self.cscas)


def csca_problem(certificate: Certificate) -> str:
    """Why a certificate cannot serve as a CSCA ("" when it can)."""
    if not certificate.is_ca:
        return f"certificate {certificate.subject_text} is not a CA"
    try:
        certificate.public_key()
    except UnusableKey as exc:
        return f"certificate {certificate.subject_text}: {exc}"
    return ""


def _unique(certificates: tuple[Certificate, ...] | list[Certificate]) -> tuple[Certificate, ...]:
    seen: set[bytes] = set()
    unique = []
    for certificate in certificates:
        if certificate.der not in seen:
            seen.add(certificate.der)
            unique.append(certificate)
    return tuple(unique)


def _warn(skipped: tuple[str, ...]) -> None:
    if skipped:
        log.warning("%s: %d item(s) left out: %s", SKIPPED_WARNING, len(skipped), "; ".join(skipped))


def _read(file: Path) -> bytes:
    try:
        if file.stat().st_size > _MAX_FILE_BYTES:
            raise TrustStoreError(f"{file}: larger than {_MAX_FILE_BYTES} bytes")
        return file.read_bytes()
    except OSError as exc:
        raise TrustStoreError(f"{file}: {exc.strerror or exc}") from exc

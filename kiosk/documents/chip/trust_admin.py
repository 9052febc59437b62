"""Operating the trust store (``kiosk trust``): import what states publish (master lists, CSCA certificates,
CRLs) into the kiosk's CSCA folder after verifying it, list what is trusted, and check the folder for what
needs an operator (expired CSCAs, stale or unauthenticated CRLs, skipped files).

The folder stays the one format the kiosk reads (:meth:`TrustStore.from_folder`): one DER file per CSCA
(``CC-<sha256 prefix>.cer``) and per CRL (``CC-<sha256 prefix>.crl``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509

from kiosk.documents.chip.certificates import Certificate, CertificateError, load_certificates, load_crl
from kiosk.documents.chip.keys import describe
from kiosk.documents.chip.trust import (
    CERTIFICATE_SUFFIXES,
    CRL_SUFFIXES,
    MASTER_LIST_SUFFIXES,
    TrustStore,
    TrustStoreError,
    csca_problem,
)


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)  # files written into the trust folder
    present: int = 0  # items the folder already held
    skipped: list[str] = field(default_factory=list)  # items left out, with why


def import_trust_material(
    source: Path, folder: Path, *, anchors: Path | None = None, at: datetime | None = None
) -> ImportResult:
    """Verify ``source`` (a master list ``.ml``, a certificate file, a ``.crl``, or a folder of them) and
    copy what it holds into the trust ``folder`` (created when missing).

    A master list must verify (signature, signer chain to a CSCA in ``anchors``, a trust folder, or else in
    the list itself; signer valid at ``at``); a CRL must be signed by a CSCA the folder (after this import)
    trusts. Unusable certificates are skipped and reported, never silently dropped."""
    source, folder = Path(source), Path(folder)
    if not source.exists():
        raise TrustStoreError(f"{source} does not exist")
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(source.iterdir()) if source.is_dir() else [source]
    result = ImportResult()
    crl_files = []
    for file in files:
        suffix = file.suffix.lower()
        if suffix in MASTER_LIST_SUFFIXES:
            anchor_store = TrustStore.from_folder(anchors) if anchors is not None else None
            store = TrustStore.from_master_list(file, anchors=anchor_store, at=at)
            result.skipped.extend(store.skipped)
            for certificate in store.cscas:
                _write(folder, certificate.der, _country(certificate), ".cer", result)
        elif suffix in CERTIFICATE_SUFFIXES:
            try:
                found = load_certificates(file.read_bytes())
            except CertificateError as exc:
                result.skipped.append(f"{file}: {exc}")
                continue
            for certificate in found:
                problem = csca_problem(certificate)
                if problem:
                    result.skipped.append(f"{file}: {problem}")
                else:
                    _write(folder, certificate.der, _country(certificate), ".cer", result)
        elif suffix in CRL_SUFFIXES:
            crl_files.append(file)
    if crl_files:
        trusted = TrustStore.from_folder(folder)
        for file in crl_files:
            try:
                crl = load_crl(file.read_bytes())
            except CertificateError as exc:
                raise TrustStoreError(f"{file}: {exc}") from exc
            if not trusted.crl_is_authentic(crl):
                raise TrustStoreError(f"{file}: the CRL is not signed by a CSCA of the trust folder")
            _write(folder, crl.der, _name_country(crl.issuer), ".crl", result)
    return result


@dataclass(frozen=True)
class TrustReport:
    cscas: int
    crls: int
    problems: list[str]  # what an operator must act on
    skipped: list[str]


def check_trust_store(folder: Path, *, at: datetime | None = None) -> TrustReport:
    """Load the trust folder as the kiosk does and list every problem: CSCAs expired or not yet valid at
    ``at`` (default now), CRLs not signed by a trusted CSCA or out of date, files skipped."""
    when = at or datetime.now(UTC)
    store = TrustStore.from_folder(folder, at=when)
    problems = []
    for csca in store.cscas:
        if not csca.not_valid_before <= when <= csca.not_valid_after:
            state = "expired" if when > csca.not_valid_after else "not yet valid"
            problems.append(f"CSCA {csca.subject_text} ({csca.sha256[:16]}) {state}")
    for crl in store.crls:
        issuer = crl.issuer.human_friendly
        if not store.crl_is_authentic(crl):
            problems.append(f"CRL of {issuer} is not signed by a trusted CSCA")
        elif crl.this_update > when or (crl.next_update is not None and crl.next_update < when):
            problems.append(f"CRL of {issuer} is not current (next update {crl.next_update})")
    if not store.cscas:
        problems.append("no usable CSCA certificate")
    problems.extend(f"skipped {line}" for line in store.skipped)
    return TrustReport(len(store.cscas), len(store.crls), problems, list(store.skipped))


def describe_cscas(store: TrustStore) -> list[dict[str, str]]:
    """One row per trusted CSCA: country, subject, validity, key, SHA-256 prefix."""
    rows = []
    for csca in store.cscas:
        try:
            key = describe(csca.public_key())
        except ValueError as exc:
            key = f"unusable ({exc})"
        rows.append(
            {
                "country": _country(csca),
                "subject": csca.subject_text,
                "not_before": csca.not_valid_before.date().isoformat(),
                "not_after": csca.not_valid_after.date().isoformat(),
                "key": key,
                "sha256": csca.sha256[:16],
            }
        )
    return sorted(rows, key=lambda row: (row["country"], row["not_before"]))


def _write(folder: Path, der: bytes, country: str, suffix: str, result: ImportResult) -> None:
    path = folder / f"{country}-{hashlib.sha256(der).hexdigest()[:16]}{suffix}"
    if path.exists():
        result.present += 1
        return
    temporary = path.with_suffix(suffix + ".tmp")
    temporary.write_bytes(der)
    temporary.replace(path)  # a reader never sees half a file
    result.added.append(str(path))


def _country(certificate: Certificate) -> str:
    return _name_country(certificate.subject)


def _name_country(name: asn1_x509.Name) -> str:
    country = name.native.get("country_name")
    return country.upper() if isinstance(country, str) and country.isalpha() else "XX"

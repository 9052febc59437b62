"""Passive authentication (ICAO Doc 9303 part 11, section 5.1): each step is a named :class:`Check`.

- ``chip.pa.sod_signature``: the SOD's CMS signature (signed attributes + signature) with the DS key;
- ``chip.pa.ds_certificate_chain``: the DS certificate is signed by a CSCA of the trust store;
- ``chip.pa.ds_validity``: the DS certificate is valid at the check time;
- ``chip.pa.csca_validity``: the CSCA was valid when it issued the DS certificate (at the DS's notBefore);
- ``chip.pa.csca_current``: the CSCA is still valid at the check time. Doc 9303-12 sizes a CSCA's validity to
  cover every DS and document it signs, so by default (the shell model) an expired CSCA refers the traveller;
  a state whose CSCA expired although its DS was issued within the CSCA's validity fails only this check, so a
  deployment that accepts the chain model lists ``chip.pa.csca_current`` in ``policy.non_blocking_checks``;
- ``chip.pa.crl``: every CRL of the DS issuer's name is signed by a trusted CSCA of that name, is current,
  and does not revoke the DS certificate (with no such CRL it passes, unless the trust store requires one);
- ``chip.pa.dgN_hash``: every data group read from the chip hashes to the value the SOD lists;
- ``chip.pa.unlisted_data_group``: no data group was read that the SOD does not list;
- ``chip.sod.deviation.*``: one check per tolerated deviation of the SOD from Doc 9303 (see
  :data:`kiosk.documents.chip.sod.DEVIATIONS`), failed when the SOD has it, so the policy decides."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime

from kiosk.documents.checks import Check
from kiosk.documents.chip.certificates import Certificate
from kiosk.documents.chip.keys import UnusableKey
from kiosk.documents.chip.signature import (
    SignatureFailure,
    digest,
    issued_by,
    verify_signer_info,
)
from kiosk.documents.chip.sod import DEVIATIONS, SecurityObject
from kiosk.documents.chip.trust import TrustStore

SOD_SIGNATURE = "chip.pa.sod_signature"
DS_CHAIN = "chip.pa.ds_certificate_chain"
DS_VALIDITY = "chip.pa.ds_validity"
CSCA_VALIDITY = "chip.pa.csca_validity"
CSCA_CURRENT = "chip.pa.csca_current"
CRL = "chip.pa.crl"
UNLISTED = "chip.pa.unlisted_data_group"


def hash_check_name(number: int) -> str:
    return f"chip.pa.dg{number}_hash"


def passive_authentication(
    data_groups: Mapping[int, bytes],
    sod: SecurityObject | None,
    trust: TrustStore | None,
    *,
    at: datetime,
    sod_problem: str = "",
) -> list[Check]:
    """All passive-authentication checks for the data groups read (number -> raw file) at time ``at``.

    Without a parsable SOD every step fails with ``sod_problem`` as the reason, so a policy that requires a
    step sees a failure rather than a missing check."""
    if sod is None:
        reason = f"no usable EF.SOD: {sod_problem}" if sod_problem else "no EF.SOD"
        names = [SOD_SIGNATURE, DS_CHAIN, DS_VALIDITY, CSCA_VALIDITY, CSCA_CURRENT, CRL, UNLISTED]
        names += [hash_check_name(n) for n in sorted(data_groups)]
        return [Check(name, False, reason) for name in names]
    ds = sod.signer_certificate
    checks = [_sod_signature(sod)]
    csca, chain_check = _ds_chain(ds, sod.signer_certificate_problem, trust)
    checks.append(chain_check)
    checks.append(_validity(DS_VALIDITY, "DS", ds, at))
    if csca is None:
        for name in (CSCA_VALIDITY, CSCA_CURRENT, CRL):
            checks.append(Check(name, False, "no trusted CSCA for the DS certificate"))
    else:
        checks.append(_issued_within(ds, csca))
        checks.append(_validity(CSCA_CURRENT, "CSCA", csca, at))
        checks.append(_revocation(ds, csca, trust, at))
    checks.extend(_hashes(data_groups, sod))
    checks.extend(
        Check(name, name not in sod.deviations, _deviation_detail(name, sod)) for name in DEVIATIONS
    )
    return checks


def _deviation_detail(name: str, sod: SecurityObject) -> str:
    return f"tolerated deviation: {DEVIATIONS[name]}" if name in sod.deviations else "as Doc 9303 specifies"


def _issued_within(ds: Certificate | None, csca: Certificate) -> Check:
    if ds is None:
        return Check(CSCA_VALIDITY, False, "no DS certificate")
    issued = ds.not_valid_before
    if not csca.not_valid_before <= issued <= csca.not_valid_after:
        return Check(CSCA_VALIDITY, False, f"the DS was issued {issued.date()}, outside the CSCA's validity")
    return Check(CSCA_VALIDITY, True, f"the CSCA was valid when it issued the DS ({issued.date()})")


def _sod_signature(sod: SecurityObject) -> Check:
    if sod.signer_certificate is None:
        return Check(SOD_SIGNATURE, False, sod.signer_certificate_problem)
    try:
        verify_signer_info(sod.signer, sod.econtent, sod.content_type, sod.signer_certificate.public_key())
    except SignatureFailure as exc:
        return Check(SOD_SIGNATURE, False, str(exc))
    except UnusableKey as exc:  # the DS key itself cannot be loaded
        return Check(SOD_SIGNATURE, False, f"the DS public key is unusable: {exc}")
    return Check(SOD_SIGNATURE, True, "the SOD signature verifies with the DS certificate")


def _ds_chain(
    ds: Certificate | None, problem: str, trust: TrustStore | None
) -> tuple[Certificate | None, Check]:
    if ds is None:
        return None, Check(DS_CHAIN, False, problem)
    if trust is None or not trust.cscas:
        return None, Check(DS_CHAIN, False, "no trusted CSCA certificates are configured")
    if not _may_sign_documents(ds):
        return None, Check(
            DS_CHAIN, False, "the DS certificate is a CA or lacks the digitalSignature key usage"
        )
    candidates = trust.issuer_candidates(ds)
    for csca in candidates:
        if issued_by(ds, csca):
            return csca, Check(DS_CHAIN, True, f"DS signed by CSCA {csca.subject_text}")
    if candidates:
        return None, Check(
            DS_CHAIN, False, "the DS signature does not verify with any CSCA of its issuer name"
        )
    return None, Check(DS_CHAIN, False, "the DS issuer is not a trusted CSCA")


def _may_sign_documents(ds: Certificate) -> bool:
    """Doc 9303-12 profile: a document signer has the digitalSignature key usage and is not a CA (the key
    usage is mandatory in the profile, but some issuers omit it; the CSCA signature still binds the key)."""
    return ds.digital_signature is not False and not ds.is_ca


def _validity(name: str, role: str, certificate: Certificate | None, at: datetime) -> Check:
    if certificate is None:
        return Check(name, False, f"no {role} certificate")
    start, end = certificate.not_valid_before, certificate.not_valid_after
    if at < start:
        return Check(name, False, f"{role} certificate not valid before {start.isoformat()}")
    if at > end:
        return Check(name, False, f"{role} certificate expired {end.isoformat()}")
    return Check(name, True, f"{role} certificate valid until {end.isoformat()}")


def _revocation(ds: Certificate, csca: Certificate, trust: TrustStore, at: datetime) -> Check:
    crls = trust.crls_for(csca.subject)
    if not crls:
        if trust.require_crl:
            return Check(CRL, False, "no CRL for the issuing CSCA in the trust store")
        return Check(CRL, True, "no CRL for the issuing CSCA in the trust store (not required)")
    for crl in crls:
        if not trust.crl_is_authentic(crl):
            return Check(CRL, False, "a CRL naming the CSCA is not signed by the CSCA")
        if crl.this_update > at or (crl.next_update is not None and crl.next_update < at):
            return Check(CRL, False, "the CSCA's CRL is not current")
        revoked = crl.revoked.get(ds.serial_number)
        if revoked is not None:
            return Check(CRL, False, f"the DS certificate was revoked {revoked.date()}")
    return Check(CRL, True, f"DS not revoked ({len(crls)} current CRL(s) of the CSCA)")


def _hashes(data_groups: Mapping[int, bytes], sod: SecurityObject) -> list[Check]:
    checks = []
    unlisted = []
    for number in sorted(data_groups):
        expected = sod.hashes.get(number)
        if expected is None:
            unlisted.append(number)
            checks.append(Check(hash_check_name(number), False, f"DG{number} is not listed in the SOD"))
            continue
        actual = digest(sod.hash_algorithm, data_groups[number])
        ok = hmac.compare_digest(actual, expected)
        detail = f"{sod.hash_algorithm} {'matches' if ok else 'differs from'} the SOD"
        checks.append(Check(hash_check_name(number), ok, detail))
    if unlisted:
        listed = ", ".join(f"DG{n}" for n in unlisted)
        checks.append(Check(UNLISTED, False, f"{listed} read from the chip but not in the SOD"))
    else:
        checks.append(Check(UNLISTED, True, "every data group read is listed in the SOD"))
    return checks

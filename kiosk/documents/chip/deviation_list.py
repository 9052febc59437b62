"""ICAO deviation lists (Doc 9303-12 section 10): a state's signed statement that some of its documents
deviate from Doc 9303 in a known way (a wrong data-group hash, a bad SOD signature...). A listed deviation
never silently turns a failure into a pass: the failed check it explains is kept as passed only beside a new
failed check ``<check>.deviation_listed`` naming the list and the deviation, which refers the traveller unless
the policy accepts listed deviations (``policy.non_blocking_checks = ["*.deviation_listed"]``). A deviation
list stating that a document's Active Authentication key is compromised fails ``chip.aa.signature``.

Lists are CMS SignedData (content type id-icao-DeviationList) whose signer a trusted CSCA issued; documents
are matched by their DS certificate (issuer and serial number, subject key identifier or certificate digest)
and/or document numbers. Deviations of the printed MRZ and of certificate encodings are parsed but applied to
no check (the readers of those do not consult the list)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from asn1crypto import algos, cms, core

from kiosk.documents.checks import Check
from kiosk.documents.chip.certificates import Certificate, same_name
from kiosk.documents.chip.keys import UnusableKey
from kiosk.documents.chip.signature import (
    HASHES,
    SignatureFailure,
    SignedListError,
    issued_by,
    open_signed_list,
)

DEVIATION_LIST_OID = "2.23.136.1.1.7"
_DEVIATION = DEVIATION_LIST_OID + "."
AA_KEY_COMPROMISED = _DEVIATION + "1.4"
DEVIATION_TYPES = {  # Doc 9303-12 section 10.2
    _DEVIATION + "1.1": "CertOrKey-DSSignature",
    _DEVIATION + "1.2": "CertOrKey-DSEncoding",
    _DEVIATION + "1.3": "CertOrKey-CSCAEncoding",
    AA_KEY_COMPROMISED: "CertOrKey-AAKeyCompromised",
    _DEVIATION + "2.1": "LDS-DGMalformed",
    _DEVIATION + "2.2": "LDS-DGHashWrong",
    _DEVIATION + "2.3": "LDS-SODSignatureWrong",
    _DEVIATION + "2.4": "LDS-COMInconsistent",
    _DEVIATION + "3.1": "MRZ-WrongData",
    _DEVIATION + "3.2": "MRZ-WrongCheckDigit",
}
_SOD, _COM = 20, 21  # the Datagroup values of EF.SOD and EF.COM


class DeviationListError(ValueError):
    """A deviation list that cannot be used: malformed, or its signature or signer chain fails."""


class _IssuancePeriod(core.Sequence):
    _fields: ClassVar[list] = [("first_issued", core.GeneralizedTime), ("last_issued", core.GeneralizedTime)]


class _SignerIdentifier(core.Choice):
    _alternatives: ClassVar[list] = [
        ("issuer_and_serial_number", cms.IssuerAndSerialNumber, {"implicit": 1}),
        ("subject_key_identifier", core.OctetString, {"implicit": 2}),
        ("certificate_digest", core.OctetString, {"implicit": 3}),
    ]


class _Numbers(core.SetOf):
    _child_spec = core.PrintableString


class _Documents(core.Sequence):
    _fields: ClassVar[list] = [
        ("document_type", core.PrintableString, {"implicit": 0, "optional": True}),
        ("dsc_identifier", _SignerIdentifier, {"optional": True}),
        ("issuing_date", _IssuancePeriod, {"implicit": 4, "optional": True}),
        ("document_numbers", _Numbers, {"implicit": 5, "optional": True}),
    ]


class _Description(core.Sequence):
    _fields: ClassVar[list] = [
        ("description", core.PrintableString, {"optional": True}),
        ("deviation_type", core.ObjectIdentifier),
        ("parameters", core.Any, {"explicit": 0, "optional": True}),  # an open type: tagged explicitly
        ("national_use", core.Any, {"explicit": 1, "optional": True}),
    ]


class _Descriptions(core.SetOf):
    _child_spec = _Description


class _Deviation(core.Sequence):
    _fields: ClassVar[list] = [("documents", _Documents), ("descriptions", _Descriptions)]


class _Deviations(core.SetOf):
    _child_spec = _Deviation


class DeviationListContent(core.Sequence):
    _fields: ClassVar[list] = [
        ("version", core.Integer),
        ("digest_algorithm", algos.DigestAlgorithm, {"optional": True}),
        ("deviations", _Deviations),
    ]


@dataclass(frozen=True)
class ListedDeviation:
    """One deviation of a list: which documents (any of the given criteria that is set must match), what
    deviates (the Doc 9303-12 type, its data-group parameter where it has one) and the list it came from."""

    source: str
    deviation_type: str  # dotted OID
    description: str
    data_group: int | None
    ds_issuer: object | None  # asn1crypto Name
    ds_serial: int | None
    ds_key_id: bytes | None
    ds_digest: bytes | None
    digest_algorithm: str
    document_numbers: frozenset[str]

    @property
    def type_name(self) -> str:
        return DEVIATION_TYPES.get(self.deviation_type, self.deviation_type)

    def covers(self, ds: Certificate | None, document_number: str | None) -> bool:
        """Whether this deviation is about the document with DS certificate ``ds`` and ``document_number``;
        a deviation naming neither a DS nor document numbers covers nothing (it cannot be matched)."""
        criteria = []
        if self.ds_serial is not None or self.ds_key_id is not None or self.ds_digest is not None:
            criteria.append(ds is not None and self._same_signer(ds))
        if self.document_numbers:
            criteria.append(document_number is not None and document_number in self.document_numbers)
        return bool(criteria) and all(criteria)

    def _same_signer(self, ds: Certificate) -> bool:
        if self.ds_serial is not None:
            return ds.serial_number == self.ds_serial and same_name(ds.issuer, self.ds_issuer)
        if self.ds_key_id is not None:
            return ds.subject_key_id == self.ds_key_id
        hash_class = HASHES.get(self.digest_algorithm)
        if hash_class is None or self.ds_digest is None:
            return False
        from cryptography.hazmat.primitives import hashes

        digest = hashes.Hash(hash_class())
        digest.update(ds.der)
        return digest.finalize() == self.ds_digest

    def explains(self) -> tuple[str, ...]:
        """The names of the checks whose failure this deviation explains."""
        from kiosk.documents.chip.passive_auth import DS_CHAIN, SOD_SIGNATURE, hash_check_name

        kind, group = self.type_name, self.data_group
        if kind == "LDS-SODSignatureWrong":
            return (SOD_SIGNATURE,)
        if kind == "CertOrKey-DSSignature":
            return (DS_CHAIN,)
        if kind == "LDS-COMInconsistent" or (kind == "LDS-DGMalformed" and group == _COM):
            return ("chip.parse.ef_com",)
        if kind == "LDS-DGMalformed" and group == _SOD:
            return ("chip.parse.sod",)
        if kind == "LDS-DGMalformed" and group is not None:
            return (f"chip.parse.dg{group}",)
        if kind == "LDS-DGHashWrong" and group is not None and group < _SOD:
            return (hash_check_name(group),)
        return ()


def load_deviation_list(
    data: bytes, cscas: Sequence[Certificate], *, source: str = "", at: datetime | None = None
) -> tuple[ListedDeviation, ...]:
    """The deviations of a deviation list whose CMS signature verifies with its signer certificate, which a
    CSCA of ``cscas`` issued and which is valid at ``at`` (default now). DeviationListError otherwise."""
    where = source or "deviation list"
    try:
        econtent, signer = open_signed_list(data, DEVIATION_LIST_OID, "ICAO deviation list")
        content = DeviationListContent.load(econtent, strict=True)
        digest_algorithm = content["digest_algorithm"].native
        digest_name = digest_algorithm["algorithm"] if digest_algorithm else "sha256"
        deviations = [
            _listed(deviation, description, where, digest_name)
            for deviation in content["deviations"]
            for description in deviation["descriptions"]
        ]
    except DeviationListError:
        raise
    except SignedListError as exc:
        raise DeviationListError(f"{where}: {exc}") from None
    except (SignatureFailure, UnusableKey) as exc:
        raise DeviationListError(f"{where}: signature: {exc}") from exc
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise DeviationListError(f"{where}: malformed deviation list ({type(exc).__name__})") from exc
    if not any(issued_by(signer, csca) for csca in cscas):
        raise DeviationListError(f"{where}: the deviation list signer is not issued by a trusted CSCA")
    when = at or datetime.now(UTC)
    if not signer.not_valid_before <= when <= signer.not_valid_after:
        raise DeviationListError(f"{where}: the deviation list signer certificate is not valid now")
    return tuple(deviations)


def _listed(deviation: _Deviation, description: _Description, where: str, digest: str) -> ListedDeviation:
    documents = deviation["documents"]
    identifier = documents["dsc_identifier"]
    kind = None if isinstance(identifier, core.Void) else identifier.name
    issuer = serial = key_id = certificate_digest = None
    if kind == "issuer_and_serial_number":
        issuer = identifier.chosen["issuer"].untag()
        serial = identifier.chosen["serial_number"].native
    elif kind == "subject_key_identifier":
        key_id = identifier.chosen.native
    elif kind == "certificate_digest":
        certificate_digest = identifier.chosen.native
    parameter = description["parameters"].native  # the LDS types name a Datagroup (an INTEGER)
    data_group = parameter if isinstance(parameter, int) else None
    numbers = documents["document_numbers"].native or []
    return ListedDeviation(
        source=where,
        deviation_type=description["deviation_type"].dotted,
        description=description["description"].native or "",
        data_group=data_group,
        ds_issuer=issuer,
        ds_serial=serial,
        ds_key_id=key_id,
        ds_digest=certificate_digest,
        digest_algorithm=digest,
        document_numbers=frozenset(numbers),
    )


def apply_deviations(
    checks: Iterable[Check],
    deviations: Iterable[ListedDeviation],
    ds: Certificate | None,
    document_number: str | None,
) -> list[Check]:
    """``checks`` with the listed deviations that cover this document applied (see the module docstring)."""
    covering = [d for d in deviations if d.covers(ds, document_number)]
    if not covering:
        return list(checks)
    result: list[Check] = []
    for check in checks:
        explained = next((d for d in covering if check.name in d.explains()), None)
        compromised = check.name == "chip.aa.signature" and any(
            d.deviation_type == AA_KEY_COMPROMISED for d in covering
        )
        if compromised:
            result.append(Check(check.name, False, "the deviation list says this AA key is compromised"))
        elif explained is not None and not check.passed:
            detail = f"{explained.source}: {explained.type_name}"
            detail += f" ({explained.description})" if explained.description else ""
            result.append(Check(check.name, True, f"failed ({check.detail}), but listed as a deviation"))
            result.append(Check(f"{check.name}.deviation_listed", False, detail))
        else:
            result.append(check)
    return result

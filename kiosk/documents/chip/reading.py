"""``read_chip``: parse every chip file, decode the portrait and run passive authentication, turning each
step into a named :class:`Check` (``chip.parse.*``, ``chip.dg2.image_decoded``, ``chip.pa.*``, and
``chip.aa.signature`` / ``chip.ca.key_agreement`` when a live chip was challenged for Active / Chip
Authentication).

Malformed input of any kind (truncated, wrong tags, bad ASN.1, undecodable image) yields failed checks,
never an exception; only a chip that cannot be read at all raises DocumentError."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.documents.checks import Check
from kiosk.documents.chip.active_auth import verify_active_authentication
from kiosk.documents.chip.biometric import FaceImage, decode_portrait, parse_dg2
from kiosk.documents.chip.deviation_list import apply_deviations
from kiosk.documents.chip.lds import parse_dg1_lines, parse_dg14, parse_dg15, parse_ef_com
from kiosk.documents.chip.passive_auth import passive_authentication
from kiosk.documents.chip.sod import SecurityObject, parse_sod
from kiosk.documents.chip.source import ChipSource, FolderChipSource
from kiosk.documents.chip.tlv import TlvError
from kiosk.documents.chip.trust import TrustStore
from kiosk.documents.mrz import MrzRecord, parse_mrz


@dataclass(frozen=True)
class ChipReading:
    """What the chip holds and how far it can be trusted."""

    dg1: MrzRecord | None
    portrait: np.ndarray | None = field(repr=False)  # decoded BGR DG2 face image
    face: FaceImage | None = field(repr=False)  # the DG2 container and encoded image
    checks: tuple[Check, ...]
    data_groups: tuple[str, ...]  # files read: "DG1", "DG2", ...
    ef_com_data_groups: tuple[str, ...] = ()  # data groups EF.COM declares

    @property
    def passive_auth_passed(self) -> bool:
        pa = [check for check in self.checks if check.name.startswith("chip.pa.")]
        return bool(pa) and all(check.passed for check in pa)

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary without personal data (the MRZ is left to the caller)."""
        return {
            "valid": self.valid,
            "passive_auth_passed": self.passive_auth_passed,
            "data_groups": list(self.data_groups),
            "ef_com_data_groups": list(self.ef_com_data_groups),
            "face": None
            if self.face is None
            else {
                "container": self.face.container,
                "image_format": self.face.image_format,
                "width": self.face.width,
                "height": self.face.height,
            },
            "checks": {check.name: check.passed for check in self.checks},
            "check_details": {check.name: check.detail for check in self.checks if check.detail},
        }


def read_chip(
    source: Path | ChipSource,
    trust: TrustStore | None,
    *,
    at: datetime | None = None,
    extra_codes: Iterable[str] = (),
) -> ChipReading:
    """Read and verify the chip files of ``source`` (a folder of raw chip files, or any ChipSource)
    against ``trust`` at time ``at`` (default: now, UTC; also the reference date of DG1's two-digit years).
    ``extra_codes``: state codes DG1 may carry beyond the ICAO list (see ``parse_mrz``)."""
    reader = source if isinstance(source, ChipSource) else FolderChipSource(Path(source))
    files = reader.read_files()
    when = at or datetime.now(UTC)
    checks: list[Check] = []
    data_groups = {int(name[2:]): data for name, data in files.items() if name.startswith("DG")}

    ef_com_groups: tuple[str, ...] = ()
    if "EF.COM" in files:
        try:
            com = parse_ef_com(files["EF.COM"])
            ef_com_groups = tuple(f"DG{n}" for n in com.data_groups)
            missing = sorted(set(data_groups) - set(com.data_groups))
            if missing:
                listed = ", ".join(f"DG{n}" for n in missing)
                checks.append(
                    Check("chip.parse.ef_com", False, f"{listed} present but not declared in EF.COM")
                )
            else:
                checks.append(Check("chip.parse.ef_com", True, f"LDS {com.lds_version}"))
        except TlvError as exc:
            checks.append(Check("chip.parse.ef_com", False, str(exc)))
    else:
        checks.append(Check("chip.parse.ef_com", False, "EF.COM was not read"))

    dg1: MrzRecord | None = None
    if 1 in data_groups:
        try:
            lines = parse_dg1_lines(data_groups[1])
            dg1 = parse_mrz("\n".join(lines), today=when.date(), extra_codes=extra_codes)
            checks.append(Check("chip.parse.dg1", True, f"{dg1.format} MRZ"))
        except TlvError as exc:
            checks.append(Check("chip.parse.dg1", False, str(exc)))
    else:
        checks.append(Check("chip.parse.dg1", False, "DG1 was not read"))

    face, portrait = _read_face(data_groups.get(2), checks)

    if 14 in data_groups:
        checks.append(_optional_group("chip.parse.dg14", data_groups[14], parse_dg14))
    if 15 in data_groups:
        checks.append(_optional_group("chip.parse.dg15", data_groups[15], parse_dg15))

    sod: SecurityObject | None = None
    sod_problem = "EF.SOD was not read"
    if "EF.SOD" in files:
        try:
            sod = parse_sod(files["EF.SOD"])
            checks.append(
                Check("chip.parse.sod", True, f"{sod.hash_algorithm}, {len(sod.hashes)} data groups")
            )
        except TlvError as exc:
            sod_problem = str(exc)
            checks.append(Check("chip.parse.sod", False, sod_problem))
    else:
        checks.append(Check("chip.parse.sod", False, sod_problem))
    checks.extend(passive_authentication(data_groups, sod, trust, at=when, sod_problem=sod_problem))
    if reader.active_authentication is not None and 15 in data_groups:
        checks.append(
            verify_active_authentication(data_groups[15], data_groups.get(14), reader.active_authentication)
        )
    if reader.chip_authentication is not None:
        checks.append(reader.chip_authentication)
    if trust is not None and trust.deviations:
        ds = sod.signer_certificate if sod is not None else None
        number = dg1.document_number if dg1 is not None else None
        checks = apply_deviations(checks, trust.deviations, ds, number)

    return ChipReading(
        dg1=dg1,
        portrait=portrait,
        face=face,
        checks=tuple(checks),
        data_groups=tuple(f"DG{n}" for n in sorted(data_groups)),
        ef_com_data_groups=ef_com_groups,
    )


def _read_face(data: bytes | None, checks: list[Check]) -> tuple[FaceImage | None, np.ndarray | None]:
    if data is None:
        checks.append(Check("chip.parse.dg2", False, "DG2 was not read"))
        checks.append(Check("chip.dg2.image_decoded", False, "DG2 was not read"))
        return None, None
    try:
        face = parse_dg2(data)
    except TlvError as exc:
        checks.append(Check("chip.parse.dg2", False, str(exc)))
        checks.append(Check("chip.dg2.image_decoded", False, "DG2 cannot be parsed"))
        return None, None
    checks.append(Check("chip.parse.dg2", True, f"{face.container}, {face.image_format}"))
    try:
        portrait = decode_portrait(face)
    except TlvError as exc:
        checks.append(Check("chip.dg2.image_decoded", False, str(exc)))
        return face, None
    height, width = portrait.shape[:2]
    checks.append(Check("chip.dg2.image_decoded", True, f"{width}x{height} {face.image_format}"))
    return face, portrait


def _optional_group(name: str, data: bytes, parse: Any) -> Check:
    try:
        parsed = parse(data)
    except TlvError as exc:
        return Check(name, False, str(exc))
    return Check(name, True, str(parsed) if isinstance(parsed, str) else f"{len(parsed)} security infos")

"""A named document check result, shared by MRZ validation, OCR, chip parsing and passive authentication."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.errors import KioskError


@dataclass(frozen=True)
class Check:
    """One named check, e.g. ``mrz.document_number.check_digit`` or ``chip.pa.sod_signature``.

    Names are stable identifiers the policy configuration refers to; ``detail`` is for the officer."""

    name: str
    passed: bool
    detail: str = ""


class DocumentError(KioskError):
    """The document cannot be read at all (no MRZ in the image, unreadable chip folder, ...)."""

    code = "DOC_UNREADABLE"

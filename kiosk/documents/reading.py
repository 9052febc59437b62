"""One reading of a travel document from what the reader delivered: MRZ text, a data-page image, the chip.

``read_document(page=..., chip=..., mrz_text=..., trust=...)`` combines the sources into a
``DocumentReading``:

- ``mrz``: the printed MRZ (typed text or the OCR of the data page) when there is one, else the chip's DG1;
  its ``mrz.*`` checks are the reading's. When both exist, DG1's own checks appear as ``chip.dg1.*`` and
  ``doc.chip_matches_mrz`` compares the two MRZs character by character (a mismatch names the fields);
- ``portrait``: the chip's DG2 face when it decodes (the issuer's own image, authenticated by passive
  authentication), else the portrait cropped from the data page; ``portrait_source`` says which;
- ``checks``: every named check of every source (``mrz.*``, ``ocr.*``, ``chip.*``), plus ``doc.not_expired``
  (expiry date on or after today: a document is valid through its expiry day) and
  ``doc.chip_matches_mrz``. ``valid`` is true when all pass. An OCR read the check digits could not settle
  (``ocr.ambiguous_field``) is settled when the chip's DG1 holds exactly the reading chosen.

A source that cannot be read at all raises DocumentError when it is the only one; beside another source it
becomes a failed check (``doc.data_page.readable`` / ``doc.chip.readable``) and the reading goes on.

A live chip (``chip`` a :class:`LiveChip`, the gate's PC/SC reader) is opened with the printed MRZ, so it
needs the data page or the MRZ text. What happens to it is named, never silent: ``chip.present`` (a chip
answered), ``chip.access`` (PACE or BAC with the MRZ opened it) and ``chip.read`` (all files read within the
time budget; a card removed or a reader unplugged mid-read fails it), then the chip's own ``chip.*`` checks.

Presentation folder (``kiosk.documents.presentation``; what the gate's document-reader device delivers):
a folder holding the data-page image (the first ``*.jpg|jpeg|png|bmp|tif|tiff|webp`` in name order, e.g.
``page.png``) and/or a ``chip/`` sub-folder of raw chip files (``EF.COM``, ``DG1``, ``DG2``, ..., ``EF.SOD``).
A folder that itself holds ``EF.SOD`` or ``DG1`` is a chip folder.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kiosk.documents.checks import Check, DocumentError
from kiosk.documents.mrz import MrzRecord, parse_mrz
from kiosk.documents.mrz_layouts import FIELD_LAYOUTS
from kiosk.documents.presentation import Presentation

if TYPE_CHECKING:
    from kiosk.documents.chip import ChipReading, TrustStore
    from kiosk.documents.chip.source import ChipSource
    from kiosk.documents.ocr import DataPageReading

_MRZ_RECORD_KEYS = (
    "format", "document_code", "document_type", "issuing_state", "surname", "given_names", "name_truncated",
    "document_number", "nationality", "date_of_birth", "date_of_birth_raw", "sex", "expiry_date",
    "expiry_date_raw", "optional_data", "optional_data_2",
)  # fmt: skip


@dataclass(frozen=True)
class DocumentReading:
    """The unified reading of one document; see the module docstring for how sources combine."""

    mrz: MrzRecord | None
    portrait: np.ndarray | None = field(repr=False)
    portrait_source: str | None  # "chip", "data_page" or None
    checks: tuple[Check, ...]
    sources: tuple[str, ...]  # "mrz_text", "data_page", "chip"
    chip_mrz: MrzRecord | None = None  # DG1, when it is not already ``mrz``
    ocr_confidence: float | None = None
    chip_data_groups: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the MRZ fields at the top level (``None`` without an MRZ), ISO dates, ``checks`` as
        {name: passed}, ``check_details`` as {name: detail}; no image data."""
        record = self.mrz.as_dict() if self.mrz else {}
        data: dict[str, Any] = {"valid": self.valid, "sources": list(self.sources)}
        data.update({key: record.get(key) for key in _MRZ_RECORD_KEYS})
        data["portrait_source"] = self.portrait_source
        if self.ocr_confidence is not None:
            data["ocr_confidence"] = round(self.ocr_confidence, 4)
        if "chip" in self.sources:
            data["chip_data_groups"] = list(self.chip_data_groups)
        data["checks"] = {check.name: check.passed for check in self.checks}
        data["check_details"] = {check.name: check.detail for check in self.checks if check.detail}
        return data


class LiveChip(Protocol):
    """A chip reader that opens the chip with the MRZ (``kiosk.devices.chip_reader.PcscChipDevice``)."""

    def reader_for(self, mrz: MrzRecord) -> ChipSource:
        """The reader of the chip now on the reader; ValueError when the MRZ cannot open a chip."""
        ...


def _today(today: dt.date | None) -> dt.date:
    return today or dt.datetime.now(dt.UTC).date()


def not_expired_check(record: MrzRecord | None, today: dt.date) -> Check:
    """``doc.not_expired``: the expiry date is known and not before ``today``."""
    name = "doc.not_expired"
    if record is None or record.expiry_date is None:
        return Check(name, False, "expiry date unknown")
    if record.expiry_date < today:
        return Check(name, False, f"expired {(today - record.expiry_date).days} day(s) ago")
    return Check(name, True)


def chip_matches_mrz_check(printed: MrzRecord, chip: MrzRecord) -> Check:
    """``doc.chip_matches_mrz``: DG1 holds exactly the printed MRZ; the detail names differing fields."""
    name = "doc.chip_matches_mrz"
    if printed.lines == chip.lines:
        return Check(name, True)
    if printed.format != chip.format or printed.format is None:
        return Check(name, False, f"formats differ (printed {printed.format}, chip {chip.format})")
    differing = [
        f.name
        for f in FIELD_LAYOUTS[printed.format]
        if f.take(printed.lines) != f.take(chip.lines) and not f.name.endswith("_check")
    ]
    return Check(name, False, "differs in " + (", ".join(differing) or "check digits"))


def _settled_by_chip(check: Check) -> Check:
    """``ocr.ambiguous_field`` passes when the chip's DG1 holds exactly the reading the OCR chose (the
    chip's own checks, passive authentication among them, stand beside it)."""
    if check.name != "ocr.ambiguous_field" or check.passed:
        return check
    return Check(check.name, True, "settled by the chip: DG1 holds the reading chosen")


def _renamed_dg1_checks(record: MrzRecord) -> list[Check]:
    return [Check("chip.dg1." + c.name.removeprefix("mrz."), c.passed, c.detail) for c in record.checks]


def _read_page(page: Path | np.ndarray) -> DataPageReading:
    from kiosk.documents.ocr import read_data_page

    if isinstance(page, np.ndarray):
        return read_data_page(page)
    from matcher.errors import ImageError
    from matcher.imageio import load_image

    try:
        image = load_image(page)
    except ImageError as exc:
        raise DocumentError(f"data page image {exc}") from exc  # the message names the file
    return read_data_page(image)


def _read_chip(
    chip: Path, trust: TrustStore | None, today: dt.date | None, extra_codes: tuple[str, ...]
) -> ChipReading:
    from kiosk.documents.chip import read_chip

    chip = Path(chip)
    if not chip.is_dir():
        raise DocumentError(f"chip folder {chip} does not exist")
    at = dt.datetime.combine(today, dt.time(12), dt.UTC) if today else None
    return read_chip(chip, trust, at=at, extra_codes=extra_codes)


def _read_live_chip(
    live: LiveChip,
    printed: MrzRecord,
    trust: TrustStore | None,
    today: dt.date | None,
    extra_codes: tuple[str, ...],
    checks: list[Check],
) -> ChipReading | None:
    """Open and read a live chip with the printed MRZ, appending ``chip.present``, ``chip.access`` and
    ``chip.read`` as far as it got; the reading, or None when it did not complete."""
    from kiosk.documents.chip import read_chip
    from kiosk.documents.chip.pcsc import ChipAbsentError, ChipAccessError

    try:
        reader = live.reader_for(printed)
    except ValueError as exc:
        checks.append(Check("chip.access", False, str(exc)))
        return None
    at = dt.datetime.combine(today, dt.time(12), dt.UTC) if today else None
    start = time.perf_counter()
    try:
        reading = read_chip(reader, trust, at=at, extra_codes=extra_codes)
    except ChipAbsentError as exc:
        checks.append(Check("chip.present", False, str(exc)))
        return None
    except ChipAccessError as exc:
        checks += [Check("chip.present", True), Check("chip.access", False, str(exc))]
        return None
    except DocumentError as exc:  # removed or unplugged mid-read, over the time budget
        checks.append(Check("chip.present", True))
        access = getattr(reader, "access_control", "")
        if access:
            checks.append(Check("chip.access", True, access))
        checks.append(Check("chip.read", False, f"{exc} [{exc.code}]"))
        return None
    elapsed_ms = (time.perf_counter() - start) * 1000
    checks += [
        Check("chip.present", True),
        Check("chip.access", True, getattr(reader, "access_control", "")),
        Check(
            "chip.read",
            True,
            f"{len(reading.data_groups)} data groups read and verified in {elapsed_ms:.0f} ms",
        ),
    ]
    return reading


def read_document(
    *,
    page: Path | np.ndarray | None = None,
    chip: Path | LiveChip | None = None,
    mrz_text: str | None = None,
    trust: TrustStore | None = None,
    today: dt.date | None = None,
    extra_codes: Iterable[str] = (),
) -> DocumentReading:
    """Read a document from MRZ text, a data-page image (path or BGR array) and/or a chip (a folder of chip
    files, or a live chip opened with the printed MRZ: see the module docstring).

    ``today`` (default: the current UTC date) fixes two-digit years, ``doc.not_expired`` and the time of the
    certificate checks; ``extra_codes`` are state codes accepted beyond the ICAO list (e.g. ``UTO``).
    Raises DocumentError when no source is given or none can be read at all."""
    if page is None and chip is None and mrz_text is None:
        raise DocumentError("no document source: give MRZ text, a data-page image or a chip folder")
    live = chip if chip is not None and not isinstance(chip, str | Path) else None
    if live is not None and page is None and mrz_text is None:
        raise DocumentError("a chip on the reader is opened with the MRZ: give the data page or the MRZ text")
    day = _today(today)
    extra = tuple(extra_codes)
    checks: list[Check] = []
    sources: list[str] = []
    printed: MrzRecord | None = None
    page_portrait: np.ndarray | None = None
    ocr_confidence: float | None = None

    if mrz_text is not None:
        printed = parse_mrz(mrz_text, today=day, extra_codes=extra)
        sources.append("mrz_text")
    if page is not None:
        try:
            reading = _read_page(page)
        except DocumentError as exc:
            if (chip is None or live is not None) and printed is None:
                raise
            checks.append(Check("doc.data_page.readable", False, f"{exc} [{exc.code}]"))
        else:
            sources.append("data_page")
            page_record = parse_mrz("\n".join(reading.lines), today=day, extra_codes=extra)
            if printed is None:
                printed = page_record
            else:
                same = printed.lines == page_record.lines
                checks.append(Check("doc.data_page_matches_mrz_text", same, "" if same else "OCR differs"))
            checks.extend(c for c in reading.checks if not c.name.startswith("mrz."))
            page_portrait, ocr_confidence = reading.portrait, reading.confidence

    chip_reading: ChipReading | None = None
    dg1: MrzRecord | None = None
    if live is not None:
        assert printed is not None  # a live chip comes with the data page or the MRZ text (checked above)
        chip_reading = _read_live_chip(live, printed, trust, today, extra, checks)
        if chip_reading is not None:
            sources.append("chip")
            checks.extend(chip_reading.checks)
            dg1 = chip_reading.dg1
    elif chip is not None:
        try:
            chip_reading = _read_chip(chip, trust, today, extra)
        except DocumentError as exc:
            if not sources:
                raise
            checks.append(Check("doc.chip.readable", False, f"{exc} [{exc.code}]"))
        else:
            sources.append("chip")
            checks.extend(chip_reading.checks)
            dg1 = chip_reading.dg1

    mrz = printed or dg1
    chip_mrz = dg1 if printed is not None else None
    mrz_checks = list(mrz.checks) if mrz else []
    if chip_mrz is not None and printed is not None:
        mrz_checks += _renamed_dg1_checks(chip_mrz)
        mrz_checks.append(chip_matches_mrz_check(printed, chip_mrz))
        if printed.lines == chip_mrz.lines:
            checks = [_settled_by_chip(c) for c in checks]
    mrz_checks.append(not_expired_check(mrz, day))

    portrait, portrait_source = None, None
    if chip_reading is not None and chip_reading.portrait is not None:
        portrait, portrait_source = chip_reading.portrait, "chip"
    elif page_portrait is not None:
        portrait, portrait_source = page_portrait, "data_page"

    return DocumentReading(
        mrz=mrz,
        portrait=portrait,
        portrait_source=portrait_source,
        checks=tuple(mrz_checks + checks),
        sources=tuple(sources),
        chip_mrz=chip_mrz,
        ocr_confidence=ocr_confidence,
        chip_data_groups=chip_reading.data_groups if chip_reading else (),
    )


def read_path(
    path: Path,
    *,
    trust: TrustStore | None = None,
    today: dt.date | None = None,
    extra_codes: Iterable[str] = (),
) -> DocumentReading:
    """Read an image file (data page), a chip folder or a presentation folder (module docstring)."""
    path = Path(path)
    if not path.exists():
        raise DocumentError(f"no such document file or folder: {path}")
    presentation = Presentation.from_path(path)
    if presentation.empty:
        raise DocumentError(f"{path} holds neither a data-page image nor a chip folder (chip/, EF.SOD, DG1)")
    return read_document(
        page=presentation.page, chip=presentation.chip, trust=trust, today=today, extra_codes=extra_codes
    )

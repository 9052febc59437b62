"""The gate's chip reader: a PC/SC reader (``pcscd``) whose chip is opened with the MRZ read from the data
page (PACE where the chip offers it, else BAC) and read within a time budget. ``kiosk.documents.reading``
turns what happens into named checks: ``chip.present`` (a card with an eMRTD application is on the reader),
``chip.access`` (the MRZ opens it) and ``chip.read`` (every file read within the budget, the card not
removed nor the reader unplugged meanwhile)."""

from __future__ import annotations

from kiosk.devices.document_reader import DocumentReaderError
from kiosk.documents.chip.pcsc import BacKey, ChipAbsentError, PcscChipReader, pcsc_readers
from kiosk.documents.mrz import MrzRecord


class PcscChipDevice:
    """The PC/SC reader whose name contains ``reader_name`` (empty: the first reader holding a card)."""

    def __init__(self, reader_name: str = "", time_budget_s: float = 5.0) -> None:
        self.reader_name = reader_name or None
        self.time_budget_s = time_budget_s

    def reader_for(self, mrz: MrzRecord) -> PcscChipReader:
        """A reader of the chip on the reader, opened with ``mrz``'s document number and dates
        (ValueError when the MRZ lacks them)."""
        return PcscChipReader(BacKey.from_mrz(mrz), self.reader_name, time_budget_s=self.time_budget_s)

    def check(self) -> None:
        """At start: the PC/SC service runs and the configured reader is connected (DocumentReaderError)."""
        try:
            found = pcsc_readers(self.reader_name)
        except ChipAbsentError as exc:
            raise DocumentReaderError(f"devices.chip_reader: {exc}") from None
        if not found:
            wanted = f"named like {self.reader_name!r}" if self.reader_name else "at all"
            raise DocumentReaderError(f"devices.chip_reader: no PC/SC reader {wanted} is connected")

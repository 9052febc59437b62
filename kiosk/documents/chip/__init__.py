"""eMRTD chip data (ICAO Doc 9303 parts 10 and 11): LDS parsing, the DG2 face, EF.SOD and passive
authentication against trusted CSCA certificates.

``read_chip(folder_or_source, trust)`` returns a ChipReading whose ``checks`` name every step; see
:mod:`kiosk.documents.chip.reading`. Chip sources: ``FolderChipSource`` (raw chip files in a folder) and
``pcsc.PcscChipReader`` (a PC/SC reader: PACE or Basic Access Control, secure messaging, Active and Chip
Authentication; needs ``pyscard``)."""

from kiosk.documents.chip.reading import ChipReading, read_chip
from kiosk.documents.chip.source import ChipSource, FolderChipSource
from kiosk.documents.chip.trust import TrustStore, TrustStoreError

__all__ = ["ChipReading", "ChipSource", "FolderChipSource", "TrustStore", "TrustStoreError", "read_chip"]

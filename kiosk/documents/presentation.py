"""A presentation: one document as put on the reader, the data-page image and/or the chip folder (EF.COM,
DG1, DG2, ..., EF.SOD), as a full-page scanner and an RFID reader deliver them. Documents own it; the
document-reader device (``kiosk.devices.document_reader``) delivers presentations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiosk.documents.checks import DocumentError
from matcher.imageio import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Presentation:
    """One document put on the reader: the data-page image and/or the chip folder (at least one)."""

    name: str
    page: Path | None = None
    chip: Path | None = None
    source: Path | None = None  # what was presented: the file or folder

    @classmethod
    def from_path(cls, path: str | Path) -> Presentation:
        """A data-page image file, a chip folder, or a presentation folder holding either or both."""
        p = Path(path)
        if p.is_file():
            return cls(name=p.stem, page=p, source=p)
        if not p.is_dir():
            raise DocumentError(f"no such document file or folder: {p}")
        if _is_chip_folder(p):
            return cls(name=p.name, chip=p, source=p)
        pages = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        chip = p / "chip"
        return cls(
            name=p.name, page=pages[0] if pages else None, chip=chip if chip.is_dir() else None, source=p
        )

    @property
    def empty(self) -> bool:
        return self.page is None and self.chip is None


def _is_chip_folder(p: Path) -> bool:
    return (p / "EF.SOD").is_file() or (p / "DG1").is_file()

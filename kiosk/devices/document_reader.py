"""Document reader: a folder where each presentation is a sub-folder holding the data-page image and/or a
``chip/`` folder of chip files (EF.COM, DG1, DG2, ..., EF.SOD), as a full-page scanner + RFID reader
would deliver them. A presentation is processed once; then it is moved to ``done_path`` or remembered."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kiosk.devices.camera import IMAGE_SUFFIXES
from kiosk.errors import KioskError


class DocumentReaderError(KioskError):
    code = "DOCUMENT_READER_UNAVAILABLE"


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
            raise DocumentReaderError(f"no such document file or folder: {p}")
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


class DocumentReader(Protocol):
    def poll(self) -> Presentation | None:
        """The next presented document, or ``None`` when the reader is empty."""
        ...

    def done(self, presentation: Presentation) -> None:
        """The transaction of ``presentation`` is decided or cancelled: hand the document back."""
        ...

    def close(self) -> None: ...


class FolderDocumentReader:
    """Presentations are the sub-folders of ``path`` (name order); new ones may appear at any time."""

    def __init__(self, path: str | Path, *, done_path: str | Path | None = None) -> None:
        self._path = Path(path)
        if not self._path.is_dir():
            raise DocumentReaderError(f"document reader folder not found: {self._path}")
        self._done = Path(done_path) if done_path else None
        self._seen: set[str] = set()

    def poll(self) -> Presentation | None:
        for entry in sorted(self._path.iterdir()):
            if entry.name in self._seen or entry.name.startswith("."):
                continue
            if not (entry.is_dir() or entry.suffix.lower() in IMAGE_SUFFIXES):
                continue
            self._seen.add(entry.name)
            return Presentation.from_path(entry)
        return None

    def done(self, presentation: Presentation) -> None:
        """Move a processed presentation out of the reader folder (when ``done_path`` is configured)."""
        source = presentation.source
        if self._done is None or source is None or not source.exists():
            return
        self._done.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(self._done / source.name))

    def close(self) -> None:
        pass

"""Document reader: a folder where each presentation is a sub-folder holding the data-page image and/or a
``chip/`` folder of chip files (EF.COM, DG1, DG2, ..., EF.SOD), as a full-page scanner + RFID reader
would deliver them. A presentation is processed once; then it is moved to ``done_path`` or remembered."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from kiosk.documents.presentation import Presentation
from kiosk.errors import KioskError
from matcher.imageio import IMAGE_SUFFIXES


class DocumentReaderError(KioskError):
    code = "DOCUMENT_READER_UNAVAILABLE"


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

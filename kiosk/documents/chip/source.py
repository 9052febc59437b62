"""Chip sources: where the raw eMRTD files come from (a folder, or a reader port talking to a live chip,
``pcsc.PcscChipReader``). A source returns the files it could read, by name (``EF.COM``, ``DG1`` ...
``DG16``, ``EF.SOD``), exactly as stored on the chip; what is made of them is a ``ChipReading``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from kiosk.documents.checks import Check, DocumentError
from kiosk.documents.chip.active_auth import ChallengeResponse

CHIP_FILE_NAMES = ("EF.COM", *(f"DG{n}" for n in range(1, 17)), "EF.SOD")
MAX_FILE_BYTES = 1 << 20  # no LDS file is anywhere near 1 MiB (the largest, DG2, is ~15-100 kB)


class ChipSource(ABC):
    """A source of eMRTD chip files. A reader talking to a live chip also records, while reading, the chip's
    answer to an Active Authentication challenge (``active_authentication``, when it has DG15) and the
    outcome of Chip Authentication (``chip_authentication``, when its DG14 offers it)."""

    active_authentication: ChallengeResponse | None = None
    chip_authentication: Check | None = None

    @abstractmethod
    def read_files(self) -> dict[str, bytes]:
        """The chip files read, by name; DocumentError when the chip cannot be read at all."""


class FolderChipSource(ChipSource):
    """Chip files stored as raw bytes in a folder, one file per elementary file (``EF.COM``, ``DG1``...)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def read_files(self) -> dict[str, bytes]:
        if not self.folder.is_dir():
            raise DocumentError(f"chip folder {self.folder} does not exist")
        files: dict[str, bytes] = {}
        for name in CHIP_FILE_NAMES:
            path = self.folder / name
            if not path.is_file():
                continue
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise DocumentError(f"chip file {name} is larger than {MAX_FILE_BYTES} bytes")
                files[name] = path.read_bytes()
            except OSError as exc:
                raise DocumentError(f"chip file {name} cannot be read: {exc.strerror or exc}") from exc
        if not files:
            raise DocumentError(f"chip folder {self.folder} holds no chip files")
        return files


def write_chip_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write chip files into ``folder`` (created if needed), the layout FolderChipSource reads."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name not in CHIP_FILE_NAMES:
            raise ValueError(f"unknown chip file name {name!r}")
        (folder / name).write_bytes(data)

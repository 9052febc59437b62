"""Monospaced fonts for MRZ text: OCR-B (Debian ``fonts-ocr-b``), DejaVu (in matplotlib), Liberation.

Fonts are split into a *training* set (glyphs the OCR classifier is trained on) and an *unseen* set the
benchmark can use to measure generalisation to a face the classifier never saw."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib

from kiosk.documents.checks import DocumentError

_MPL = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
_OCRB = Path("/usr/share/fonts/opentype/ocr-b")
_LIBERATION = Path("/usr/share/fonts/truetype/liberation")

# name -> candidate files (first existing wins)
FONT_FILES: dict[str, tuple[Path, ...]] = {
    "ocr-b": (_OCRB / "OCRB.otf",),
    "ocr-b-sharp": (_OCRB / "OCRBS.otf",),
    "dejavu-mono": (_MPL / "DejaVuSansMono.ttf",),
    "dejavu-mono-bold": (_MPL / "DejaVuSansMono-Bold.ttf",),
    "liberation-mono": (_LIBERATION / "LiberationMono-Regular.ttf",),
    "liberation-mono-bold": (_LIBERATION / "LiberationMono-Bold.ttf",),
    "cm-typewriter": (_MPL / "cmtt10.ttf",),  # Computer Modern Typewriter: slab serifs, unlike OCR-B
}
TRAINING_FONTS = ("ocr-b", "ocr-b-sharp", "dejavu-mono", "dejavu-mono-bold", "liberation-mono")
UNSEEN_FONTS = ("cm-typewriter", "liberation-mono-bold")


class FontMissingError(DocumentError):
    code = "FONT_MISSING"


@cache
def font_path(name: str) -> Path:
    """The file of font ``name``; FontMissingError when it is unknown or not installed."""
    if name not in FONT_FILES:
        raise FontMissingError(f"unknown font {name!r}; known: {', '.join(FONT_FILES)}")
    for path in FONT_FILES[name]:
        if path.is_file():
            return path
    hint = " (apt-get install fonts-ocr-b)" if name.startswith("ocr-b") else ""
    raise FontMissingError(f"font {name!r} is not installed{hint}")


def available_fonts(names: tuple[str, ...] = tuple(FONT_FILES)) -> tuple[str, ...]:
    """The subset of ``names`` whose files exist on this machine."""
    return tuple(n for n in names if any(p.is_file() for p in FONT_FILES.get(n, ())))

"""Physical layout of ICAO 9303 documents (millimetres), shared by the page renderer and the OCR's
portrait locator (which maps the portrait box through the geometry it finds for the MRZ)."""

from __future__ import annotations

from dataclasses import dataclass

PITCH_MM = 2.54  # ICAO 9303: 10 characters per inch in the MRZ
LINE_PITCH_MM = 4.3  # baseline-to-baseline distance of MRZ lines
CAP_HEIGHT_MM = 2.4  # nominal OCR-B size 1 capital height


@dataclass(frozen=True)
class PageLayout:
    """Card/page size, MRZ placement and the portrait box of one document format (all in mm)."""

    format: str
    width: float
    height: float
    chars: int
    lines: int
    mrz_left: float  # left edge of the first character cell
    last_baseline: float  # baseline of the last MRZ line, from the top edge
    portrait: tuple[float, float, float, float] | None  # x, y, w, h; None: this side carries no portrait

    def baseline(self, line: int) -> float:
        """Baseline (mm from the top) of MRZ line ``line`` (0-based)."""
        return self.last_baseline - (self.lines - 1 - line) * LINE_PITCH_MM


LAYOUTS: dict[str, PageLayout] = {
    "TD3": PageLayout("TD3", 125.0, 88.0, 44, 2, 6.0, 83.0, (6.0, 22.0, 32.0, 41.0)),
    "TD2": PageLayout("TD2", 105.0, 74.0, 36, 2, 6.0, 69.5, (5.0, 17.0, 27.0, 34.0)),
    # TD1 MRZ is on the back of the card, which carries no portrait
    "TD1": PageLayout("TD1", 85.6, 54.0, 30, 3, 4.7, 50.0, None),
}
FORMAT_BY_SHAPE = {(layout.lines, layout.chars): name for name, layout in LAYOUTS.items()}

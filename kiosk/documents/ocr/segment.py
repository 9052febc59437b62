"""Rectify the located MRZ to a canonical raster and cut it into character cells.

Canonical raster: character pitch ``PITCH`` px, capital height about ``CAP`` px, lines ``LINE_PITCH`` apart.
Cells are ``CELL_H`` x ``CELL_W`` ink maps (0 = paper, 1 = ink) centred on each character position."""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.documents.ocr.locate import MrzRegion

PITCH = 20.0
CAP = 19.0
LINE_PITCH = 34.0
MARGIN = 16.0
CELL_H, CELL_W = 32, 24
GLYPH_FRACTION = 0.7  # typical ink width of a glyph as a fraction of the pitch
LINE_LENGTHS = {2: (44, 36), 3: (30,)}


def _warp(gray: np.ndarray, quad: np.ndarray, width: float, height: float) -> np.ndarray:
    """Warp ``quad`` (ink extents) onto [MARGIN, MARGIN+width] x [MARGIN, MARGIN+height]."""
    dst = np.array(
        [
            [MARGIN, MARGIN],
            [MARGIN + width, MARGIN],
            [MARGIN + width, MARGIN + height],
            [MARGIN, MARGIN + height],
        ],
        np.float32,
    )
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    size = (round(width + 2 * MARGIN), round(height + 2 * MARGIN))
    return cv2.warpPerspective(gray, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Background-normalised ink: divide by a smooth paper estimate, stretch so strokes reach about 1."""
    g = gray.astype(np.float32) + 1.0
    k = int(2 * PITCH) | 1
    paper = cv2.GaussianBlur(cv2.dilate(g, np.ones((k, k), np.uint8)), (0, 0), PITCH / 2)
    ink = np.clip(1.0 - g / paper, 0, None)
    level = float(np.percentile(ink, 99)) or 1.0
    return np.clip(ink / level, 0, 1.2).astype(np.float32)


def _period(profile: np.ndarray, n_options: tuple[int, ...], length: float) -> int:
    """Pick the line length in characters whose pitch best matches the profile's periodicity."""
    if len(n_options) == 1:
        return n_options[0]
    p = profile - profile.mean()
    ac = np.correlate(p, p, mode="full")[len(p) - 1 :]
    scores = []
    for n in n_options:
        lag = length / (n - 1 + GLYPH_FRACTION)
        lo, hi = int(lag * 0.93), int(np.ceil(lag * 1.07)) + 1
        scores.append(ac[lo:hi].max() if hi < len(ac) else -np.inf)
    return n_options[int(np.argmax(scores))]


def rectify(gray: np.ndarray, region: MrzRegion, n: int | None = None) -> tuple[np.ndarray, int]:
    """Canonical ink raster of the MRZ and the number of characters per line (measured unless given)."""
    quad = region.quad
    length = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    span = (region.lines - 1) * LINE_PITCH + CAP
    options = LINE_LENGTHS[region.lines]
    if n is None and len(options) == 1:
        n = options[0]
    if n is None:
        # provisional warp at canonical height to measure the character pitch
        width = length * CAP / max(region.line_height, 1.0)
        probe = ink_map(_warp(gray, quad, width, span))
        bottom = probe[int(MARGIN + span - CAP) : int(MARGIN + span)]
        n = _period(bottom.sum(axis=0)[int(MARGIN) : int(MARGIN + width)], options, width)
    width = (n - 1 + GLYPH_FRACTION) * PITCH
    return ink_map(_warp(gray, quad, width, span)), n


def _line_centre(ink: np.ndarray, expected: float) -> float:
    rows = ink.sum(axis=1)
    window = np.convolve(rows, np.ones(int(CAP)), mode="same")
    lo, hi = int(expected - 0.35 * LINE_PITCH), int(expected + 0.35 * LINE_PITCH) + 1
    lo, hi = max(lo, 0), min(hi, len(window))
    return float(lo + np.argmax(window[lo:hi]))


def _fit_pitch(profile: np.ndarray, n: int) -> tuple[float, float]:
    """(x of the first cell centre, pitch) minimising ink on the cell boundaries.

    Rectification pinned the ink of the first and last glyph to known columns, so each end centre lies
    within half a pitch of it; searching the two end centres (not a free pitch) cannot slip a character."""
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    xs = np.arange(len(smooth), dtype=np.float32)
    ink_end = MARGIN + (n - 1 + GLYPH_FRACTION) * PITCH
    firsts = np.arange(MARGIN + 0.05 * PITCH, MARGIN + 0.55 * PITCH, 0.5)
    lasts = np.arange(ink_end - 0.55 * PITCH, ink_end - 0.05 * PITCH, 0.5)
    pitches = (lasts[None, :] - firsts[:, None]) / (n - 1)
    steps = np.arange(-1, n) + 0.5
    bounds = firsts[:, None, None] + steps[None, None, :] * pitches[:, :, None]
    scores = np.interp(bounds, xs, smooth).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(scores)), scores.shape)
    return float(firsts[i]), float(pitches[i, j])


def cell_centres(ink: np.ndarray, lines: int, n: int) -> np.ndarray:
    """(lines * n, 2) x, y of every character cell centre, in reading order."""
    centres = np.empty((lines * n, 2), np.float32)
    for line in range(lines):
        cy = _line_centre(ink, MARGIN + CAP / 2 + line * LINE_PITCH)
        band = ink[max(int(cy - CAP / 2), 0) : int(cy + CAP / 2) + 1]
        a, pitch = _fit_pitch(band.sum(axis=0), n)
        centres[line * n : (line + 1) * n, 0] = a + np.arange(n) * pitch
        centres[line * n : (line + 1) * n, 1] = cy
    return centres


def cut_cells(
    ink: np.ndarray, lines: int, n: int, offsets: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
) -> np.ndarray:
    """(len(offsets) * lines * n, CELL_H, CELL_W) float32 cells in reading order, once per (dx, dy) offset."""
    centres = cell_centres(ink, lines, n)
    cells = np.empty((len(offsets) * len(centres), CELL_H, CELL_W), np.float32)
    k = 0
    for dx, dy in offsets:
        for x, y in centres:
            cells[k] = cv2.getRectSubPix(ink, (CELL_W, CELL_H), (float(x + dx), float(y + dy)))
            k += 1
    return cells

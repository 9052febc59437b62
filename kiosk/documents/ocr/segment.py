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
_INKED = 0.3  # a cell whose darkest ink reaches this holds a glyph, not paper
_HEIGHT_SCALES = (0.7, 1.5)  # vertical scale limits of the glyph-height normalisation
#: Glyph height (``glyph_height`` rows) cells are cut at. The shipped classifier's training glyphs measure
#: 18-21.5 rows (median 20) by the same measure; on the 30 real development images 19, 20, 21, 22, 23 and 24
#: rows gave 13, 15, 16, 18, 17 and 12 exact reads, none wrong; generated pages 199-200 of 200.
GLYPH_ROWS = 22.0
_BOUNDARY_KERNEL = cv2.getGaussianKernel(9, 1.5).ravel()
MAX_BOW = 0.6 * PITCH  # largest perspective displacement of a line's middle character from the straight line


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
    """Sub-pixel row near ``expected`` where a cap-high window holds the most ink."""
    reach = 0.35 * LINE_PITCH
    window = np.convolve(ink.sum(axis=1), np.ones(int(CAP)), mode="same")
    lo, hi = max(int(expected - reach), 1), min(int(expected + reach) + 1, len(window) - 1)
    i = lo + int(np.argmax(window[lo:hi]))
    below, peak, above = window[i - 1 : i + 2]
    curvature = below - 2 * peak + above
    return i + (0.5 * (below - above) / curvature if curvature < 0 else 0.0)


def _projective(
    firsts: np.ndarray, lasts: np.ndarray, bows: np.ndarray | float, steps: np.ndarray, n: int
) -> np.ndarray:
    """Positions of ``steps`` (character indices) under the 1-D projective maps fixed by the first and
    last centres and the deviation ``bow`` of the middle centre from the straight line: a flat page seen
    in perspective spaces its characters unevenly, which no linear pitch can follow. Broadcasts."""
    span = lasts - firsts
    h = 0.5 + bows / span  # where the middle character falls, as a fraction of the span
    k = (1 - 2 * h) / (h - 1)
    t = steps / (n - 1)
    return firsts + span * t * (1 + k) / (1 + k * t)


def _fit_lines(profiles: list[np.ndarray], n: int) -> np.ndarray:
    """(lines, n) x of the cell centres minimising ink on the cell boundaries, coarse then fine.

    Rectification pinned the ink of the first and last glyph of each line to known columns, so each end
    centre lies within half a pitch of it. The bow is shared by all lines (one page, one perspective):
    fitted per line it would bend to the glyph shapes of that line's text. Bounded, it cannot slip a
    character."""
    # smoothed so the minimum sits mid-gap: a raw profile is flat all across a gap between glyphs
    smooth = [np.convolve(p, _BOUNDARY_KERNEL, mode="same") for p in profiles]
    xs = np.arange(len(smooth[0]), dtype=np.float32)
    bounds = np.arange(-1, n) + 0.5

    def best(firsts: np.ndarray, lasts: np.ndarray, bows: np.ndarray) -> tuple[np.ndarray, ...]:
        """firsts, lasts: (lines, F), (lines, L) candidates per line; bows: (B,) shared candidates."""
        per_line = []
        for profile, f, la in zip(smooth, firsts, lasts, strict=True):
            grid = np.meshgrid(f, la, bows, indexing="ij")
            edges = _projective(*(g[..., None] for g in grid), bounds, n)
            per_line.append(np.interp(edges, xs, profile).sum(axis=-1))  # (F, L, B)
        bow = int(np.argmin(sum(s.min(axis=(0, 1)) for s in per_line)))
        ends = [np.unravel_index(int(np.argmin(s[..., bow])), s.shape[:2]) for s in per_line]
        chosen_firsts = np.array([f[i] for f, (i, _) in zip(firsts, ends, strict=True)])
        chosen_lasts = np.array([la[j] for la, (_, j) in zip(lasts, ends, strict=True)])
        return chosen_firsts, chosen_lasts, bows[bow]

    ink_end = MARGIN + (n - 1 + GLYPH_FRACTION) * PITCH
    lines = len(profiles)
    firsts, lasts, bow = best(
        np.tile(np.arange(MARGIN + 0.05 * PITCH, MARGIN + 0.55 * PITCH, 1.0), (lines, 1)),
        np.tile(np.arange(ink_end - 0.55 * PITCH, ink_end - 0.05 * PITCH, 1.0), (lines, 1)),
        np.arange(-MAX_BOW, MAX_BOW + 0.1, 1.0),
    )
    fine = np.arange(-1.0, 1.01, 0.25)
    firsts, lasts, bow = best(
        firsts[:, None] + fine, lasts[:, None] + fine, np.clip(bow + fine, -MAX_BOW, MAX_BOW)
    )
    return _projective(firsts[:, None], lasts[:, None], bow, np.arange(n, dtype=np.float64), n)


def cell_centres(ink: np.ndarray, lines: int, n: int) -> np.ndarray:
    """(lines * n, 2) x, y of every character cell centre, in reading order."""
    ys, profiles = [], []
    for line in range(lines):
        cy = _line_centre(ink, MARGIN + CAP / 2 + line * LINE_PITCH)
        band = ink[max(int(cy - CAP / 2), 0) : int(cy + CAP / 2) + 1]
        ys.append(cy)
        profiles.append(band.sum(axis=0))
    xs = _fit_lines(profiles, n)
    return np.stack([xs.ravel(), np.repeat(ys, n)], axis=1).astype(np.float32)


def glyph_height(ink: np.ndarray, centres: np.ndarray) -> float | None:
    """The MRZ's glyph height in raster rows: the upper quartile of the cells' ink heights (fillers are
    shorter than letters and digits), each cell's rows whose darkest ink reaches half its peak. None when
    too few cells hold ink to tell."""
    heights = []
    for x, y in centres:
        rows = cv2.getRectSubPix(ink, (CELL_W, CELL_H), (float(x), float(y))).max(axis=1)
        if rows.max() >= _INKED:
            inked = np.flatnonzero(rows >= 0.5 * rows.max())
            heights.append(inked[-1] - inked[0] + 1)
    return float(np.percentile(heights, 75)) if len(heights) >= 10 else None


def cut_cells(
    ink: np.ndarray,
    lines: int,
    n: int,
    offsets: tuple[tuple[float, float], ...] = ((0.0, 0.0),),
    *,
    normalise_height: bool = True,
) -> np.ndarray:
    """(len(offsets) * lines * n, CELL_H, CELL_W) float32 cells in reading order, once per (dx, dy) offset.

    The raster is first scaled vertically so the glyphs are ``GLYPH_ROWS`` tall: rectification fits the
    line group's outer ink to the canonical span, which leaves the glyphs shorter wherever a printer sets
    its lines further apart than the canonical spacing (real passports: 14-17 rows instead of 19), and a
    squat zero looks like an O. ``normalise_height=False`` cuts the raster as it is (the cells the shipped
    classifier was trained on, see ``kiosk.lab.ocr_train``)."""
    centres = cell_centres(ink, lines, n)
    height = glyph_height(ink, centres) if normalise_height else None
    if height is not None:
        rows = round(ink.shape[0] * float(np.clip(GLYPH_ROWS / height, *_HEIGHT_SCALES)))
        factor = rows / ink.shape[0]
        ink = cv2.resize(ink, (ink.shape[1], rows), interpolation=cv2.INTER_LINEAR)
        centres = np.stack([centres[:, 0], (centres[:, 1] + 0.5) * factor - 0.5], axis=1)
    cells = np.empty((len(offsets) * len(centres), CELL_H, CELL_W), np.float32)
    k = 0
    for dx, dy in offsets:
        for x, y in centres:
            cells[k] = cv2.getRectSubPix(ink, (CELL_W, CELL_H), (float(x + dx), float(y + dy)))
            k += 1
    return cells

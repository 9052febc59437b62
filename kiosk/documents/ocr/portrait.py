"""Crop the printed portrait of a data page, for the 1:1 match when the document has no chip portrait.

The MRZ found by the reader fixes the page geometry (ICAO 9303 puts the MRZ and the portrait zone at
standard places), so the layout's portrait box is mapped into the image through the homography from page
millimetres to image pixels. The located ink quadrilateral alone is too coarse for that: the portrait lies
ten MRZ heights away, so a tenth of a millimetre of error at the MRZ (glyph widths, font size, the bow and
convergence of the lines under perspective) becomes millimetres at the portrait. The homography is
therefore fitted to the character grid itself: every few characters along each line, the position of the
characters from the phase of the 2.54 mm pitch, and the middle of the line from the top and bottom of its
ink. When a face detector is given, the crop is re-centred on the detected face, which tolerates national
layouts that move the portrait."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from kiosk.documents.layout import CAP_HEIGHT_MM, LAYOUTS, LINE_PITCH_MM, PITCH_MM
from kiosk.documents.ocr.segment import GLYPH_FRACTION, ink_map


class FaceDetector(Protocol):
    """Has ``detect(image_bgr)`` returning faces with a ``box`` (x1, y1, x2, y2); FaceEngine fits."""

    def detect(self, image_bgr: np.ndarray) -> list: ...


_CROP_PX_PER_MM = 12.0  # ~300 dpi crop
_GRID_PX_PER_MM = 10.0  # raster of the MRZ band while fitting
_SEGMENT_CHARS = 4  # characters per measured point: short enough that the bow between points < pitch / 2
_MAX_GRID_RESIDUAL_MM = 0.6  # measured: grids fitted on 80 generated pages stay below 0.25 mm


def page_homography(quad: np.ndarray, fmt: str) -> np.ndarray:
    """Affine map (as a 3x3 matrix) from page millimetres to image pixels, from the MRZ ink quadrilateral
    (a projective fit to a band this thin would bend along it by millimetres)."""
    layout = LAYOUTS[fmt]
    side = (1 - GLYPH_FRACTION) / 2 * PITCH_MM
    left, right = layout.mrz_left + side, layout.mrz_left + layout.chars * PITCH_MM - side
    top, bottom = layout.baseline(0) - CAP_HEIGHT_MM, layout.baseline(layout.lines - 1)
    page = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)
    affine, *_ = np.linalg.lstsq(np.hstack([page, np.ones((4, 1), np.float32)]), quad, rcond=None)
    return np.vstack([affine.T, [0.0, 0.0, 1.0]])


def _middle(envelope: np.ndarray) -> float:
    """Middle of the rows where the ink envelope exceeds half its peak, the two crossings interpolated
    (blur moves both edges alike, so the middle stays put)."""
    half = envelope.max() / 2
    above = np.nonzero(envelope >= half)[0]
    a, b = int(above[0]), int(above[-1])
    top = a - (envelope[a] - half) / max(envelope[a] - envelope[a - 1], 1e-6) if a > 0 else float(a)
    end = (
        b + (envelope[b] - half) / max(envelope[b] - envelope[b + 1], 1e-6)
        if b + 1 < len(envelope)
        else float(b)
    )
    return (top + end) / 2


def grid_homography(gray: np.ndarray, quad: np.ndarray, fmt: str) -> np.ndarray:
    """Homography from page millimetres to image pixels fitted to the MRZ character grid (see the module
    text); the coarse ``page_homography`` when a line holds too little ink to measure."""
    layout = LAYOUTS[fmt]
    coarse = page_homography(quad, fmt)
    k = _GRID_PX_PER_MM
    x0, y0 = layout.mrz_left - PITCH_MM, layout.baseline(0) - CAP_HEIGHT_MM / 2 - LINE_PITCH_MM / 2
    x1, y1 = layout.mrz_left + (layout.chars + 1) * PITCH_MM, layout.baseline(layout.lines - 1) + 2.0
    band_to_image = coarse @ np.array([[1 / k, 0, x0], [0, 1 / k, y0], [0, 0, 1]])
    size = (round((x1 - x0) * k), round((y1 - y0) * k))
    ink = ink_map(cv2.warpPerspective(gray, band_to_image, size, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_AREA))
    strokes = cv2.blur(ink, (5, 1))  # a stroke's ink across a few columns: the envelope ignores pixel noise
    cols_mm = np.arange(size[0]) / k + x0
    wave = np.exp(-2j * np.pi * (cols_mm - layout.mrz_left - PITCH_MM / 2) / PITCH_MM)  # 1 at cell centres
    page_pts, band_pts = [], []
    for line in range(layout.lines):
        centre = layout.baseline(line) - CAP_HEIGHT_MM / 2  # glyphs (fillers too) are centred here
        top = round((centre - LINE_PITCH_MM / 2 - y0) * k)
        rows = slice(top, round((centre + LINE_PITCH_MM / 2 - y0) * k))
        if ink[rows].sum() < 0.03 * ink[rows].size:
            return coarse
        phases, mids, ys = [], [], []
        for first in range(0, layout.chars - _SEGMENT_CHARS + 1, _SEGMENT_CHARS):
            left = layout.mrz_left + first * PITCH_MM
            cols = slice(round((left - x0) * k), round((left + _SEGMENT_CHARS * PITCH_MM - x0) * k))
            phases.append(np.angle((ink[rows, cols].sum(axis=0) * wave[cols]).sum()))
            mids.append(left + _SEGMENT_CHARS * PITCH_MM / 2)
            ys.append(top + _middle(strokes[rows, cols].max(axis=1)))
        # unwrapped from the left end, where the ink quadrilateral pins the coarse map
        shifts = -np.unwrap(phases) / (2 * np.pi) * PITCH_MM
        page_pts += [(m, centre) for m in mids]
        band_pts += [((m + s - x0) * k, y) for m, s, y in zip(mids, shifts, ys, strict=True)]
    image_pts = cv2.perspectiveTransform(np.array(band_pts, np.float64).reshape(-1, 1, 2), band_to_image)
    page = np.array(page_pts, np.float64).reshape(-1, 1, 2)
    fitted, _ = cv2.findHomography(page.astype(np.float32), image_pts.astype(np.float32), 0)
    if fitted is None:
        return coarse
    # a grid that does not fit one homography (glare across a line, a slipped pitch) was mismeasured
    residual = np.abs(cv2.perspectiveTransform(image_pts, np.linalg.inv(fitted)) - page).max()
    return fitted if residual < _MAX_GRID_RESIDUAL_MM else coarse


def crop_portrait(
    image_bgr: np.ndarray, quad: np.ndarray, fmt: str, *, face_detector: FaceDetector | None = None
) -> np.ndarray | None:
    """Upright BGR crop of the portrait zone (10% margin); None when this side of the format has none."""
    layout = LAYOUTS.get(fmt)
    if layout is None or layout.portrait is None:
        return None
    x, y, w, h = layout.portrait
    mx, my = 0.1 * w, 0.1 * h
    box = np.array([[x - mx, y - my], [x + w + mx, y - my], [x + w + mx, y + h + my], [x - mx, y + h + my]])
    out_w, out_h = round((w + 2 * mx) * _CROP_PX_PER_MM), round((h + 2 * my) * _CROP_PX_PER_MM)
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    to_image = grid_homography(gray, quad, fmt)
    src = cv2.perspectiveTransform(box.reshape(-1, 1, 2).astype(np.float32), to_image).reshape(4, 2)
    crop = cv2.warpPerspective(
        image_bgr,
        cv2.getPerspectiveTransform(src, dst),
        (out_w, out_h),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if face_detector is None:
        return crop
    faces = face_detector.detect(crop)
    if not faces:
        return crop
    x1, y1, x2, y2 = max((f.box for f in faces), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, 1.6 * max(x2 - x1, y2 - y1)
    x0, y0 = int(max(cx - side / 2, 0)), int(max(cy - side * 0.6, 0))
    x1, y1 = int(min(cx + side / 2, out_w)), int(min(cy + side * 0.7, out_h))
    return crop[y0:y1, x0:x1].copy() if x1 - x0 > 8 and y1 - y0 > 8 else crop

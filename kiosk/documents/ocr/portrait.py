"""Crop the printed portrait of a data page, for the 1:1 match when the document has no chip portrait.

The MRZ found by the reader fixes the page geometry (ICAO 9303 puts the MRZ and the portrait zone at
standard places), so the layout's portrait box is mapped into the image through the homography from page
millimetres to image pixels. When a face detector is given, the crop is re-centred on the detected face,
which tolerates national layouts that move the portrait."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from kiosk.documents.ocr.segment import GLYPH_FRACTION
from kiosk.documents.synth.layout import CAP_HEIGHT_MM, LAYOUTS, PITCH_MM


class FaceDetector(Protocol):
    """Has ``detect(image_bgr)`` returning faces with a ``box`` (x1, y1, x2, y2); FaceEngine fits."""

    def detect(self, image_bgr: np.ndarray) -> list: ...


_CROP_PX_PER_MM = 12.0  # ~300 dpi crop


def page_homography(quad: np.ndarray, fmt: str) -> np.ndarray:
    """3x3 homography from page millimetres to image pixels, from the MRZ ink quadrilateral."""
    layout = LAYOUTS[fmt]
    side = (1 - GLYPH_FRACTION) / 2 * PITCH_MM
    left, right = layout.mrz_left + side, layout.mrz_left + layout.chars * PITCH_MM - side
    top, bottom = layout.baseline(0) - CAP_HEIGHT_MM, layout.baseline(layout.lines - 1)
    page = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)
    return cv2.getPerspectiveTransform(page, quad.astype(np.float32))


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
    to_image = page_homography(quad, fmt)
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

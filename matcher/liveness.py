"""Passive, single-frame presentation-attack detection: Minivision's MiniFASNet networks (exported to ONNX by
``matcher/lab/pad_export.py``) on onnxruntime, and the average of their live probabilities.

One signal among others: measured on small public sets it catches many screen replays and prints whose edges
show, misses flat paper, paper and latex masks, and rejects about one genuine news or studio photo in six
(see models/README.md). It never decides alone."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from matcher.models import onnx_session
from matcher.types import Face

# Box mapping (width scale, height scale, centre shift in box widths, in box heights) from a detector's box to
# the vendor's own detector box the crops were defined on, measured per detector kind (rank correlation of
# the scores with the reference pipeline 0.93 with the mapping, 0.73 without).
BoxMap = tuple[float, float, float, float]


def vendor_box(box: tuple[float, float, float, float], box_map: BoxMap) -> tuple[float, float, float, float]:
    """``box`` (x1, y1, x2, y2) mapped onto the vendor detector's box: scaled about its centre, then moved."""
    sw, sh, dx, dy = box_map
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2 + dx * w, (y1 + y2) / 2 + dy * h
    return cx - sw * w / 2, cy - sh * h / 2, cx + sw * w / 2, cy + sh * h / 2


def crop_box(
    box: tuple[float, float, float, float], frame_shape: tuple[int, ...], scale: float
) -> tuple[int, int, int, int]:
    """Inclusive pixel bounds (x1, y1, x2, y2) of the patch the networks were trained on: ``box`` scaled by
    ``scale`` about its centre, the scale capped so that the patch fits the frame, a patch sticking out
    **shifted back inside (never clipped)**, then truncated to integers as the vendor's crop does."""
    fh, fw = frame_shape[:2]
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
    scale = min(scale, (fh - 1) / h, (fw - 1) / w)
    cx, cy = x1 + w / 2, y1 + h / 2
    left, right = cx - w * scale / 2, cx + w * scale / 2
    top, bottom = cy - h * scale / 2, cy + h * scale / 2
    if left < 0:
        left, right = 0.0, right - left
    if top < 0:
        top, bottom = 0.0, bottom - top
    if right > fw - 1:
        left, right = left - (right - fw + 1), float(fw - 1)
    if bottom > fh - 1:
        top, bottom = top - (bottom - fh + 1), float(fh - 1)
    return int(left), int(top), int(right), int(bottom)


class MiniFASNet:
    """One MiniFASNet network: a frame and a detected face in, the probability that the face is live out."""

    def __init__(
        self,
        model: Path | bytes,
        *,
        crop_scale: float,
        box_map: BoxMap,
        threads: int | None = None,
        size: int = 80,
        live_index: int = 1,
    ) -> None:
        self._session = onnx_session(model, threads)
        self._input_name = self._session.get_inputs()[0].name
        self.crop_scale = float(crop_scale)
        self.box_map = tuple(float(v) for v in box_map)
        self.size = int(size)
        self.live_index = int(live_index)

    def _preprocess(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The face's patch, bilinear-resized to size x size (aspect stretched, no padding), as a 1x3xHxW
        float32 blob of raw BGR 0-255 values: no mean, no /255 (with /255 every input gives one output)."""
        x1, y1, x2, y2 = crop_box(vendor_box(face.box, self.box_map), image_bgr.shape, self.crop_scale)
        patch = cv2.resize(image_bgr[y1 : y2 + 1, x1 : x2 + 1], (self.size, self.size))
        return np.ascontiguousarray(patch.transpose(2, 0, 1)[None], dtype=np.float32)

    def probabilities(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The network's class probabilities for the face (float32; index ``live_index`` = live)."""
        out = self._session.run(None, {self._input_name: self._preprocess(image_bgr, face)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def infer(self, image_bgr: np.ndarray, face: Face) -> float:
        """Probability in [0, 1] that the face is live (not a presentation attack)."""
        return float(self.probabilities(image_bgr, face)[self.live_index])


class PassiveLiveness:
    """The vendor's fusion of several MiniFASNet networks: their class probabilities averaged."""

    def __init__(self, networks: list[MiniFASNet]) -> None:
        if not networks or len({n.live_index for n in networks}) != 1:
            raise ValueError("PassiveLiveness needs networks that agree on the live class")
        self.networks = list(networks)

    def probabilities(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """Class probabilities averaged over the networks; the argmax is the vendor's verdict."""
        return np.mean([n.probabilities(image_bgr, face) for n in self.networks], axis=0)

    def score(self, image_bgr: np.ndarray, face: Face) -> float:
        """Averaged probability in [0, 1] that the face is live."""
        return float(self.probabilities(image_bgr, face)[self.networks[0].live_index])

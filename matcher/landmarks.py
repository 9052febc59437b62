"""InsightFace's 106-point 2D face landmarks (``2d106det``) on onnxruntime: the dense points the five of the
detector lack, to tell an open eye from a closed one and a closed mouth from an open one.

The network sees the face box's centre square, 1.5 times the box's longer side, resized to 192x192; it
returns 106 (x, y) pairs in [-1, 1] over that square (InsightFace's 106-point layout: face contour 0-32,
one eye 33-42, mouth 52-71, nose 72-86, the other eye 87-96; :mod:`matcher.quality` reads the eyes' and the
mouth's openings from them). Colour order, scale and normalisation come from the model's manifest entry.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from matcher.models import onnx_session


class Landmarks106:
    """One face box in, its 106 landmarks (float32 106 x 2, image coordinates) out."""

    def __init__(
        self,
        model: Path | bytes,
        *,
        threads: int | None = None,
        size: int = 192,
        box_scale: float = 1.5,
        colour_order: str = "RGB",
        mean: float = 0.0,
        std: float = 1.0,
    ) -> None:
        self._session = onnx_session(model, threads)
        self._input_name = self._session.get_inputs()[0].name
        self.size = int(size)
        self.box_scale = float(box_scale)
        self._swap_rb = colour_order.upper() == "RGB"
        self._mean = float(mean)
        self._std = float(std)

    def infer(self, image_bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        x1, y1, x2, y2 = box
        side = self.box_scale * max(x2 - x1, y2 - y1)
        if side <= 0:
            raise ValueError(f"empty face box {box}")
        scale = self.size / side
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        # image -> crop: scale about the box centre, which lands in the crop's centre
        matrix = np.array(
            [[scale, 0.0, self.size / 2 - scale * cx], [0.0, scale, self.size / 2 - scale * cy]], np.float64
        )
        crop = cv2.warpAffine(image_bgr, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR)
        blob = cv2.dnn.blobFromImage(
            crop, 1.0 / self._std, (self.size, self.size), (self._mean,) * 3, swapRB=self._swap_rb
        )
        out = np.asarray(self._session.run(None, {self._input_name: blob})[0], dtype=np.float64)
        points = (out.reshape(-1, 2) + 1.0) * (self.size / 2)  # [-1, 1] -> crop pixels
        return ((points - matrix[:, 2]) / scale).astype(np.float32)

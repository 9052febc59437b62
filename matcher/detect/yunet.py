"""OpenCV YuNet face detector (MIT licence) via ``cv2.FaceDetectorYN``; a commercially usable alternative."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from matcher.detect import input_scale
from matcher.types import Face


class YuNet:
    """YuNet gives per face x, y, w, h, five landmarks (image-left eye first, as ArcFace) and a score."""

    def __init__(
        self,
        model: Path | bytes,
        *,
        threads: int | None = None,
        max_side: int = 640,
        score_threshold: float = 0.6,
        nms_iou: float = 0.3,
        top_k: int = 50,
    ) -> None:
        # ``threads`` is accepted for a uniform interface but not applied: YuNet runs in OpenCV's DNN module,
        # whose thread pool is process-wide (cv2.setNumThreads): not for one detector to change.
        del threads
        self.max_side = int(max_side)
        settings = ((320, 320), float(score_threshold), float(nms_iou), int(top_k))
        if isinstance(model, bytes):
            weights = np.frombuffer(model, dtype=np.uint8)
            self._detector = cv2.FaceDetectorYN.create("onnx", weights, np.empty(0, np.uint8), *settings)
        else:
            self._detector = cv2.FaceDetectorYN.create(str(model), "", *settings)

    def _preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image_bgr.shape[:2]
        scale = input_scale(h, w, self.max_side)
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image_bgr = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(image_bgr), scale

    def infer(self, image_bgr: np.ndarray) -> list[Face]:
        """All faces above the score threshold, best first, in the coordinates of ``image_bgr``."""
        image, scale = self._preprocess(image_bgr)
        self._detector.setInputSize((image.shape[1], image.shape[0]))
        _, rows = self._detector.detect(image)
        if rows is None:
            return []
        h, w = image_bgr.shape[:2]
        faces = []
        for row in sorted(rows, key=lambda r: -float(r[14])):
            x, y, bw, bh = (float(v) / scale for v in row[:4])
            box = (max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh))
            landmarks = (np.asarray(row[4:14], dtype=np.float32).reshape(5, 2) / scale).astype(np.float32)
            faces.append(Face(box=box, landmarks=landmarks, score=float(row[14])))
        return faces

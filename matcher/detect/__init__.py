"""Face detectors with five landmarks, one small class per model (OpenCV-zoo style): the constructor loads,
a private ``_preprocess`` prepares the input, the public ``infer`` returns faces in image coordinates."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from matcher.types import Face


class Detector(Protocol):
    def infer(self, image_bgr: np.ndarray) -> list[Face]: ...


def input_scale(height: int, width: int, max_side: int) -> float:
    """Scale applied before detection: 1 (keep the image scale) unless the long side exceeds ``max_side``.

    Never upscales: SCRFD at its native scale finds every LFW face, while upscaling 250x250 images to 640
    misses some (measured: 11 of 3,708)."""
    long_side = max(height, width)
    return 1.0 if long_side <= max_side else max_side / long_side


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep

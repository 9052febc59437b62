"""SCRFD face detector with five keypoints (InsightFace) on onnxruntime; anchor decoding and NMS here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from matcher.detect import input_scale, nms
from matcher.models import onnx_session
from matcher.types import Face


class SCRFD:
    """SCRFD (e.g. SCRFD-500M "bnkps"): outputs per stride (8, 16, 32) scores, box distances and keypoint
    offsets for ``anchors_per_cell`` anchors per feature-map cell, in units of the stride."""

    def __init__(
        self,
        model: Path | bytes,
        *,
        threads: int | None = None,
        max_side: int = 640,
        score_threshold: float = 0.5,
        nms_iou: float = 0.4,
        strides: tuple[int, ...] = (8, 16, 32),
        anchors_per_cell: int = 2,
        colour_order: str = "RGB",
        mean: float = 127.5,
        std: float = 128.0,
    ) -> None:
        self._session = onnx_session(model, threads)
        self._input_name = self._session.get_inputs()[0].name
        self.max_side = int(max_side)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.strides = tuple(int(s) for s in strides)
        self.anchors_per_cell = int(anchors_per_cell)
        self._swap_rb = colour_order.upper() == "RGB"
        self._mean = float(mean)
        self._std = float(std)
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}

    def _preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """Scale (down only), pad right/bottom to a multiple of 32, normalise to an NCHW float blob."""
        h, w = image_bgr.shape[:2]
        scale = input_scale(h, w, self.max_side)
        if scale != 1.0:
            image_bgr = cv2.resize(
                image_bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
        rh, rw = image_bgr.shape[:2]
        ph, pw = -(-rh // 32) * 32, -(-rw // 32) * 32
        # Pad with the value that normalises to 0, as the mean-subtracted training images were.
        blob = cv2.dnn.blobFromImage(
            image_bgr, 1.0 / self._std, (rw, rh), (self._mean,) * 3, swapRB=self._swap_rb
        )
        if (ph, pw) != (rh, rw):
            padded = np.zeros((1, 3, ph, pw), dtype=np.float32)
            padded[:, :, :rh, :rw] = blob
            blob = padded
        return blob, scale

    def _anchor_centres(self, height: int, width: int, stride: int) -> np.ndarray:
        key = (height, width, stride)
        if key not in self._centres:
            ys, xs = np.mgrid[:height, :width]
            centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
            self._centres[key] = np.repeat(centres, self.anchors_per_cell, axis=0)
        return self._centres[key]

    def infer(self, image_bgr: np.ndarray) -> list[Face]:
        """All faces above the score threshold, best first, in the coordinates of ``image_bgr``."""
        blob, scale = self._preprocess(image_bgr)
        outputs = self._session.run(None, {self._input_name: blob})
        n = len(self.strides)
        all_scores, all_boxes, all_kps = [], [], []
        for i, stride in enumerate(self.strides):
            scores = outputs[i].reshape(-1)
            keep = scores >= self.score_threshold
            if not keep.any():
                continue
            centres = self._anchor_centres(blob.shape[2] // stride, blob.shape[3] // stride, stride)[keep]
            dist = outputs[i + n].reshape(-1, 4)[keep] * stride
            kps = outputs[i + 2 * n].reshape(-1, 10)[keep].reshape(-1, 5, 2) * stride
            all_scores.append(scores[keep])
            all_boxes.append(np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1))
            all_kps.append(kps + centres[:, None, :])
        if not all_scores:
            return []
        scores = np.concatenate(all_scores)
        boxes = np.concatenate(all_boxes) / scale
        kps = np.concatenate(all_kps) / scale
        h, w = image_bgr.shape[:2]
        faces = []
        for i in nms(boxes, scores, self.nms_iou):
            x1, y1, x2, y2 = boxes[i]
            box = (
                max(0.0, float(x1)),
                max(0.0, float(y1)),
                min(float(w), float(x2)),
                min(float(h), float(y2)),
            )
            faces.append(Face(box=box, landmarks=kps[i].astype(np.float32), score=float(scores[i])))
        return faces

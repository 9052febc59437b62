"""ArcFace-style face embedder (e.g. MobileFaceNet w600k_mbf) run with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from matcher.models import onnx_session


class ArcFaceEmbedder:
    """Aligned face crops (BGR uint8, N x size x size x 3) in, raw (not normalised) embeddings out."""

    def __init__(
        self,
        model: Path | bytes,
        *,
        threads: int | None = None,
        size: int = 112,
        colour_order: str = "RGB",
        mean: float = 127.5,
        std: float = 127.5,
    ) -> None:
        self._session = onnx_session(model, threads)
        self._input_name = self._session.get_inputs()[0].name
        self.size = int(size)
        self._swap_rb = colour_order.upper() == "RGB"
        self._mean = float(mean)
        self._std = float(std)
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def _preprocess(self, faces_bgr: np.ndarray) -> np.ndarray:
        if faces_bgr.ndim != 4 or faces_bgr.shape[1:] != (self.size, self.size, 3):
            raise ValueError(
                f"expected N x {self.size} x {self.size} x 3 aligned faces, got {faces_bgr.shape}"
            )
        return cv2.dnn.blobFromImages(
            list(faces_bgr), 1.0 / self._std, (self.size, self.size), (self._mean,) * 3, swapRB=self._swap_rb
        )

    def infer(self, faces_bgr: np.ndarray) -> np.ndarray:
        """Embeddings, float32 N x dim."""
        out = self._session.run(None, {self._input_name: self._preprocess(faces_bgr)})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(faces_bgr), -1)

"""Five-point similarity alignment of a face onto the standard ArcFace 112x112 template."""

from __future__ import annotations

import cv2
import numpy as np

# Standard ArcFace landmark template for a 112x112 crop (InsightFace ``arcface_dst``), image-left eye first.
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

TEMPLATES = {"arcface_112": (ARCFACE_112, 112)}


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    Umeyama (1991), "Least-squares estimation of transformation parameters between two point patterns".
    Returns the 2x3 matrix ``M`` with ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"need two matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    n = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1.0  # a reflection would fit better: forbid it
    rotation = u @ np.diag(d) @ vt
    src_var = (src_c**2).sum() / n
    if src_var <= 1e-12:
        raise ValueError("source points are degenerate (all in one place)")
    scale = float((s * d).sum() / src_var)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def alignment_matrix(landmarks: np.ndarray, template: str = "arcface_112") -> np.ndarray:
    """2x3 similarity matrix mapping the five image landmarks onto ``template``."""
    points, _ = TEMPLATES[template]
    return umeyama(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), points)


def align_face(image_bgr: np.ndarray, landmarks: np.ndarray, template: str = "arcface_112") -> np.ndarray:
    """The face warped onto the template: a ``size x size`` BGR uint8 crop (112x112 for ArcFace)."""
    _, size = TEMPLATES[template]
    matrix = alignment_matrix(landmarks, template)
    return cv2.warpAffine(image_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))

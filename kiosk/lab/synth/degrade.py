"""Capture degradations for synthetic data pages: page on a surface, rotation and perspective, uneven
light, glare, blur, sensor noise and JPEG. Deterministic for a given ``rng`` state."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Degradation:
    """Upper bounds of each degradation (each page draws its own amount below the bound)."""

    max_rotation_deg: float = 5.0
    max_perspective: float = 0.03  # corner displacement as a fraction of the page size
    max_blur_sigma: float = 1.3  # pixels of the output image
    max_noise_sigma: float = 10.0
    min_light: float = 0.6  # darkest corner of the light field, relative to full light
    glare_probability: float = 0.4
    min_jpeg_quality: int = 55


def degrade_with_transform(
    page_bgr: np.ndarray, rng: np.random.Generator, spec: Degradation = Degradation()
) -> tuple[np.ndarray, np.ndarray]:
    """Degrade ``page_bgr``; return the capture and the 3x3 homography from page to capture pixels."""
    h, w = page_bgr.shape[:2]
    margin = rng.uniform(0.04, 0.12)
    out_w, out_h = round(w * (1 + 2 * margin)), round(h * (1 + 2 * margin))
    angle = np.deg2rad(rng.uniform(-spec.max_rotation_deg, spec.max_rotation_deg))
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    centred = corners - [w / 2, h / 2]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    jitter = rng.uniform(-spec.max_perspective, spec.max_perspective, (4, 2)) * [w, h]
    target = (centred @ rot.T + jitter + [out_w / 2, out_h / 2]).astype(np.float32)
    homography = cv2.getPerspectiveTransform(corners, target)
    surface = rng.uniform(20, 160, 3)
    capture = cv2.warpPerspective(
        page_bgr, homography, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=tuple(surface.tolist())
    ).astype(np.float32)

    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    gx, gy = rng.uniform(-1, 1, 2)
    light = 1 + (gx * (xx / out_w - 0.5) + gy * (yy / out_h - 0.5))
    light = spec.min_light + (1 - spec.min_light) * (light - light.min()) / max(float(np.ptp(light)), 1e-6)
    capture *= light[..., None]
    if rng.random() < spec.glare_probability:
        cx, cy = rng.uniform(0, out_w), rng.uniform(0, out_h)
        radius = rng.uniform(0.05, 0.2) * out_w
        glare = np.exp(-(((xx - cx) ** 2 + ((yy - cy) * 1.6) ** 2) / (2 * radius**2)))
        capture += glare[..., None] * rng.uniform(40, 110)

    sigma = rng.uniform(0.3, spec.max_blur_sigma)
    capture = cv2.GaussianBlur(capture, (0, 0), sigma)
    capture += rng.normal(0, rng.uniform(1, spec.max_noise_sigma), capture.shape).astype(np.float32)
    capture = np.clip(capture, 0, 255).astype(np.uint8)
    quality = int(rng.integers(spec.min_jpeg_quality, 96))
    ok, buf = cv2.imencode(".jpg", capture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok  # encoding a valid uint8 image cannot fail
    return cv2.imdecode(buf, cv2.IMREAD_COLOR), homography


def degrade(page_bgr: np.ndarray, rng: np.random.Generator, spec: Degradation = Degradation()) -> np.ndarray:
    """Degrade ``page_bgr`` as a scanner or camera capture would (see :func:`degrade_with_transform`)."""
    return degrade_with_transform(page_bgr, rng, spec)[0]

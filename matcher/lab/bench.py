"""Latency benchmark of the face pipeline per stage: the function behind ``matcher bench``.

Frames are built from public-domain faces (scikit-image's astronaut, NASA; matplotlib's Grace Hopper
sample) placed on a textured canvas, so the benchmark runs on a fresh machine without data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from matcher.compare import compare_images
from matcher.engine import FaceEngine
from matcher.imageio import decode_image

FRAME_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1920, 1080))
PIPELINE_STAGES = ("decode", "detect", "align", "embed")


def astronaut_bgr() -> np.ndarray:
    """Eileen Collins' portrait bundled with scikit-image (512x512, public domain), as BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def grace_hopper_bgr() -> np.ndarray:
    """Grace Hopper's portrait bundled with matplotlib (512x600, public domain), as BGR."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"matplotlib sample image missing: {path}")
    return image


def build_frame(width: int, height: int, face_bgr: np.ndarray | None = None, *, seed: int = 0) -> np.ndarray:
    """A ``width`` x ``height`` camera-like frame: the portrait scaled to 90% of the frame height, centred,
    on a smooth random background (deterministic from ``seed``)."""
    face_bgr = astronaut_bgr() if face_bgr is None else face_bgr
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, size=(max(2, height // 60), max(2, width // 60), 3), dtype=np.uint8)
    frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    scale = 0.9 * min(height / face_bgr.shape[0], width / face_bgr.shape[1])
    fw, fh = round(face_bgr.shape[1] * scale), round(face_bgr.shape[0] * scale)
    portrait = cv2.resize(face_bgr, (fw, fh), interpolation=cv2.INTER_AREA)
    x, y = (width - fw) // 2, (height - fh) // 2
    frame[y : y + fh, x : x + fw] = portrait
    return frame


@dataclass(frozen=True)
class BenchRow:
    """Median and 95th percentile (ms) per stage for one frame size (or the 1:1 compare) and thread count."""

    case: str
    threads: int
    repeats: int
    median_ms: dict[str, float]
    p95_ms: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "threads": self.threads,
            "repeats": self.repeats,
            "median_ms": {k: round(v, 2) for k, v in self.median_ms.items()},
            "p95_ms": {k: round(v, 2) for k, v in self.p95_ms.items()},
        }


def _summarise(case: str, threads: int, samples: dict[str, list[float]]) -> BenchRow:
    return BenchRow(
        case=case,
        threads=threads,
        repeats=len(next(iter(samples.values()))),
        median_ms={k: float(np.median(v)) for k, v in samples.items()},
        p95_ms={k: float(np.percentile(v, 95)) for k, v in samples.items()},
    )


def bench_frame(engine: FaceEngine, jpeg: bytes, repeats: int) -> dict[str, list[float]]:
    """Per-stage times (ms) of decode -> detect (+ face choice) -> align -> embed over ``repeats`` runs."""
    keys = (*PIPELINE_STAGES, "detect+align+embed")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(repeats + 2):  # two untimed warm-up runs per frame size
        t0 = time.perf_counter()
        image = decode_image(jpeg)
        t1 = time.perf_counter()
        face = engine.select_face(engine.detect(image), image.shape)
        t2 = time.perf_counter()
        aligned = engine.align(image, face)
        t3 = time.perf_counter()
        engine.embed(aligned)
        t4 = time.perf_counter()
        if i >= 2:
            for key, (a, b) in zip(keys, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t1, t4)), strict=True):
                samples[key].append((b - a) * 1000)
    return samples


def run_bench(
    *,
    sizes: tuple[tuple[int, int], ...] = FRAME_SIZES,
    threads: tuple[int, ...] = (1, 2),
    repeats: int = 30,
    manifest: Path | None = None,
    detector: str | None = None,
) -> list[BenchRow]:
    """Benchmark each frame size with each thread count, plus a 1:1 comparison of two JPEG images (a
    640x480 frame against a 512x600 portrait) end to end: decode, detect, align, embed both, compare."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    frames = {}
    for width, height in sizes:
        _, buf = cv2.imencode(".jpg", build_frame(width, height), [cv2.IMWRITE_JPEG_QUALITY, 90])
        frames[f"{width}x{height}"] = buf.tobytes()
    _, portrait = cv2.imencode(".jpg", grace_hopper_bgr(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    _, live = cv2.imencode(".jpg", build_frame(640, 480, grace_hopper_bgr(), seed=1))
    rows = []
    for n in threads:
        engine = FaceEngine.load(manifest, detector=detector, threads=n)
        for case, jpeg in frames.items():
            rows.append(_summarise(case, n, bench_frame(engine, jpeg, repeats)))
        work: list[float] = []
        for i in range(repeats + 2):
            result = compare_images(live.tobytes(), portrait.tobytes(), engine=engine)
            if i >= 2:
                work.append(result.work_ms)
        rows.append(_summarise("compare 1:1 (2 JPEGs)", n, {"work": work}))
    return rows

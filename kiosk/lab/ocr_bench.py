"""OCR benchmark: generate varied degraded data pages with known MRZs, read them, report the figures.

Pages come from ``kiosk.lab.synth.sample_page`` with the benchmark's own seed (the classifier's
training blocks use a different generator and seed). A read counts as *exact* when every check passes and
the lines equal the truth; *silently wrong* when every check passes but the lines differ (must be 0);
*rejected* otherwise (failed checks or MRZ not found).

``run_real_benchmark(folder)`` reads real images against a ``truth.json`` (the format of
``shared/data/mrz-real-dev``: per image ``file``, ``lines``, ``checks_valid``, ``allow_codes``) with the same
three outcomes; an image whose printed check digits do not verify can only be rejected or silently wrong.
``run_real_variant_benchmark(folder)`` reads the same images turned to any angle, seen by a tilted camera and
cut down to the MRZ."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.documents.checks import DocumentError
from kiosk.documents.mrz import parse_mrz
from kiosk.documents.ocr.classify import CharClassifier
from kiosk.documents.ocr.reading import DataPageReading, read_data_page
from kiosk.lab.synth import Degradation, sample_page

DEFAULT_FONTS = ("ocr-b", "ocr-b-sharp", "dejavu-mono", "liberation-mono")
DEFAULT_FORMATS = ("TD3", "TD2", "TD1")


@dataclass(frozen=True)
class BenchResult:
    pages: int
    exact: int
    silently_wrong: int
    rejected: int
    median_ms: float
    p95_ms: float

    def summary(self) -> str:
        pct = lambda k: 100.0 * k / max(self.pages, 1)  # noqa: E731
        return (
            f"pages {self.pages}: exact {self.exact} ({pct(self.exact):.1f}%), "
            f"silently wrong {self.silently_wrong} ({pct(self.silently_wrong):.1f}%), "
            f"rejected {self.rejected} ({pct(self.rejected):.1f}%), "
            f"time median {self.median_ms:.0f} ms, p95 {self.p95_ms:.0f} ms"
        )


def run_benchmark(
    *,
    count: int = 200,
    seed: int = 20261123,
    fonts: tuple[str, ...] = DEFAULT_FONTS,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    spec: Degradation | None = None,
    classifier: CharClassifier | None = None,
    progress: bool = False,
) -> BenchResult:
    """Generate ``count`` pages from ``seed`` and read each; times cover ``read_data_page`` only."""
    classifier = classifier or CharClassifier.default()
    rng = np.random.default_rng(seed)
    exact = wrong = rejected = 0
    times = []
    for i in range(count):
        page = sample_page(rng, fonts=fonts, formats=formats, spec=spec or Degradation())
        start = time.perf_counter()
        try:
            reading = read_data_page(page.image, classifier=classifier)
        except DocumentError:
            reading = None
        times.append((time.perf_counter() - start) * 1e3)
        if reading is None or not reading.valid:
            rejected += 1
        elif reading.lines == page.record.lines:
            exact += 1
        else:
            wrong += 1
        if progress and (i + 1) % 20 == 0:
            print(f"  {i + 1}/{count}: exact {exact}, wrong {wrong}, rejected {rejected}", flush=True)
    return BenchResult(
        count, exact, wrong, rejected, float(np.median(times)), float(np.percentile(times, 95))
    )


@dataclass(frozen=True)
class RealImageOutcome:
    file: str
    outcome: str  # "exact", "rejected" or "silently_wrong"
    checks_valid: bool  # the printed check digits verify (else the image can only be rejected)
    ms: float
    failed: tuple[str, ...]  # names of the failed checks (or the error code when nothing was read)


@dataclass(frozen=True)
class RealBenchResult:
    outcomes: tuple[RealImageOutcome, ...]

    def count(self, outcome: str, *, valid_only: bool = False) -> int:
        return sum(o.outcome == outcome and (o.checks_valid or not valid_only) for o in self.outcomes)

    def summary(self) -> str:
        times = [o.ms for o in self.outcomes]
        valid = sum(o.checks_valid for o in self.outcomes)
        return (
            f"real images {len(self.outcomes)}: exact {self.count('exact')}, "
            f"silently wrong {self.count('silently_wrong')}, rejected {self.count('rejected')}; "
            f"with valid check digits {valid}: exact {self.count('exact', valid_only=True)}; "
            f"time median {np.median(times):.0f} ms, p95 {np.percentile(times, 95):.0f} ms"
        )

    def as_dict(self) -> dict:
        times = [o.ms for o in self.outcomes]
        return {
            "images": len(self.outcomes),
            "exact": self.count("exact"),
            "silently_wrong": self.count("silently_wrong"),
            "rejected": self.count("rejected"),
            "with_valid_check_digits": sum(o.checks_valid for o in self.outcomes),
            "exact_with_valid_check_digits": self.count("exact", valid_only=True),
            "median_ms": float(np.median(times)),
            "p95_ms": float(np.percentile(times, 95)),
            "per_image": [
                {"file": o.file, "outcome": o.outcome, "ms": round(o.ms, 1), "failed": list(o.failed)}
                for o in self.outcomes
            ],
        }


def run_real_benchmark(folder: Path, *, classifier: CharClassifier | None = None) -> RealBenchResult:
    """Read every image listed in ``folder/truth.json``; a read counts as exact when every check passes
    (state codes in the entry's ``allow_codes`` accepted beside the ICAO list) and the lines equal the
    truth. Times cover ``read_data_page`` only. Raises DocumentError when the truth file is missing."""
    classifier = classifier or CharClassifier.default()
    return RealBenchResult(
        tuple(read_real_image(entry, image, classifier)[0] for entry, image in _real_images(folder))
    )


#: Turns (degrees, counter-clockwise) of the real images that ``run_real_variant_benchmark`` reads.
VARIANT_ANGLES = (30, 45, 135, 200, 315)


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """``image`` turned counter-clockwise on a canvas that holds all of it, as if lying on a plain table."""
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = (round(w * cos + h * sin), round(w * sin + h * cos))
    turn[:, 2] += (size[0] - w) / 2, (size[1] - h) / 2
    table = tuple(float(v) for v in np.median(image.reshape(-1, image.shape[-1])[::7], axis=0))
    return cv2.warpAffine(image, turn, size, flags=cv2.INTER_LINEAR, borderValue=table)


def tilted(image: np.ndarray, shrink: float = 0.25) -> np.ndarray:
    """``image`` as a camera tilted towards its top edge sees it: the top edge ``shrink`` shorter."""
    h, w = image.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    seen = np.float32(
        [[w * shrink / 2, h * shrink / 3], [w * (1 - shrink / 2), h * shrink / 3], [w, h], [0, h]]
    )
    table = tuple(float(v) for v in np.median(image.reshape(-1, image.shape[-1])[::7], axis=0))
    matrix = cv2.getPerspectiveTransform(corners, seen)
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=table)


def mrz_crop(image: np.ndarray, quad: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The axis-aligned cut of ``image`` round the MRZ ink ``quad``, ``margin`` of its height on each side."""
    pad = margin * float(np.linalg.norm(quad[3] - quad[0]))
    x0, y0 = np.maximum(np.floor(quad.min(axis=0) - pad), 0).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0) + pad).astype(int)
    return np.ascontiguousarray(image[y0 : y1 + 1, x0 : x1 + 1])


def run_real_variant_benchmark(
    folder: Path, *, classifier: CharClassifier | None = None
) -> dict[str, RealBenchResult]:
    """The real images of ``folder`` made harder, each variant read and counted like
    ``run_real_benchmark``: turned by each of ``VARIANT_ANGLES``, seen by a tilted camera (``tilted``), and
    cut down to the MRZ (``mrz_crop`` round the ink the upright read found; an image whose MRZ is not found
    upright has no crop)."""
    classifier = classifier or CharClassifier.default()
    outcomes: dict[str, list[RealImageOutcome]] = {}
    for entry, image in _real_images(folder):
        variants = {f"turned {a}": turned(image, a) for a in VARIANT_ANGLES}
        variants["tilted camera"] = tilted(image)
        reading = read_real_image(entry, image, classifier)[1]
        if reading is not None:
            variants["MRZ crop"] = mrz_crop(image, reading.quad)
        for name, variant in variants.items():
            outcomes.setdefault(name, []).append(read_real_image(entry, variant, classifier)[0])
    return {name: RealBenchResult(tuple(found)) for name, found in outcomes.items()}


def _real_images(folder: Path):  # -> Iterator[tuple[dict, np.ndarray]]
    folder = Path(folder)
    try:
        entries = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocumentError(f"no readable truth.json in {folder}: {exc}") from None
    for entry in entries:
        image = cv2.imread(str(folder / entry["file"]), cv2.IMREAD_COLOR)
        if image is None:
            raise DocumentError(f"cannot read image {folder / entry['file']}")
        yield entry, image


def read_real_image(
    entry: dict, image: np.ndarray, classifier: CharClassifier
) -> tuple[RealImageOutcome, DataPageReading | None]:
    """Read ``image`` (the image of ``entry`` in a truth.json, or a variant of it) and judge the read
    against the entry's truth; the reading too (None when no MRZ was found)."""
    start = time.perf_counter()
    try:
        reading = read_data_page(image, classifier=classifier)
    except DocumentError as exc:
        reading, failed = None, (exc.code,)
    ms = (time.perf_counter() - start) * 1e3
    if reading is not None:
        # the MRZ checks again, with the specimen's own state codes accepted (as read_document does)
        record = parse_mrz("\n".join(reading.lines), extra_codes=entry.get("allow_codes", ()))
        checks = [*record.checks, *(c for c in reading.checks if not c.name.startswith("mrz."))]
        failed = tuple(c.name for c in checks if not c.passed)
    if reading is None or failed:
        outcome = "rejected"
    elif list(reading.lines) == entry["lines"]:
        outcome = "exact"
    else:
        outcome = "silently_wrong"
    return RealImageOutcome(entry["file"], outcome, bool(entry["checks_valid"]), ms, failed), reading

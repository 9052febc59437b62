"""OCR benchmark: generate varied degraded data pages with known MRZs, read them, report the figures.

Pages come from ``kiosk.documents.synth.sample_page`` with the benchmark's own seed (the classifier's
training blocks use a different generator and seed). A read counts as *exact* when every check passes and
the lines equal the truth; *silently wrong* when every check passes but the lines differ (must be 0);
*rejected* otherwise (failed checks or MRZ not found)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from kiosk.documents.checks import DocumentError
from kiosk.documents.ocr.classify import CharClassifier
from kiosk.documents.ocr.reader import read_data_page
from kiosk.documents.synth import Degradation, sample_page

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

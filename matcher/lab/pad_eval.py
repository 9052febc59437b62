"""Presentation-attack detection measured the ISO/IEC 30107-3 way on what data exists: the function behind
``matcher pad-eval``.

Bona fide: a random sample of an LFW-format folder (news photographs, not kiosk captures: blur, retouching
and compression that a kiosk camera does not produce, so the BPCER here is not the kiosk's). Attacks: the same
faces turned into **simulated** presentation attacks recaptured by a camera (simulations, not real attacks):

- ``screen_replay``: the photo shown on a screen with its pixel grid, a moire beat pattern, a glow and a
  black bezel, held in front of a textured background;
- ``print_edges``: a CMY halftone print with a white paper margin whose edges are in view;
- ``print_no_edges``: the same halftone print filling the whole frame (flat paper, no edge in view);
- ``photo_no_edges``: a continuous-tone photo print (no halftone dots: duller colours, compressed contrast, a
  gloss highlight) filling the whole frame.

APCER per species (attacks scored live at the threshold) and BPCER (bona fide scored attack), with counts and
exact 95% intervals; a frame whose face is not found is counted apart, not in either rate. Cost: the time of
``FaceEngine.liveness`` (crop and both networks) per frame."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from matcher.engine import FaceEngine
from matcher.errors import MatcherError
from matcher.lab.lfw import read_lfw
from matcher.lab.scores import clopper_pearson

SPECIES = ("screen_replay", "print_edges", "print_no_edges", "photo_no_edges")
FRAME = (640, 480)  # width, height of the simulated camera frame


def _background(rng: np.random.Generator) -> np.ndarray:
    """A textured indoor-like background: smooth random colour field plus fine noise."""
    w, h = FRAME
    coarse = (rng.uniform(70, 190, (6, 8, 1)) + rng.uniform(-15, 15, (6, 8, 3))).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(field + rng.normal(0, 6, field.shape), 0, 255).astype(np.float32)


def _place(frame: np.ndarray, patch: np.ndarray, angle: float) -> np.ndarray:
    """``patch`` pasted in the middle of ``frame``, rotated by ``angle`` degrees."""
    h, w = frame.shape[:2]
    ph, pw = patch.shape[:2]
    matrix = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1.0)
    matrix[:, 2] += ((w - pw) / 2, (h - ph) / 2)
    warped = cv2.warpAffine(patch, matrix, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones((ph, pw), np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    return frame * (1 - mask) + warped * mask


def _halftone(image: np.ndarray, cell: float) -> np.ndarray:
    """CMY halftone of a BGR image: per ink, a dot screen at its own angle, dots sized by the ink amount."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[:h, :w].astype(np.float32)
    out = np.empty_like(image, dtype=np.float32)
    for channel, angle in zip(range(3), (15.0, 75.0, 45.0), strict=True):  # B<-yellow, G<-magenta, R<-cyan
        ink = 1.0 - image[..., channel].astype(np.float32) / 255.0
        t = np.deg2rad(angle)
        u, v = (xs * np.cos(t) + ys * np.sin(t)) / cell, (-xs * np.sin(t) + ys * np.cos(t)) / cell
        screen = 0.5 - 0.25 * (np.cos(2 * np.pi * u) + np.cos(2 * np.pi * v))  # 0 at dot centres .. 1
        out[..., channel] = np.where(screen < ink, 20.0, 245.0)  # ink dot or paper
    return out


def _recapture(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a camera makes of the scene: slight blur, sensor noise, JPEG."""
    frame = cv2.GaussianBlur(frame, (0, 0), 0.8)
    frame = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else frame


def simulate_attack(image_bgr: np.ndarray, species: str, rng: np.random.Generator) -> np.ndarray:
    """A camera frame (640x480 BGR) of ``image_bgr`` presented as attack ``species`` (see the module doc)."""
    w, h = FRAME
    if species == "screen_replay":
        side = int(rng.integers(300, 360))
        shown = cv2.resize(image_bgr, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        ys, xs = np.mgrid[:side, :side].astype(np.float32)
        grid = 0.85 + 0.15 * (np.cos(np.pi * xs * 2 / 3) ** 2)[..., None]  # sub-pixel columns, 3 px pitch
        t, f = np.deg2rad(rng.uniform(2, 8)), rng.uniform(0.30, 0.36)
        moire = 1 + 0.12 * np.cos(2 * np.pi * f * (xs * np.cos(t) + ys * np.sin(t)))[..., None]
        glow = rng.uniform(15, 35) + np.array([12.0, 0.0, -6.0])  # screens lift blacks, run blue
        shown = np.clip(shown * grid * moire * 0.9 + glow, 0, 255)
        bezel = int(rng.integers(14, 28))
        device = cv2.copyMakeBorder(shown, bezel, bezel, bezel, bezel, cv2.BORDER_CONSTANT, value=(18,) * 3)
        frame = _place(_background(rng), device, rng.uniform(-6, 6))
    elif species in ("print_edges", "print_no_edges"):
        big = cv2.resize(image_bgr, (500, 500), interpolation=cv2.INTER_CUBIC)
        light = rng.uniform(0.85, 1.0)  # paper under room light
        printed = _halftone(big, cell=rng.uniform(3.0, 4.0)) * light
        if species == "print_edges":
            margin = int(rng.integers(40, 70))
            paper = cv2.copyMakeBorder(printed, *(margin,) * 4, cv2.BORDER_CONSTANT, value=(235,) * 3)
            paper = cv2.resize(paper, (380, 380), interpolation=cv2.INTER_AREA)
            frame = _place(_background(rng), paper, rng.uniform(-8, 8))
        else:
            frame = cv2.resize(printed, (w, w), interpolation=cv2.INTER_AREA)[(w - h) // 2 : (w + h) // 2]
    elif species == "photo_no_edges":
        photo = cv2.resize(image_bgr, (w, w), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        photo = photo[(w - h) // 2 : (w + h) // 2]
        photo = 0.8 * photo + 0.2 * photo.mean(axis=2, keepdims=True)  # a print's smaller colour gamut
        ys, xs = np.mgrid[:h, :w].astype(np.float32)
        x0, y0, spread = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(60, 140)
        gloss = rng.uniform(20, 50) * np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * spread**2))
        frame = 25 + 0.82 * photo + gloss[..., None]  # paper white and ink black compress the range
    else:
        raise ValueError(f"unknown attack species {species!r} (known: {', '.join(SPECIES)})")
    return _recapture(frame.astype(np.float32), rng)


@dataclass(frozen=True)
class Rate:
    """Errors among the presentations whose face was found, with an exact 95% interval."""

    errors: int
    presentations: int
    not_found: int

    @property
    def rate(self) -> float:
        return self.errors / self.presentations if self.presentations else float("nan")

    def as_dict(self) -> dict[str, object]:
        low, high = clopper_pearson(self.errors, self.presentations) if self.presentations else (0.0, 1.0)
        return {
            "rate": round(self.rate, 4),
            "errors": self.errors,
            "presentations": self.presentations,
            "interval95": [round(low, 4), round(high, 4)],
            "face_not_found": self.not_found,
        }


def error_rate(scores: list[float | None], threshold: float, *, bona_fide: bool) -> Rate:
    """BPCER (``bona_fide``: scores below ``threshold``) or APCER (attacks: scores at or above it); None is
    a presentation whose face was not found."""
    found = [s for s in scores if s is not None]
    errors = sum(1 for s in found if (s < threshold) == bona_fide)
    return Rate(errors, len(found), len(scores) - len(found))


@dataclass(frozen=True)
class PadReport:
    threshold: float
    bpcer: Rate
    apcer: dict[str, Rate]
    ms_per_frame: tuple[float, float]  # median, p95 of engine.liveness
    threads: int | None
    model_versions: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        worst = max(self.apcer, key=lambda s: self.apcer[s].rate)
        return {
            "threshold": self.threshold,
            "bpcer": self.bpcer.as_dict(),
            "apcer": {s: r.as_dict() for s, r in self.apcer.items()},
            "apcer_worst_species": worst,
            "ms_per_frame": {"median": round(self.ms_per_frame[0], 2), "p95": round(self.ms_per_frame[1], 2)},
            "threads": self.threads,
            "model_versions": self.model_versions,
            "caveats": "bona fide: news photographs (LFW), not kiosk captures; attacks: simulated, not real",
        }


def evaluate_pad(
    engine: FaceEngine, lfw_root: Path, *, samples: int = 200, seed: int = 0, threshold: float = 0.5
) -> PadReport:
    """Score ``samples`` random images of the LFW folder as bona fide and each as every simulated species."""
    dataset = read_lfw(lfw_root)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(dataset.images), size=min(samples, len(dataset.images)), replace=False)
    bona_fide: list[float | None] = []
    attacks: dict[str, list[float | None]] = {s: [] for s in SPECIES}
    times: list[float] = []

    def score(frame: np.ndarray, timed: bool = False) -> float | None:
        faces = engine.detect(frame)
        if not faces:
            return None
        face = max(faces, key=lambda f: f.area)  # the subject; a bystander in a news photo is smaller
        start = time.perf_counter()
        value = engine.liveness(frame, face)
        if timed:
            times.append((time.perf_counter() - start) * 1000)
        return value

    for index in picks:
        image = cv2.imread(str(dataset.images[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise MatcherError(f"unreadable image {dataset.images[index]}")
        bona_fide.append(score(image, timed=True))
        for species in SPECIES:
            attacks[species].append(score(simulate_attack(image, species, rng)))
    return PadReport(
        threshold=threshold,
        bpcer=error_rate(bona_fide, threshold, bona_fide=True),
        apcer={s: error_rate(v, threshold, bona_fide=False) for s, v in attacks.items()},
        ms_per_frame=(float(np.median(times)), float(np.percentile(times, 95))) if times else (0.0, 0.0),
        threads=None,
        model_versions=engine.model_versions,
    )


def format_pad(report: PadReport) -> str:
    def line(name: str, rate: Rate) -> str:
        d = rate.as_dict()
        low, high = d["interval95"]
        return (
            f"{name:<22}{rate.rate:7.1%}  {rate.errors}/{rate.presentations}  "
            f"95% [{low:.1%}, {high:.1%}]  face not found: {rate.not_found}"
        )

    worst = max(report.apcer, key=lambda s: report.apcer[s].rate)
    return "\n".join(
        [
            f"threshold {report.threshold} on the averaged live probability",
            line("BPCER", report.bpcer) + "   (bona fide: LFW news photos, not kiosk captures)",
            *(line(f"APCER {s}", r) for s, r in report.apcer.items()),
            f"worst species: {worst} (attacks are simulations, not real presentations)",
            f"liveness per frame: median {report.ms_per_frame[0]:.1f} ms, "
            f"p95 {report.ms_per_frame[1]:.1f} ms (threads {report.threads or 'all'})",
        ]
    )

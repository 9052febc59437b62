"""Read the MRZ (and crop the portrait) from an image of a document data page."""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.documents.checks import Check, DocumentError
from kiosk.documents.mrz import MrzRecord, parse_mrz
from kiosk.documents.ocr.classify import ALPHABET, CharClassifier
from kiosk.documents.ocr.correct import Decoded, decode
from kiosk.documents.ocr.locate import MrzNotFoundError, MrzRegion, locate_candidates
from kiosk.documents.ocr.portrait import FaceDetector, crop_portrait
from kiosk.documents.ocr.segment import cut_cells, rectify

#: Lowest accepted probability of a character no check digit or code list confirms (names, other codes);
#: tuned on generator seeds 777-778 (not the benchmark seed): wrong reads passing every check had < 0.56.
MIN_UNGUARDED_PROBABILITY = 0.7
#: Lowest accepted probability of a character confirmed by a check digit or the filler grammar.
MIN_GUARDED_PROBABILITY = 0.01


_TTA_OFFSETS = ((0.0, 0.0), (-1.5, 0.0), (1.5, 0.0), (0.0, -1.5), (0.0, 1.5))


@dataclass(frozen=True)
class DataPageReading:
    """The MRZ read from a data page, the OCR's own checks, and the printed portrait."""

    mrz: MrzRecord
    lines: tuple[str, ...]
    confidence: float  # lowest probability of any character read
    portrait: np.ndarray | None
    checks: tuple[Check, ...]  # the MRZ checks plus ``ocr.confidence`` and ``ocr.ambiguous_field``
    #: (4, 2) the MRZ's ink corners in the given image's pixels, in reading order (TL, TR, BR, BL)
    quad: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage

    @property
    def valid(self) -> bool:
        return all(check.passed for check in self.checks)


def _format(lines: int, n: int, first_char: str) -> str:
    if lines == 3:
        return "TD1"
    if first_char == "V":
        return "MRVA" if n == 44 else "MRVB"
    return "TD3" if n == 44 else "TD2"


def _confidence_check(decoded: Decoded) -> Check:
    p, share, guarded = decoded.chosen_probability, decoded.class_share, decoded.guarded
    # unguarded characters need the classifier's word; guarded ones need it only against the characters
    # their check digit cannot exclude, and must not be a far-fetched alternative the digit forced
    sure = np.where(guarded, share, p)
    weakest = float(sure.min())
    weakest_guarded = float(p[guarded].min()) if guarded.any() else 1.0
    passed = weakest >= MIN_UNGUARDED_PROBABILITY and weakest_guarded >= MIN_GUARDED_PROBABILITY
    detail = "" if passed else f"uncertain characters (lowest {min(weakest, weakest_guarded):.3f})"
    return Check("ocr.confidence", passed, detail)


def _ambiguity_check(decoded: Decoded) -> Check:
    if not decoded.ambiguous:
        return Check("ocr.ambiguous_field", True)
    names = ", ".join(decoded.ambiguous)
    return Check("ocr.ambiguous_field", False, f"check digits do not settle the reading of: {names}")


def _read(gray: np.ndarray, region: MrzRegion, n: int | None, classifier: CharClassifier, timings: dict):
    t0 = time.perf_counter()
    ink, n = rectify(gray, region, n)
    cells = cut_cells(ink, region.lines, n, _TTA_OFFSETS)
    t1 = time.perf_counter()
    # averaged over small shifts of the cell window: steadier under residual misalignment
    probs = classifier.probabilities(cells).reshape(len(_TTA_OFFSETS), region.lines, n, len(ALPHABET)).mean(0)
    t2 = time.perf_counter()
    fmt = _format(region.lines, n, ALPHABET[int(probs[0, 0].argmax())])
    decoded = decode(probs, fmt, cells[: region.lines * n].reshape(region.lines, n, *cells.shape[1:]))
    record = parse_mrz("\n".join(decoded.lines))
    t3 = time.perf_counter()
    timings.update(segment=(t1 - t0) * 1e3, classify=(t2 - t1) * 1e3, decode=(t3 - t2) * 1e3)
    checks = (*record.checks, _confidence_check(decoded), _ambiguity_check(decoded))
    return record, decoded, checks, fmt


#: Rotations tried in turn: a card laid on the scanner upside down, a photo taken with the camera sideways.
#: ``locate`` turns tilted text level itself; these turns remain for a page whose angle it cannot measure
#: and one whose MRZ is the lowest line group only once turned.
_ROTATIONS = (None, cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE)
#: Median character probability above which a read is taken as the right way up, valid or not (measured:
#: upright reads, even rejected ones, >= 0.93; upside-down MRZs read as they lie <= 0.48).
_LEGIBLE_MEDIAN = 0.8
#: Channel spread (max - min, of 255, white-balanced) above which a pixel is a coloured mark, not print or
#: paper (the red box of image 25 and its blurred edges: 108-255).
_COLOURED = 96
#: A pixel whose brightest channel (white-balanced) is at most this is dark print however coloured.
_DARK = 127
#: MRZ candidates read per orientation at most (see ``locate_candidates``).
_MAX_CANDIDATES = 3


def read_data_page(
    image_bgr: np.ndarray,
    *,
    classifier: CharClassifier | None = None,
    face_detector: FaceDetector | None = None,
) -> DataPageReading:
    """Read the MRZ of a data page image (scanner frame or camera photo, BGR or grayscale) lying at any
    angle.

    ``face_detector`` (e.g. a ``matcher.FaceEngine``) re-centres the portrait crop on the printed face.
    Raises DocumentError (code ``MRZ_NOT_FOUND``) when the image holds no MRZ. A read that is uncertain
    (``ocr.confidence``), that the check digits cannot settle (``ocr.ambiguous_field``) or that fails a check
    digit is returned with failed checks, never silently corrected into a guess."""
    if not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8 or image_bgr.ndim not in (2, 3):
        raise DocumentError("data page image must be a uint8 BGR or grayscale array")
    classifier = classifier or CharClassifier.default()
    start = time.perf_counter()
    first: DataPageReading | None = None
    for rotation in _ROTATIONS:
        image = image_bgr if rotation is None else cv2.rotate(image_bgr, rotation)
        try:
            reading, legibility = _read_upright(image, classifier, face_detector)
        except MrzNotFoundError:
            continue
        if rotation is not None:
            reading = dataclasses.replace(reading, quad=_unrotated(reading.quad, rotation, image_bgr.shape))
        if reading.valid or legibility >= _LEGIBLE_MEDIAN:
            return _with_total(reading, start)
        first = first or reading
    if first is None:
        raise MrzNotFoundError("no MRZ found in the image")
    return _with_total(first, start)


def _unrotated(quad: np.ndarray, rotation: int, shape: tuple[int, ...]) -> np.ndarray:
    """``quad`` found in the image ``cv2.rotate(image, rotation)``, in the coordinates of ``image``."""
    h, w = shape[:2]
    x, y = quad[:, 0], quad[:, 1]
    if rotation == cv2.ROTATE_180:
        return np.stack([w - 1 - x, h - 1 - y], axis=1)
    if rotation == cv2.ROTATE_90_CLOCKWISE:
        return np.stack([y, h - 1 - x], axis=1)
    return np.stack([w - 1 - y, x], axis=1)


def _with_total(reading: DataPageReading, start: float) -> DataPageReading:
    reading.timings["total"] = (time.perf_counter() - start) * 1e3
    return reading


def _read_upright(
    image_bgr: np.ndarray, classifier: CharClassifier, face_detector: FaceDetector | None
) -> tuple[DataPageReading, float]:
    """The reading of the page as it lies, and its median character probability: the first MRZ candidate
    whose read passes every check, else the most legible one (MrzNotFoundError when there is none)."""
    start = time.perf_counter()
    gray = _black_ink(image_bgr)
    best: tuple[DataPageReading, float] | None = None
    for region in itertools.islice(locate_candidates(gray), _MAX_CANDIDATES):
        timings = {"locate": (time.perf_counter() - start) * 1e3}
        reading, legibility = _read_region(image_bgr, gray, region, classifier, face_detector, timings)
        if reading.valid:
            return reading, legibility
        if best is None or legibility > best[1]:
            best = reading, legibility
        start = time.perf_counter()
    if best is None:
        raise MrzNotFoundError("no MRZ found in the image")
    return best


def _black_ink(image: np.ndarray) -> np.ndarray:
    """Grayscale in which strongly coloured marks take the brightness of the print around them. The MRZ is
    printed black (Doc 9303: readable in the near infrared) and grey print and paper keep their luminance
    (what the classifier was trained on); a red frame drawn round the MRZ (a phone app's box, image 25) would
    otherwise join the lines it frames and dent the glyphs it touches. Colour is judged after white balance
    (each channel scaled so the paper is white): under warm light the paper itself is far from grey."""
    if image.ndim == 2:
        return image
    paper = np.percentile(image[::8, ::8].reshape(-1, 3), 90, axis=0)
    b, g, r = (
        cv2.convertScaleAbs(ch, alpha=255 / max(float(p), 1.0))
        for ch, p in zip(cv2.split(image), paper, strict=True)
    )
    brightest = cv2.max(cv2.max(b, g), r)
    spread = cv2.subtract(brightest, cv2.min(cv2.min(b, g), r))
    # 255 where coloured; a dark pixel is black ink, also where it blends into a coloured background
    coloured = cv2.bitwise_and(
        cv2.compare(spread, _COLOURED, cv2.CMP_GT), cv2.compare(brightest, _DARK, cv2.CMP_GT)
    )
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if cv2.countNonZero(coloured):
        # the brightest pixel within 2 px (>= the pixel itself), taken only where coloured
        gray = cv2.max(gray, cv2.bitwise_and(cv2.dilate(gray, np.ones((5, 5), np.uint8)), coloured))
    return gray


def _read_region(
    image_bgr: np.ndarray,
    gray: np.ndarray,
    region: MrzRegion,
    classifier: CharClassifier,
    face_detector: FaceDetector | None,
    timings: dict[str, float],
) -> tuple[DataPageReading, float]:
    """The read of one MRZ candidate, and its legibility (median character probability). A candidate
    illegible as it lies is read upside down too: ``locate`` turns a tilted page level, which may leave it
    either way up, and turning the quad costs one read where locating the turned page again costs more."""
    record, decoded, checks, fmt = _read(gray, region, None, classifier, timings)
    if not all(c.passed for c in checks) and _legibility(decoded) < _LEGIBLE_MEDIAN:
        turned = dataclasses.replace(region, quad=np.roll(region.quad, 2, axis=0))
        other = _read(gray, turned, None, classifier, {})
        if _legibility(other[1]) > _legibility(decoded):
            region, (record, decoded, checks, fmt) = turned, other
    if not all(c.passed for c in checks) and region.lines == 2:
        # the pitch estimate may have picked the wrong line length: try the other one
        other = 36 if len(decoded.lines[0]) == 44 else 44
        alt = _read(gray, region, other, classifier, {})
        if all(c.passed for c in alt[2]):
            record, decoded, checks, fmt = alt
    t = time.perf_counter()
    portrait = crop_portrait(
        image_bgr if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR),
        region.quad,
        fmt,
        face_detector=face_detector,
    )
    timings["portrait"] = (time.perf_counter() - t) * 1e3
    reading = DataPageReading(
        record, decoded.lines, decoded.confidence, portrait, checks, region.quad, timings
    )
    return reading, _legibility(decoded)


def _legibility(decoded: Decoded) -> float:
    return float(np.median(decoded.chosen_probability))


__all__ = ["DataPageReading", "MrzNotFoundError", "read_data_page"]

"""Find the MRZ in a page image: the lowest group of 2 or 3 long, parallel, evenly spaced text lines.

Works on a downscaled copy: black-hat (dark text on a lighter background), Otsu threshold, a horizontal
closing that links characters into line blobs, then geometry. A page photographed at an angle (sideways
included) is first turned so its text runs level, right way up or upside down (the reader tries both):
the angle is where neighbouring glyphs lie from each other. Returns the MRZ's ink quadrilateral in the
coordinates of the full-resolution image, for perspective rectification."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from kiosk.documents.checks import DocumentError

WORK_WIDTH = 1000  # pixels; larger images are downscaled for locating
#: Text tilted by more than this (degrees) is turned level before its lines are traced: the horizontal
#: closing that links a tilted line's glyphs also bridges the gap to a parallel rule or frame beside it
#: (a box drawn round the MRZ, image 25 of the development set, 20 degrees).
LEVEL_ABOVE_DEG = 10.0
#: Lines whose least-squares directions differ by more than this (degrees) converge: a camera tilted along
#: a sideways MRZ (development images 18 and 25 seen 25% foreshortened): 0.5-0.6; fitting noise (letters
#: beside fillers) between the lines of the 30 upright development images: at most 0.25.
CONVERGING_DEG = 0.35
_SMALLEST_SIDE = 16  # pixels: no MRZ fits in less
_MIN_SIDE = 96  # pixels: a smaller (tight) crop is padded to this much for locating


class MrzNotFoundError(DocumentError):
    code = "MRZ_NOT_FOUND"


@dataclass(frozen=True)
class MrzRegion:
    """Where the MRZ is: ``quad`` = ink corners (TL, TR, BR, BL) in full-resolution pixels."""

    quad: np.ndarray  # (4, 2) float32
    lines: int
    angle_deg: float
    line_height: float  # mean ink height of one line, full-resolution pixels


@dataclass(frozen=True)
class _Line:
    cx: float
    cy: float
    length: float
    thickness: float
    angle: float  # degrees, in (-45, 45]
    points: np.ndarray  # (N, 2) ink pixels, work coordinates


#: Thresholds tried in turn, as multiples of Otsu's: a busy background pattern passes Otsu's threshold
#: and joins everything into one piece; the print of the MRZ is darker than the pattern.
_THRESHOLD_FACTORS = (1.0, 1.6, 2.4)


def _text_masks(gray: np.ndarray):  # -> Iterator[np.ndarray]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 9))
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    otsu, mask = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    yield mask
    for factor in _THRESHOLD_FACTORS[1:]:
        level = min(otsu * factor, 254)
        yield np.where(blackhat > level, 255, 0).astype(np.uint8)


def text_angle(mask: np.ndarray) -> float | None:
    """Direction of the text lines in a text mask, degrees in [-90, 90) (image axes, y down; which way
    the text reads along it is left open); None when the mask holds too few glyph-sized blobs to tell.
    Each glyph's two nearest neighbours lie mostly along its line (characters sit closer than lines), so
    the directions to them peak at the lines' angle whatever it is (O'Gorman's docstrum)."""
    _, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    size = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
    glyph = (size >= 4) & (size <= 40) & (stats[1:, cv2.CC_STAT_AREA] >= 8)
    points, size = centroids[1:][glyph], size[glyph]
    if len(points) < 20:
        return None
    distance, index = cKDTree(points).query(points, k=3)
    step = points[index[:, 1:]] - points[:, None]
    near = distance[:, 1:] < 2.0 * size[:, None]
    angles = np.degrees(np.arctan2(step[..., 1], step[..., 0]))[near] % 180
    counts = np.bincount(np.round(angles).astype(int) % 180, minlength=180).astype(float)
    smoothed = np.convolve(np.concatenate([counts[-2:], counts, counts[:2]]), np.ones(5), mode="valid")
    peak = int(np.argmax(smoothed))
    offsets = (angles - peak + 90) % 180 - 90
    angle = peak + float(offsets[np.abs(offsets) <= 3].mean())
    return (angle + 90) % 180 - 90


def _views(work: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``work`` made ready for tracing lines, with the 2x3 affine map from each view back to ``work``:
    padded with its paper when it is a tight crop (an MRZ cut out with hardly any margin) and, when its
    text is tilted, first turned level (on a canvas that holds all of it), then as it lies in case the
    measured angle belongs to other text."""
    paper = float(np.median(work[::4, ::4]))  # outside the image: a constant step the black-hat ignores
    to_work = np.float32([[1, 0, 0], [0, 1, 0]])
    pad = max(0, (_MIN_SIDE - min(work.shape)) // 2 + 1)
    if pad:
        work = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=paper)
        to_work[:, 2] = -pad
    angle = text_angle(next(_text_masks(work)))
    if angle is None or abs(angle) <= LEVEL_ABOVE_DEG:
        return [(work, to_work)]
    h, w = work.shape
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = (round(w * cos + h * sin), round(w * sin + h * cos))
    turn[:, 2] += (size[0] - w) / 2, (size[1] - h) / 2
    turned = cv2.warpAffine(work, turn, size, flags=cv2.INTER_LINEAR, borderValue=paper)
    unturn = cv2.invertAffineTransform(turn)
    return [
        (turned, np.hstack([unturn[:, :2], unturn[:, 2:] + to_work[:, 2:]]).astype(np.float32)),
        (work, to_work),
    ]


def _glyph_height(mask: np.ndarray) -> float:
    """Median height of glyph-sized blobs: sets how far apart characters may be and still form a line."""
    half = mask[::2, ::2]  # half resolution is precise enough and four times faster
    _, _, stats, _ = cv2.connectedComponentsWithStats(half, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    widths = stats[1:, cv2.CC_STAT_WIDTH]
    glyphs = heights[(heights >= 3) & (heights <= 40) & (widths <= 2 * heights)]
    return 2.0 * float(np.median(glyphs)) if len(glyphs) >= 20 else 14.0


def _without_tall_blobs(mask: np.ndarray, height: float) -> np.ndarray:
    """The mask without blobs taller than any glyph: card edges, frames, barcodes, a background pattern
    that thresholding joined into one piece. Closing would otherwise weld the MRZ lines to them."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    tall = np.flatnonzero(stats[:, cv2.CC_STAT_HEIGHT] > 2.5 * height)
    tall = tall[tall > 0]
    if not len(tall):
        return mask
    keep = np.ones(count, bool)
    keep[tall] = False
    return np.where(keep[labels], mask, 0).astype(np.uint8)


def _line_candidates(mask: np.ndarray) -> list[_Line]:
    w = mask.shape[1]
    height = _glyph_height(mask)
    mask = _without_tall_blobs(mask, height)
    kernel = (max(9, round(1.6 * height)), max(3, round(0.15 * height)))
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    lines = []
    for label in range(1, count):
        bw, bh = stats[label, cv2.CC_STAT_WIDTH], stats[label, cv2.CC_STAT_HEIGHT]
        if bw < 0.25 * w or bh > 0.5 * bw:
            continue
        ys, xs = np.nonzero((labels == label) & (mask > 0))
        if len(xs) < 50:
            continue
        pts = np.stack([xs, ys], axis=1).astype(np.float32)
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(pts)
        if rw < rh:
            rw, rh, angle = rh, rw, angle - 90
        angle = (angle + 90) % 180 - 90
        if abs(angle) > 20 or rw < 8 * rh:
            continue
        lines.append(_Line(cx, cy, rw, rh, angle, pts))
    return lines


def _pick_group(lines: list[_Line]) -> list[_Line]:
    """The lowest run of 2-3 similar consecutive lines (3 preferred when they are alike: TD1)."""
    lines = sorted(lines, key=lambda ln: ln.cy)
    best: list[_Line] = []
    for end in range(len(lines) - 1, 0, -1):
        group = [lines[end]]
        for prev in reversed(lines[:end]):
            last = group[-1]
            spacing = last.cy - prev.cy
            similar = (
                abs(prev.length - last.length) < 0.12 * last.length
                and abs(prev.angle - last.angle) < 3
                and abs(prev.cx - last.cx) < 0.15 * last.length
                and 1.2 * last.thickness < spacing < 3.5 * last.thickness
            )
            if not similar or len(group) == 3:
                break
            group.append(prev)
        if len(group) >= 2:
            best = group[::-1]
            break
    return best


def locate_candidates(gray: np.ndarray):  # -> Iterator[MrzRegion]
    """MRZ-like line groups of a grayscale page image, most likely first, computed lazily: the lowest
    group at Otsu's threshold, then at each stricter threshold a group elsewhere on the page (a busy
    background pattern can hide the MRZ at Otsu's threshold and leave another text block looking like one)."""
    if gray.ndim != 2 or min(gray.shape) < _SMALLEST_SIDE:
        raise MrzNotFoundError("image too small or not grayscale")
    factor = int(np.ceil(gray.shape[1] / WORK_WIDTH))  # integer factors take OpenCV's fast area path
    scale = 1.0 / factor
    work = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if factor > 1 else gray
    seen: list[np.ndarray] = []
    for view, to_work in _views(work):
        for mask in _text_masks(view):
            group = _pick_group(_line_candidates(mask))
            if not group:
                continue
            region = _region(group, scale, to_work)
            centre = region.quad.mean(axis=0)
            if any(np.linalg.norm(centre - c) < region.line_height for c in seen):
                continue
            seen.append(centre)
            yield region


def locate_mrz(gray: np.ndarray) -> MrzRegion:
    """The most likely MRZ of a grayscale page image; MrzNotFoundError when no MRZ-like line group exists."""
    region = next(locate_candidates(gray), None)
    if region is None:
        raise MrzNotFoundError("no MRZ found in the image")
    return region


def _region(group: list[_Line], scale: float, to_work: np.ndarray) -> MrzRegion:
    """The group's ink quad: the first line's top edge and the last line's bottom edge. Their direction is
    the lines' mean, each turned by how far its own least-squares direction departs from the others' where
    they clearly converge, as lines seen in perspective do (``CONVERGING_DEG``)."""
    fitted = np.degrees(np.arctan([np.polyfit(*line.points.T, 1)[0] for line in group]))
    angles = np.full(len(group), np.mean([line.angle for line in group]))
    if np.ptp(fitted) > CONVERGING_DEG:
        angles += fitted - fitted.mean()

    def extent(line: _Line, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The line's (start, end) along, (top, bottom) across, and the along / across unit vectors."""
        theta = np.deg2rad(angle)
        along, across = np.array([np.cos(theta), np.sin(theta)]), np.array([-np.sin(theta), np.cos(theta)])
        u, v = line.points @ along, line.points @ across
        return np.percentile(u, [0.2, 99.8]), np.percentile(v, [1, 99]), np.stack([along, across])

    (u0a, u1a), (v0a, _), axes_a = extent(group[0], angles[0])
    (u0b, u1b), (_, v1b), axes_b = extent(group[-1], angles[-1])
    corners = [(u0a, v0a) @ axes_a, (u1a, v0a) @ axes_a, (u1b, v1b) @ axes_b, (u0b, v1b) @ axes_b]
    quad = cv2.transform(np.array([corners], np.float32), to_work)[0]
    angle = float(np.degrees(np.arctan2(*(quad[1] - quad[0])[::-1])))
    quad = quad / scale
    heights = [np.diff(extent(line, a)[1])[0] for line, a in zip(group, angles, strict=True)]
    height = float(np.mean(heights)) / scale
    return MrzRegion(quad=quad, lines=len(group), angle_deg=angle, line_height=height)

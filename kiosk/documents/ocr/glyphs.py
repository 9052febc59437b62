"""Settle confusable characters by the page's own glyphs.

A printer's ``0`` and ``O`` (or ``<`` and ``K``, ``8`` and ``B``...) may differ by a pixel of width that a
classifier trained on other renderings misses, while the same page prints the same glyph the same way every
time (OCR-B's zero is a rounded rectangle, its O an ellipse). The page's exemplars are positions whose field
grammar already rules out the confusion (the dates and check digits admit only digits, the names and codes
only letters) and where the classifier is decisive among what the grammar allows; an alphanumeric position
with several plausible readings takes the one whose exemplars its ink resembles clearly best. Nothing is
decided when a plausible reading has no exemplar on the page or the resemblance does not separate them: the
check digits and ``ocr.ambiguous_field`` then decide whether the read stands.

Zeros are also settled by the page's zeros alone, which every page prints (its dates): a position that may be
a zero resembles the page's zero exemplars as closely as they resemble one another, where no other glyph of
any development page came near (``ZERO_LIKENESS``). Many pages print no O at all (05, 24, 27 of the
development images), and real document numbers are full of zeros the classifier reads as O. Where the two
rules disagree, nothing is settled."""

from __future__ import annotations

from collections.abc import Collection

import cv2
import numpy as np

from kiosk.documents.mrz_layouts import FIELD_LAYOUTS
from kiosk.documents.ocr.classify import ALPHABET, CHECK_RESIDUE

#: A grammar-restricted position is an exemplar of its class when the classifier gives that class at least
#: this probability among the characters its field allows, with no other plausible reading. Real scans:
#: 0.9 finds exemplars of both 0 and O on 15 of the 30 development images (0.98: 9), none of them wrong.
EXEMPLAR_PROBABILITY = 0.9
#: Best minus second-best mean correlation needed to settle a position. Real development images, every
#: printed 0 and O measured against the other exemplars of its page (130 zeros, 21 O's on 15 images): zeros
#: scored >= -0.018, O's <= -0.060 (O's side negative), so 0.05 settles most of them and turns none the
#: wrong way. Generated pages: correct settlements led by >= 0.05.
SETTLE_MARGIN = 0.05
_TOP_EXEMPLARS = 3
_ZERO = ALPHABET.index("0")
_ZERO_TWINS = [ALPHABET.index(c) for c in "ODQ"]
#: A plausible reading the page shows no exemplar of (a ``D`` beside ``0`` and ``O``) leaves the position
#: unsettled unless the classifier puts it below this fraction of the best reading that has exemplars.
RIVAL_RATIO = 0.1
#: A position settles as a zero by the page's zeros alone when its resemblance to them (mean of its best
#: ``_TOP_EXEMPLARS`` aligned correlations) falls short of the zero exemplars' own median resemblance to one
#: another by less than this. Real development images (25 pages with at least ``MIN_ZERO_EXEMPLARS``; every
#: printed glyph measured): zeros median 0.000, 5% below -0.029 (misaligned cells, left unsettled); of 1,000
#: other glyphs the closest came to -0.054 (a B), O's -0.069, D's -0.100, other digits -0.102.
ZERO_LIKENESS = -0.025
MIN_ZERO_EXEMPLARS = 3
#: Sub-pixel shifts (canonical pixels) over which a position is aligned with each exemplar: cell centres
#: wander by up to a pixel on real prints, and a misaligned zero correlates with an O better than with zeros.
_SHIFTS = np.arange(-1.0, 1.01, 0.5)


def _normalised(flat: np.ndarray) -> np.ndarray:
    flat = flat.astype(np.float64) - flat.mean(axis=-1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=-1, keepdims=True) + 1e-9)


def _shifted(cell: np.ndarray) -> np.ndarray:
    """(shifts, H * W) normalised copies of ``cell`` moved by every (dx, dy) of ``_SHIFTS``."""
    h, w = cell.shape
    copies = [
        cv2.warpAffine(cell, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REPLICATE)
        for dy in _SHIFTS
        for dx in _SHIFTS
    ]
    return _normalised(np.stack(copies).reshape(len(copies), -1))


def _grammar_restricted(shape: tuple[int, int], fmt: str) -> np.ndarray:
    """(lines, n) bool: positions whose field admits only digits or only letters (and fillers)."""
    restricted = np.zeros(shape, bool)
    for field in FIELD_LAYOUTS[fmt]:
        if field.kind != "alnum" and field.name != "document_code":  # the code's 2nd character may be a digit
            restricted[field.line, field.start : field.end] = True
    return restricted


def _resemblance(aligned: np.ndarray, exemplars: np.ndarray, top: int) -> float:
    """Mean of the ``top`` best correlations of a cell (its shifted copies) with ``exemplars`` (rows)."""
    similarity = (exemplars @ aligned.T).max(axis=1)  # best alignment with each exemplar
    return float(np.sort(similarity)[::-1][:top].mean())


class _PageZeros:
    """The page's zero exemplars: how closely a cell resembles them, against how closely they resemble one
    another (``ZERO_LIKENESS``)."""

    def __init__(self, cells: np.ndarray, positions: list[tuple[int, int]]) -> None:
        self.vectors = _normalised(np.stack([cells[p].reshape(-1) for p in positions]))
        self.top = min(_TOP_EXEMPLARS, len(positions) - 1)
        own = [
            _resemblance(_shifted(cells[p]), np.delete(self.vectors, k, axis=0), self.top)
            for k, p in enumerate(positions)
        ]
        self.reference = float(np.median(own))

    def like(self, cell: np.ndarray) -> bool:
        return _resemblance(_shifted(cell), self.vectors, self.top) - self.reference >= ZERO_LIKENESS


def _compare(
    row: np.ndarray,
    candidates: np.ndarray,
    exemplar: np.ndarray,
    top: np.ndarray,
    vectors: np.ndarray,
    cell: np.ndarray,
) -> int | None:
    """The plausible reading (class index) whose exemplars the cell resembles clearly best, among two or
    more the page shows; None when nothing separates them."""
    shown = [c for c in candidates if (exemplar & (top == c)).any()]
    unshown = [c for c in candidates if c not in shown]
    if len(shown) < 2 or (unshown and row[unshown].max() >= RIVAL_RATIO * row[shown].max()):
        return None  # a serious reading the page shows no example of: nothing to compare it with
    aligned = _shifted(cell)
    scores = [_resemblance(aligned, vectors[exemplar & (top == c)], _TOP_EXEMPLARS) for c in shown]
    order = np.argsort(scores)[::-1]
    best = int(shown[order[0]])
    if scores[order[0]] - scores[order[1]] < SETTLE_MARGIN:
        return None
    # settle only what the check digit can still see: G for 6 (or K for <) would verify as well, and the
    # margin was measured on O/0 only (a Liberation Mono 6 once settled as its name's G)
    return None if any(CHECK_RESIDUE[c] == CHECK_RESIDUE[best] for c in candidates if c != best) else best


def settle_confusables(
    probabilities: np.ndarray,
    plausible: np.ndarray,
    cells: np.ndarray,
    fmt: str,
    *,
    zeros_in: Collection[str] = (),
) -> np.ndarray:
    """``probabilities`` (lines, n, C), already restricted by the field grammar, and which readings of each
    position are ``plausible`` (same shape, bool); ``cells`` (lines, n, H, W) ink maps. Returns the
    probabilities with settled positions made decisive (the other plausible readings pushed far down).
    In the fields named in ``zeros_in`` the page's zeros alone settle zeros too (``ZERO_LIKENESS``)."""
    out = probabilities.copy()
    vectors = _normalised(cells.reshape(*cells.shape[:2], -1))
    top = probabilities.argmax(axis=2)
    top_p = probabilities.max(axis=2)
    exemplar = (
        (top_p >= EXEMPLAR_PROBABILITY) & (plausible.sum(axis=2) == 1) & _grammar_restricted(top.shape, fmt)
    )
    zero_exemplars = [tuple(map(int, p)) for p in np.argwhere(exemplar & (top == _ZERO))]
    zeros: _PageZeros | None = None
    for field in FIELD_LAYOUTS[fmt]:
        if field.kind != "alnum":
            continue
        by_zeros = field.name in zeros_in
        for i in range(field.start, field.end):
            line = field.line
            candidates = np.flatnonzero(plausible[line, i])
            # a zero the classifier reads as O (D, Q) so surely that the zero is not even plausible
            read_round = by_zeros and top[line, i] in _ZERO_TWINS
            if len(candidates) < 2 and not read_round:
                continue
            verdict = None
            if len(candidates) >= 2:
                verdict = _compare(probabilities[line, i], candidates, exemplar, top, vectors, cells[line, i])
            if by_zeros and (_ZERO in candidates or read_round) and len(zero_exemplars) >= MIN_ZERO_EXEMPLARS:
                zeros = zeros or _PageZeros(cells, zero_exemplars)
                if zeros.like(cells[line, i]):
                    verdict = _ZERO if verdict in (None, _ZERO) else None  # the two rules disagree: unsettled
            if verdict is not None:
                candidates = np.union1d(candidates, [verdict])
                settled = out[line, i]
                settled[candidates] = settled[candidates].max() * 1e-4
                settled[verdict] = top_p[line, i]
                out[line, i] = settled / settled.sum()
    return out

"""Settle confusable characters by the page's own glyphs.

A printer's ``0`` and ``O`` (or ``<`` and ``K``, ``8`` and ``B``...) may differ by a pixel of width that a
classifier trained on other renderings misses, while the same page prints the same glyph the same way every
time (OCR-B's zero is a rounded rectangle, its O an ellipse). The page's exemplars are positions whose field
grammar already rules out the confusion (the dates and check digits admit only digits, the names and codes
only letters) and where the classifier is decisive among what the grammar allows; an alphanumeric position
with several plausible readings takes the one whose exemplars its ink resembles clearly best. Nothing is
decided when a plausible reading has no exemplar on the page or the resemblance does not separate them: the
check digits and ``ocr.ambiguous_field`` then decide whether the read stands."""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.documents.mrz_layouts import FIELD_LAYOUTS

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
#: A plausible reading the page shows no exemplar of (a ``D`` beside ``0`` and ``O``) leaves the position
#: unsettled unless the classifier puts it below this fraction of the best reading that has exemplars.
RIVAL_RATIO = 0.1
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


def settle_confusables(
    probabilities: np.ndarray, plausible: np.ndarray, cells: np.ndarray, fmt: str
) -> np.ndarray:
    """``probabilities`` (lines, n, C), already restricted by the field grammar, and which readings of each
    position are ``plausible`` (same shape, bool); ``cells`` (lines, n, H, W) ink maps. Returns the
    probabilities with settled positions made decisive (the other plausible readings pushed far down)."""
    out = probabilities.copy()
    vectors = _normalised(cells.reshape(*cells.shape[:2], -1))
    top = probabilities.argmax(axis=2)
    top_p = probabilities.max(axis=2)
    exemplar = (
        (top_p >= EXEMPLAR_PROBABILITY) & (plausible.sum(axis=2) == 1) & _grammar_restricted(top.shape, fmt)
    )
    for field in FIELD_LAYOUTS[fmt]:
        if field.kind != "alnum":
            continue
        for i in range(field.start, field.end):
            line = field.line
            candidates = np.flatnonzero(plausible[line, i])
            if len(candidates) < 2:
                continue
            shown = [c for c in candidates if (exemplar & (top == c)).any()]
            unshown = [c for c in candidates if c not in shown]
            row = probabilities[line, i]
            if len(shown) < 2 or (unshown and row[unshown].max() >= RIVAL_RATIO * row[shown].max()):
                continue  # a serious reading the page shows no example of: nothing to compare it with
            aligned = _shifted(cells[line, i])
            scores = []
            for c in shown:
                similarity = (vectors[exemplar & (top == c)] @ aligned.T).max(axis=1)  # best alignment each
                scores.append(float(np.sort(similarity)[::-1][:_TOP_EXEMPLARS].mean()))
            order = np.argsort(scores)[::-1]
            if scores[order[0]] - scores[order[1]] >= SETTLE_MARGIN:
                settled = out[line, i]
                settled[candidates] = settled[candidates].max() * 1e-4
                settled[shown[order[0]]] = top_p[line, i]
                out[line, i] = settled / settled.sum()
    return out

"""Settle confusable characters by the page's own glyphs.

A printer's ``0`` and ``O`` (or ``<`` and ``K``, ``8`` and ``B``...) may differ by a pixel of width that a
classifier trained on other renderings misses, while the same page prints the same glyph the same way every
time. Positions whose reading is certain (the date fields admit only digits, the names only letters, and the
classifier is decisive there) are the page's exemplars; an alphanumeric position with several plausible
readings takes the one whose exemplars its ink resembles clearly best. Nothing is decided when a plausible
reading has no exemplar on the page or the resemblance does not separate them: the check digits and
``ocr.ambiguous_field`` then decide whether the read stands."""

from __future__ import annotations

import numpy as np

from kiosk.documents.mrz_layouts import FIELD_LAYOUTS

#: A position is an exemplar of its class when the classifier gives it at least this probability.
EXEMPLAR_PROBABILITY = 0.98
#: Best minus second-best mean correlation needed to settle a position. Generated pages: correct settlements
#: led by >= 0.05; real scans with both O and 0 exemplars: 0.06-0.2.
SETTLE_MARGIN = 0.05
_TOP_EXEMPLARS = 3


def _normalised(cells: np.ndarray) -> np.ndarray:
    flat = cells.reshape(*cells.shape[:2], -1).astype(np.float64)
    flat = flat - flat.mean(axis=-1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=-1, keepdims=True) + 1e-9)


def settle_confusables(
    probabilities: np.ndarray, plausible: np.ndarray, cells: np.ndarray, fmt: str
) -> np.ndarray:
    """``probabilities`` (lines, n, C), already restricted by the field grammar, and which readings of each
    position are ``plausible`` (same shape, bool); ``cells`` (lines, n, H, W) ink maps. Returns the
    probabilities with settled positions made decisive (the other plausible readings pushed far down)."""
    out = probabilities.copy()
    vectors = _normalised(cells)
    top = probabilities.argmax(axis=2)
    top_p = probabilities.max(axis=2)
    exemplar = (top_p >= EXEMPLAR_PROBABILITY) & (plausible.sum(axis=2) == 1)
    for field in FIELD_LAYOUTS[fmt]:
        if field.kind != "alnum":
            continue
        for i in range(field.start, field.end):
            line = field.line
            candidates = np.flatnonzero(plausible[line, i])
            if len(candidates) < 2:
                continue
            scores = []
            for c in candidates:
                refs = exemplar & (top == c)
                refs[line, i] = False
                if not refs.any():
                    break  # a plausible reading the page shows no example of: nothing to compare
                similarity = np.sort(vectors[refs] @ vectors[line, i])[::-1][:_TOP_EXEMPLARS]
                scores.append(float(similarity.mean()))
            else:
                order = np.argsort(scores)[::-1]
                if scores[order[0]] - scores[order[1]] >= SETTLE_MARGIN:
                    best = candidates[order[0]]
                    row = out[line, i]
                    row[candidates] = row[candidates].max() * 1e-4
                    row[best] = top_p[line, i]
                    out[line, i] = row / row.sum()
    return out

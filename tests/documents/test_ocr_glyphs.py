"""Settling O/0 by the page's own glyphs (``ocr/glyphs.py``): drawn cells, classifier probabilities as real
prints give them (decisive where the grammar rules the confusion out, torn between O and 0 elsewhere)."""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.documents.mrz import compose_mrz
from kiosk.documents.ocr.classify import ALPHABET
from kiosk.documents.ocr.correct import decode, plausible_mask
from kiosk.documents.ocr.glyphs import settle_confusables
from kiosk.documents.ocr.segment import CELL_H, CELL_W

# document number 0 at positions 1, 3 and 4 (weights 3, 7, 3 sum to 13), dates with zeros, a name with O's
FIELDS = {
    "document_code": "P<",
    "issuing_state": "UTO",
    "surname": "OLSSON",
    "given_names": "BO",
    "document_number": "T020013",
    "nationality": "UTO",
    "date_of_birth": "700102",
    "sex": "F",
    "expiry_date": "300405",
    "optional_data": "",
}
LINES = tuple(compose_mrz("TD3", **FIELDS).split("\n"))
TORN = [(1, 1), (1, 3), (1, 4)]  # the document number's zeros


def _glyph(shape: str, dx: float = 0.0) -> np.ndarray:
    """An OCR-B-like ink cell at the canonical scale: ``zero`` a rounded rectangle, ``O`` an ellipse."""
    s = 8
    big = np.zeros((CELL_H * s, CELL_W * s), np.uint8)
    cx, cy = round((CELL_W / 2 + dx) * s), CELL_H * s // 2
    if shape == "zero":
        w, h, r = 6 * s, 9 * s, 4 * s
        for x, y in (
            (cx - w + r, cy - h + r),
            (cx + w - r, cy - h + r),
            (cx - w + r, cy + h - r),
            (cx + w - r, cy + h - r),
        ):
            cv2.circle(big, (x, y), r, 255, 2 * s)
        big[cy - h + r : cy + h - r, cx - w - s : cx - w + s] = 255
        big[cy - h + r : cy + h - r, cx + w - s : cx + w + s] = 255
        big[cy - h - s : cy - h + s, cx - w + r : cx + w - r] = 255
        big[cy + h - s : cy + h + s, cx - w + r : cx + w - r] = 255
        inner = np.zeros_like(big)
        cv2.rectangle(inner, (cx - w + s, cy - h + r), (cx + w - s, cy + h - r), 255, -1)
        cv2.rectangle(inner, (cx - w + r, cy - h + s), (cx + w - r, cy + h - s), 255, -1)
        big[inner > 0] = 0
    else:
        cv2.ellipse(big, (cx, cy), (6 * s, 9 * s), 0, 0, 360, 255, 2 * s)
    return cv2.resize(big, (CELL_W, CELL_H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _page(
    torn_shape: str = "zero", exemplar_p: float = 0.93, dx: float = 0.0, lines: tuple[str, ...] = LINES
):
    """Probabilities and cells of ``LINES``: grammar-restricted 0's and O's read at ``exemplar_p`` (below the
    0.98 the page's exemplars once needed), the document number's zeros drawn as ``torn_shape`` and read as
    O 0.5 / 0 0.45 by the classifier, as real prints are."""
    n, k = len(lines[0]), len(ALPHABET)
    probs = np.full((2, n, k), 1e-4)
    cells = np.zeros((2, n, CELL_H, CELL_W), np.float32)
    rng = np.random.default_rng(5)
    for line, text in enumerate(lines):
        for i, ch in enumerate(text):
            probs[line, i, ALPHABET.index(ch)] = exemplar_p if ch in "0O" else 0.99
            if ch in "0O":  # a rival the grammar allows, not plausible, but enough to keep it under 0.98
                probs[line, i, ALPHABET.index("8" if ch == "0" else "C")] = 0.05
            if ch == "0":
                cells[line, i] = _glyph("zero")
            elif ch == "O":
                cells[line, i] = _glyph("O")
            else:
                cells[line, i] = rng.random((CELL_H, CELL_W)) * 0.3  # some other glyph
    for line, i in TORN:
        probs[line, i] = 1e-4
        probs[line, i, ALPHABET.index("O")] = 0.5
        probs[line, i, ALPHABET.index("0")] = 0.45
        cells[line, i] = _glyph(torn_shape, dx)
    return probs / probs.sum(axis=2, keepdims=True), cells


def test_the_page_zeros_settle_a_zero_the_classifier_reads_as_o() -> None:
    probs, cells = _page()
    assert decode(probs, "TD3").ambiguous == ("document_number",)  # without the page's glyphs: rejected
    decoded = decode(probs, "TD3", cells)
    assert decoded.lines == LINES
    assert decoded.ambiguous == ()


def test_a_cell_off_centre_by_a_pixel_is_still_compared_fairly() -> None:
    probs, cells = _page(dx=1.0)
    decoded = decode(probs, "TD3", cells)
    assert decoded.lines == LINES
    assert decoded.ambiguous == ()


def test_the_page_os_settle_a_printed_o() -> None:
    probs, cells = _page(torn_shape="O")
    decoded = decode(probs, "TD3", cells)
    assert [decoded.lines[line][i] for line, i in TORN] == ["O", "O", "O"]  # the letters the page printed


def test_a_glyph_between_zero_and_o_is_not_settled() -> None:
    probs, cells = _page()
    for line, i in TORN:
        cells[line, i] = 0.5 * _glyph("zero") + 0.5 * _glyph("O")
    assert decode(probs, "TD3", cells).ambiguous == ("document_number",)


def test_alphanumeric_positions_are_no_exemplars() -> None:
    # the page's only sure O stands in the optional data, where the grammar does not rule out a zero: it
    # proves nothing about how this printer draws an O (the name's O's are not sure enough here)
    probs, cells = _page(torn_shape="O")
    o, q = ALPHABET.index("O"), ALPHABET.index("Q")
    for line, text in enumerate(LINES):
        for i, ch in enumerate(text):
            if ch == "O":
                probs[line, i, o], probs[line, i, q] = 0.6, 0.39
    probs[1, 30] = 1e-4
    probs[1, 30, o] = 0.99
    cells[1, 30] = _glyph("O")
    settled = settle_confusables(probs, plausible_mask(probs), cells, "TD3")
    for line, i in TORN:
        assert settled[line, i, o] > 0.1 * settled[line, i].max()  # still torn


def _d_glyph() -> np.ndarray:
    """An OCR-B-like D: a straight left side, a round right one."""
    s = 8
    big = np.zeros((CELL_H * s, CELL_W * s), np.uint8)
    cx, cy = CELL_W * s // 2, CELL_H * s // 2
    cv2.ellipse(big, (cx - 2 * s, cy), (8 * s, 9 * s), 0, -90, 90, 255, 2 * s)
    big[cy - 10 * s : cy + 10 * s, cx - 7 * s : cx - 5 * s] = 255
    big[cy - 10 * s : cy - 8 * s, cx - 7 * s : cx - 2 * s] = 255
    big[cy + 8 * s : cy + 10 * s, cx - 7 * s : cx - 2 * s] = 255
    return cv2.resize(big, (CELL_W, CELL_H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def test_a_serious_reading_the_page_shows_no_example_of_blocks_comparing() -> None:
    # a D as likely as the zero, no D on the page to compare with, and the ink is no zero of this page
    probs, cells = _page()
    d = ALPHABET.index("D")
    for line, i in TORN:
        probs[line, i, d] = 0.2
        cells[line, i] = _d_glyph()
    assert decode(probs, "TD3", cells).ambiguous == ("document_number",)


def test_the_page_zeros_alone_settle_a_zero_on_a_page_without_o() -> None:
    probs, cells = _page()
    o = ALPHABET.index("O")
    for line, text in enumerate(LINES):  # the name's O's are no exemplars: the page shows no O
        for i, ch in enumerate(text):
            if ch == "O" and (line, i) not in TORN:
                probs[line, i, o] = 0.5
    d = ALPHABET.index("D")
    for line, i in TORN:
        probs[line, i, d] = 0.2  # a D as likely: no D resembles the page's zeros as they do one another
    decoded = decode(probs / probs.sum(axis=2, keepdims=True), "TD3", cells)
    assert decoded.lines == LINES and decoded.ambiguous == ()


def test_a_zero_read_surely_as_o_is_settled_by_the_page_zeros() -> None:
    probs, cells = _page()
    o, zero = ALPHABET.index("O"), ALPHABET.index("0")
    for line, i in TORN:
        probs[line, i, o], probs[line, i, zero] = 0.99, 0.001  # a zero not even plausible to the classifier
    assert decode(probs, "TD3").ambiguous == ("document_number",)
    decoded = decode(probs, "TD3", cells)
    assert decoded.lines == LINES and decoded.ambiguous == ()


def test_an_o_is_never_settled_as_a_zero_by_the_page_zeros() -> None:
    probs, cells = _page(torn_shape="O")
    o = ALPHABET.index("O")
    for line, text in enumerate(LINES):  # and the page shows no O to compare it with
        for i, ch in enumerate(text):
            if ch == "O" and (line, i) not in TORN:
                probs[line, i, o] = 0.5
    settled = settle_confusables(probs, plausible_mask(probs), cells, "TD3", zeros_in=("document_number",))
    for line, i in TORN:
        assert settled[line, i, o] > 0.1 * settled[line, i].max()  # still torn: the check digits decide


def test_the_page_zeros_do_not_overrule_an_o_the_check_digit_confirms() -> None:
    # a face whose O is drawn like its zero (not OCR-B): the classifier reads the O, and a zero there would
    # fail the check digit, so the read is settled without the page's zeros
    lines = tuple(compose_mrz("TD3", **{**FIELDS, "document_number": "T0O0013"}).split("\n"))
    probs, cells = _page(lines=lines)
    for line, text in enumerate(lines):
        for i, ch in enumerate(text):
            if ch == "O":
                cells[line, i] = _glyph("zero")
    o, zero = ALPHABET.index("O"), ALPHABET.index("0")
    for line, i in TORN:  # the zeros are read surely here
        probs[line, i] = 1e-4
        probs[line, i, zero] = 0.99
    probs[1, 2] = 1e-4
    probs[1, 2, o], probs[1, 2, zero] = 0.9, 0.09
    decoded = decode(probs / probs.sum(axis=2, keepdims=True), "TD3", cells)
    assert decoded.lines == lines and decoded.ambiguous == ()


def test_the_page_glyphs_never_settle_what_the_check_digit_cannot_see() -> None:
    # a 6 torn between 6 and G (equal in a check digit), its ink the very image of the name's G's: settling
    # it as G would verify, so the page's glyphs leave it to the ambiguity rule
    fields = {**FIELDS, "surname": "GIGG", "document_number": "T6A1", "date_of_birth": "660106"}
    lines = tuple(compose_mrz("TD3", **fields).split("\n"))
    six, g = ALPHABET.index("6"), ALPHABET.index("G")
    rng = np.random.default_rng(7)
    g_ink, six_ink = rng.random((CELL_H, CELL_W)), rng.random((CELL_H, CELL_W))
    probs = np.full((2, len(lines[0]), len(ALPHABET)), 1e-4)
    cells = np.zeros((2, len(lines[0]), CELL_H, CELL_W), np.float32)
    for line, text in enumerate(lines):
        for i, ch in enumerate(text):
            probs[line, i, ALPHABET.index(ch)] = 0.99
            cells[line, i] = g_ink if ch == "G" else six_ink if ch == "6" else rng.random((CELL_H, CELL_W))
    probs[1, 1, six], probs[1, 1, g] = 0.6, 0.35
    cells[1, 1] = g_ink
    probs /= probs.sum(axis=2, keepdims=True)
    assert "6" in lines[1][13:19] and lines[0].count("G") == 3  # the page shows both
    settled = settle_confusables(probs, plausible_mask(probs), cells, "TD3")
    assert settled[1, 1, six] > 0.1 * settled[1, 1].max()
    assert decode(probs, "TD3", cells).ambiguous == ("document_number",)

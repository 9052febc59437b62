"""Turn per-cell class probabilities into MRZ lines using the position grammar and the check digits.

1. Each position is restricted to the characters its field kind allows (``FIELD_LAYOUTS``).
2. Each field guarded by a check digit takes the most probable (field, digit) pair that agrees, from a
   k-best list over its positions; the composite check digit then picks among the fields' best agreeing
   alternatives (and the optional data it covers) jointly.
3. Name fields get filler repair: a ``<<<`` run never occurs inside a name, so letters after one are
   fillers misread (``<`` read as ``K``...); the run's own three characters stay unguarded.
4. Sex admits only ``M F X <``; a state code read as a code of the ICAO list is guarded by that list: its
   share is its probability among all listed codes (spellings that are no code are ruled out anyway). A
   state code is read in digits only where every one of its characters is surely a digit (the code check
   then names the national quirk).
5. ``Decoded.confidence`` is the lowest probability of any chosen character; the reader fails a read whose
   unguarded characters (names) or guarded characters fall below their thresholds instead of guessing.
6. ``Decoded.ambiguous`` names the document-number, date and optional-data fields the check digits cannot
   settle (see ``ambiguous_fields``): a check digit confirms a reading only when the classifier's own choice
   passes it and no other plausible reading does. Confusable glyphs are first settled by the page's own
   glyphs where it prints both unmistakably (``glyphs.settle_confusables``); where a field is still
   ambiguous, the page's zeros alone may settle its zeros (``glyphs.ZERO_LIKENESS``). The document code's
   second character may be a digit (``C1``), but not a guess between a digit and a letter.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from dataclasses import dataclass

import numpy as np

from kiosk.documents.icao_codes import KNOWN_CODES, is_known_code
from kiosk.documents.mrz import check_digit
from kiosk.documents.mrz_layouts import COMPOSITE_SPANS, FIELD_LAYOUTS, MrzField
from kiosk.documents.ocr.classify import ALPHABET, CHECK_RESIDUE
from kiosk.documents.ocr.glyphs import settle_confusables

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_ALLOWED = {
    "alpha": _LETTERS + "<",
    "numeric": _DIGITS + "<",
    "alnum": _LETTERS + _DIGITS + "<",
    "check": _DIGITS + "<",
    "filler_text": _LETTERS + "<",
}
_FIELD_ALLOWED = {"sex": "MFX<"}  # narrower than the field's kind
#: Where a field admits only letters (digits), a digit (letter) the classifier reads first is read as its
#: OCR-B twin: its weight goes there rather than being spread over whatever else the field allows. In
#: letters only the zero, the one twin measured on real prints (names have no check digit). Real
#: development images: of 37 O's in names and codes the classifier read 7 first as a zero (one at 0.976, the
#: letters left all under 0.003), of 24 D's none (one at 0.43, behind the D: the twin takes nothing then).
_TO_LETTER = {"0": "O"}  # a 1 read first stood for an L too (Liberation Mono), an unguarded name error
_TO_DIGIT = {"O": "0", "D": "0", "Q": "0", "I": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
_TWINS = {
    kind: {ALPHABET.index(a): ALPHABET.index(b) for a, b in table.items()}
    for kind, table in (
        ("alpha", _TO_LETTER),
        ("filler_text", _TO_LETTER),
        ("numeric", _TO_DIGIT),
        ("check", _TO_DIGIT),
    )
}
_CODE_FIELDS = ("issuing_state", "nationality")
_DIGIT_INDICES = [ALPHABET.index(c) for c in _DIGITS]
_KNOWN_CODE_INDICES = np.array(
    [[ALPHABET.index(c) for c in code.ljust(3, "<")] for code in sorted(KNOWN_CODES) if len(code) in (1, 3)]
)
_ALTERNATIVES = 4  # per position, for the k-best search
_K_BEST = 40
_FLOOR = 1e-9
_WEIGHTS = (7, 3, 1)
#: Glyphs OCR confuses on real prints (Doc 9303's OCR-B draws them close; at 8-12 px per character a
#: classifier trained on other renderings tells them apart badly).
CONFUSABLE_GROUPS = ("0ODQ", "1I", "8B", "5S", "2Z", "6G", "<K")
#: An alternative whose probability reaches this fraction of the classifier's first choice is a plausible
#: reading of its position: ``PLAUSIBLE_RATIO`` for a glyph confusable with the first choice, ``RIVAL_RATIO``
#: for any other. On generated pages a correct character's best alternative stays below 0.06 of it (about
#: 1% of positions reach 0.01); on real scans the classifier put wrong O/0 reads 10-100 times above the
#: truth, so the bar for confusables is low: a single plausible alternative costs nothing (the check digit
#: rules it out), only several that the check digit cannot tell apart reject the read.
PLAUSIBLE_RATIO = 0.01
RIVAL_RATIO = 0.1
_CONFUSABLE = np.zeros((len(ALPHABET), len(ALPHABET)), bool)
for _group in CONFUSABLE_GROUPS:
    for _a in _group:
        for _b in _group:
            _CONFUSABLE[ALPHABET.index(_a), ALPHABET.index(_b)] = True
#: Probability of a digit the classifier must give at every position of a state code for the code to be
#: read as digits (national numeric codes), the bar any unguarded character must pass
#: (``reading.MIN_UNGUARDED_PROBABILITY``); below it the code field admits letters only.
DIGIT_CODE = 0.7
#: Readings enumerated per field at most; a field with more plausible readings is ambiguous outright.
_MAX_READINGS = 4096
_CHECKED_FIELDS = ("document_number", "date_of_birth", "expiry_date", "optional_data")


@dataclass(frozen=True)
class Decoded:
    lines: tuple[str, ...]
    chosen_probability: np.ndarray  # (lines, n) probability of each chosen character
    class_share: np.ndarray  # (lines, n) its share among alternatives its guard cannot tell from it
    guarded: np.ndarray  # (lines, n) bool: covered by a check digit that agreed, or by the code list
    confidence: float  # lowest chosen probability
    ambiguous: tuple[str, ...] = ()  # fields whose check digits do not settle the reading


def _mask(probabilities: np.ndarray, fmt: str) -> np.ndarray:
    """Zero the characters a position's field kind forbids, renormalise. probabilities: (lines, n, C)."""
    masked = probabilities.copy()
    for field in FIELD_LAYOUTS[fmt]:
        allowed = np.zeros(len(ALPHABET), bool)
        chars = _FIELD_ALLOWED.get(field.name, _ALLOWED[field.kind])
        allowed[[ALPHABET.index(c) for c in chars]] = True
        span = masked[field.line, field.start : field.end]
        seen = span.argmax(axis=1)
        twins = {} if field.name == "document_code" else _TWINS.get(field.kind, {})  # C1 is no CI
        for glyph, twin in twins.items():
            span[seen == glyph, twin] += span[seen == glyph, glyph]  # the shape seen, as the field allows it
        span[:, ~allowed] = 0
    # the document code's second character may be a digit (national use: C1 on US permanent-resident cards)
    masked[0, 1, _DIGIT_INDICES] = probabilities[0, 1, _DIGIT_INDICES]
    # a state code printed in digits (an old Romanian card's nationality 132) is read as printed, so that
    # the code check names it, but only where the classifier is sure of a digit at every position
    for name in _CODE_FIELDS:
        field = next((f for f in FIELD_LAYOUTS[fmt] if f.name == name), None)
        if field is not None:
            row = probabilities[field.line, field.start : field.end]
            if all(ALPHABET[i].isdigit() for i in row.argmax(axis=1)) and row.max(axis=1).min() >= DIGIT_CODE:
                masked[field.line, field.start : field.end] = row
    # fillers stand only for an unknown day or month of birth, for an empty personal number's check digit
    # and in a long document number's check-digit position: never in a year, an expiry date or other digits
    fields = {f.name: f for f in FIELD_LAYOUTS[fmt]}
    for name in (
        "date_of_birth",
        "expiry_date",
        "date_of_birth_check",
        "expiry_date_check",
        "composite_check",
    ):
        field = fields.get(name)
        if field is not None:
            end = field.start + 2 if name == "date_of_birth" else field.end
            masked[field.line, field.start : end, ALPHABET.index("<")] = 0
    masked += _FLOOR
    return masked / masked.sum(axis=2, keepdims=True)


def _k_best(logp: list[list[tuple[str, float]]], k: int) -> list[tuple[str, float]]:
    """The k most probable strings from independent positions (each list sorted best first)."""
    start = (0,) * len(logp)
    score = lambda idx: sum(logp[i][j][1] for i, j in enumerate(idx))  # noqa: E731
    heap, seen, out = [(-score(start), start)], {start}, []
    while heap and len(out) < k:
        neg, idx = heapq.heappop(heap)
        out.append(("".join(logp[i][j][0] for i, j in enumerate(idx)), -neg))
        for i in range(len(idx)):
            if idx[i] + 1 < len(logp[i]):
                nxt = (*idx[:i], idx[i] + 1, *idx[i + 1 :])
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (-score(nxt), nxt))
    return out


def _position_options(probs: np.ndarray) -> list[tuple[str, float]]:
    top = np.argsort(probs)[::-1][:_ALTERNATIVES]
    return [(ALPHABET[t], float(np.log(probs[t]))) for t in top]


class _Decoder:
    def __init__(self, probs: np.ndarray, fmt: str) -> None:
        self.probs, self.fmt = probs, fmt
        self.fields = {f.name: f for f in FIELD_LAYOUTS[fmt]}
        self.lines = [list(ALPHABET[i] for i in row) for row in probs.argmax(axis=2)]
        self.guarded = np.zeros(probs.shape[:2], bool)

    def options(self, field: MrzField) -> list[list[tuple[str, float]]]:
        return [_position_options(self.probs[field.line, i]) for i in range(field.start, field.end)]

    def checked_candidates(self, name: str, limit: int = 4) -> list[tuple[str, float]]:
        """Best (field + check digit) strings whose check digit agrees; empty when none does."""
        field, check = self.fields[name], self.fields[f"{name}_check"]
        found = []
        for text, logp in _k_best([*self.options(field), *self.options(check)[:3]], _K_BEST):
            if _agrees(self.fmt, name, text[:-1], text[-1]):
                found.append((text, logp))
                if len(found) == limit:
                    break
        return found

    def put(self, field: MrzField, text: str, guarded: bool) -> None:
        end = field.start + len(text)
        self.lines[field.line][field.start : end] = list(text)
        self.guarded[field.line, field.start : end] = guarded

    def decode_checked(self) -> None:
        names = ("document_number", "date_of_birth", "expiry_date", "optional_data")
        guarded_names = [n for n in names if f"{n}_check" in self.fields]
        choices: dict[str, list[tuple[str, float]]] = {}
        for name in guarded_names:
            found = self.checked_candidates(name)
            if found:
                choices[name] = found
                text = found[0][0]
                self.put(self.fields[name], text[:-1], True)
                self.put(self.fields[f"{name}_check"], text[-1], True)
        if self.fmt in COMPOSITE_SPANS:
            self._decode_composite(choices)

    def _decode_composite(self, choices: dict[str, list[tuple[str, float]]]) -> None:
        """Jointly choose alternatives so the composite check digit agrees."""
        free = [f for f in ("optional_data", "optional_data_2") if f in self.fields and f not in choices]
        slots: list[tuple[str, list[tuple[str, float]]]] = [(n, c[:3]) for n, c in choices.items()]
        slots += [(n, _k_best(self.options(self.fields[n]), 3)) for n in free]
        composite = self.fields["composite_check"]
        row = self.probs[composite.line, composite.start]
        digit_logp = {ALPHABET[i]: float(np.log(p)) for i, p in enumerate(row)}
        best, best_score = None, -np.inf
        for combo in itertools.product(*(options for _, options in slots)):
            for (name, _), (text, _) in zip(slots, combo, strict=True):
                field = self.fields[name]
                self.lines[field.line][field.start : field.end] = list(text[: field.end - field.start])
                if name in choices:
                    check = self.fields[f"{name}_check"]
                    self.lines[check.line][check.start] = text[-1]
            spans = "".join("".join(self.lines[ln][a:b]) for ln, a, b in COMPOSITE_SPANS[self.fmt])
            digit = check_digit(spans)
            score = sum(logp for _, logp in combo) + digit_logp[digit]
            if score > best_score:
                best, best_score = (combo, digit), score
        assert best is not None  # product over non-empty option lists
        combo, digit = best
        for (name, _), (text, _) in zip(slots, combo, strict=True):
            self.put(self.fields[name], text[: self.fields[name].end - self.fields[name].start], True)
            if name in choices:
                self.put(self.fields[f"{name}_check"], text[-1], True)
        self.put(composite, digit, True)

    def repair_names(self) -> None:
        field = self.fields["name"]
        text = "".join(self.lines[field.line][field.start : field.end])
        run = text.find("<<<")
        if run >= 0:
            self.put(field, text[:run], False)
            tail = self.fields["name"].start + run
            self.lines[field.line][tail : field.end] = ["<"] * (field.end - tail)
            # what follows the run is fixed by the grammar, but only if the run is real: letters misread as
            # "<<<" would blank the rest of the name, so the run itself needs the classifier's word
            self.guarded[field.line, tail + 3 : field.end] = True

    def result(self) -> Decoded:
        lines = tuple("".join(row) for row in self.lines)
        idx = np.array([[ALPHABET.index(c) for c in line] for line in lines])
        chosen = np.take_along_axis(self.probs, idx[..., None], axis=2)[..., 0]
        # a check digit cannot tell apart characters of equal value modulo 10 (< 0 A K U, 1 B L V, ...)
        same_class = CHECK_RESIDUE[idx][..., None] == CHECK_RESIDUE[None, None, :]
        share = chosen / (self.probs * same_class).sum(axis=2)
        guarded = self.guarded.copy()
        for name in _CODE_FIELDS:
            field = self.fields.get(name)
            if field is not None and is_known_code(lines[field.line][field.start : field.end]):
                share[field.line, field.start : field.end] = self._code_share(field, idx)
                guarded[field.line, field.start : field.end] = True
        return Decoded(lines, chosen, share, guarded, float(chosen.min()))

    def _code_share(self, field: MrzField, idx: np.ndarray) -> float:
        """Probability of the chosen (listed) code among all codes of the ICAO list."""
        row = self.probs[field.line, field.start : field.end]  # (3, C)
        listed = row[np.arange(3), _KNOWN_CODE_INDICES].prod(axis=1)
        chosen = row[np.arange(3), idx[field.line, field.start : field.end]].prod()
        return float(chosen / listed.sum())


def plausible_mask(probabilities: np.ndarray) -> np.ndarray:
    """(..., C) bool: the plausible readings of each position (the first choice always among them)."""
    top = probabilities.argmax(axis=-1)
    ratio = np.where(_CONFUSABLE[top], PLAUSIBLE_RATIO, RIVAL_RATIO)
    return probabilities >= ratio * probabilities.max(axis=-1, keepdims=True)


def _plausible(row: np.ndarray) -> list[int]:
    """Class indices of a position's plausible readings, the first choice first."""
    mask = plausible_mask(row)
    return [int(i) for i in np.argsort(row)[::-1] if mask[i]]


def _agrees(fmt: str, name: str, value: str, digit: str) -> bool:
    """``value`` is well formed and the check digit of ``name`` confirms it (filler digits where the
    standard allows them)."""
    if name == "document_number" and "<" in value.rstrip("<"):
        return False  # fillers only pad a document number at its end
    if name == "date_of_birth" and any("<" in value[a : a + 2] and value[a : a + 2] != "<<" for a in (2, 4)):
        return False  # an unknown month or day is "<<", never half a filler
    if digit == check_digit(value):
        return True
    if digit != "<":
        return False
    if name == "optional_data":
        return set(value) == {"<"}
    return name == "document_number" and fmt in ("TD1", "TD2") and not value.endswith("<")


def _readings(probs: np.ndarray, positions: list[tuple[int, int]]) -> list[tuple[int, ...]] | None:
    """Every combination of plausible class indices over ``positions``; None when there are too many."""
    options = [_plausible(probs[line, i]) for line, i in positions]
    if np.prod([len(o) for o in options], dtype=float) > _MAX_READINGS:
        return None
    return list(itertools.product(*options))


def _composite_weights(fmt: str) -> dict[tuple[int, int], int]:
    """The composite check digit's weight of each (line, position) it covers."""
    positions = [(line, i) for line, a, b in COMPOSITE_SPANS.get(fmt, ()) for i in range(a, b)]
    return {pos: _WEIGHTS[k % 3] for k, pos in enumerate(positions)}


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of residue sums modulo 10."""
    return np.array([sum(int(a[x]) * int(b[(r - x) % 10]) for x in range(10)) for r in range(10)])


def ambiguous_fields(probabilities: np.ndarray, lines: tuple[str, ...], fmt: str) -> tuple[str, ...]:
    """Fields of the decoded ``lines`` that the check digits do not settle. ``probabilities``: masked.

    A field is ambiguous when the chosen reading differs from the classifier's first choice at any of its
    positions (it won only through the check digit), or when more than one combination of plausible
    characters (``PLAUSIBLE_RATIO``) passes every check digit: the 7-3-1 weights cannot tell ``O`` from
    ``0`` at two positions whose weights sum to 10, and a wrong document number would then verify. Optional
    data no check digit covers (visas) is ambiguous as soon as one of its positions has a plausible
    alternative."""
    fields = {f.name: f for f in FIELD_LAYOUTS[fmt]}
    weights = _composite_weights(fmt)
    chosen = [[ALPHABET.index(c) for c in line] for line in lines]
    ambiguous: list[str] = []
    # a digit as the document code's second character is a national quirk: it must not be a guess (C1 / CI)
    code_readings = _plausible(probabilities[0, 1])
    if len({ALPHABET[j].isdigit() for j in code_readings}) > 1:
        ambiguous.append("document_code")
    tables: dict[str, np.ndarray] = {}  # readings passing the field's own digit, by composite residue
    for name in (*_CHECKED_FIELDS, "optional_data_2"):
        field, check = fields.get(name), fields.get(f"{name}_check")
        if field is None:
            continue
        positions = [(field.line, i) for i in range(field.start, field.end)]
        positions += [(check.line, check.start)] if check else []
        top = [int(probabilities[line, i].argmax()) for line, i in positions]
        readings = _readings(probabilities, positions)
        if top != [chosen[line][i] for line, i in positions] or readings is None:
            ambiguous.append(name)
            continue
        table = np.zeros(10, np.int64)
        for reading in readings:
            text = "".join(ALPHABET[j] for j in reading)
            if check is None or _agrees(fmt, name, text[:-1], text[-1]):
                residue = sum(
                    CHECK_RESIDUE[j] * weights.get(p, 0) for j, p in zip(reading, positions, strict=True)
                )
                table[residue % 10] += 1
        if weights and positions[0] in weights:
            tables[name] = table
        elif table.sum() > 1:
            ambiguous.append(name)
    composite = fields.get("composite_check")
    if composite is None or ambiguous:
        return tuple(ambiguous)
    line, i = composite.line, composite.start
    if int(probabilities[line, i].argmax()) != chosen[line][i]:
        return ("composite",)
    joint = np.zeros(10, np.int64)
    joint[0] = 1
    for table in tables.values():
        joint = _convolve(joint, table)
    digits = [int(ALPHABET[j]) for j in _plausible(probabilities[line, i]) if ALPHABET[j] != "<"]
    if sum(int(joint[d]) for d in digits) > 1:
        return tuple(name for name, table in tables.items() if table.sum() > 1) or ("composite",)
    return ()


def decode(probabilities: np.ndarray, fmt: str, cells: np.ndarray | None = None) -> Decoded:
    """Decode (lines, n, len(ALPHABET)) probabilities as an MRZ of format ``fmt``; with the (lines, n, H, W)
    ``cells``, confusable characters are first settled by the page's own glyphs where they can be."""
    masked = _mask(probabilities, fmt)
    if cells is None:
        return _decode(masked, fmt)
    plausible = plausible_mask(masked)
    decoded = _decode(settle_confusables(masked, plausible, cells, fmt), fmt)
    if decoded.ambiguous:
        # only then, and only there, the page's zeros alone: where the classifier and the check digits
        # already agree on an O, a face whose O is as narrow as its zero (not OCR-B) must not make it a zero
        fields = _alnum_fields(fmt) if "composite" in decoded.ambiguous else decoded.ambiguous
        retry = _decode(settle_confusables(masked, plausible, cells, fmt, zeros_in=fields), fmt)
        if not retry.ambiguous:
            return retry
    return decoded


def _alnum_fields(fmt: str) -> tuple[str, ...]:
    return tuple(f.name for f in FIELD_LAYOUTS[fmt] if f.kind == "alnum")


def _decode(masked: np.ndarray, fmt: str) -> Decoded:
    decoder = _Decoder(masked, fmt)
    decoder.repair_names()
    decoder.decode_checked()
    decoded = decoder.result()
    return dataclasses.replace(decoded, ambiguous=ambiguous_fields(decoder.probs, decoded.lines, fmt))

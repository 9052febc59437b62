"""Turn per-cell class probabilities into MRZ lines using the position grammar and the check digits.

1. Each position is restricted to the characters its field kind allows (``FIELD_LAYOUTS``).
2. Each field guarded by a check digit takes the most probable (field, digit) pair that agrees, from a
   k-best list over its positions; the composite check digit then picks among the fields' best agreeing
   alternatives (and the optional data it covers) jointly.
3. Name fields get filler repair: a ``<<<`` run never occurs inside a name, so letters after one are
   fillers misread (``<`` read as ``K``...); the run's own three characters stay unguarded.
4. Sex admits only ``M F X <``; a state code read as a code of the ICAO list is guarded by that list: its
   share is its probability among all listed codes (spellings that are no code are ruled out anyway).
5. ``Decoded.confidence`` is the lowest probability of any chosen character; the reader fails a read whose
   unguarded characters (names) or guarded characters fall below their thresholds instead of guessing.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

import numpy as np

from kiosk.documents.icao_codes import KNOWN_CODES, is_known_code
from kiosk.documents.mrz import check_digit
from kiosk.documents.mrz_layouts import COMPOSITE_SPANS, FIELD_LAYOUTS, MrzField
from kiosk.documents.ocr.classify import ALPHABET

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
_CODE_FIELDS = ("issuing_state", "nationality")
_KNOWN_CODE_INDICES = np.array(
    [[ALPHABET.index(c) for c in code.ljust(3, "<")] for code in sorted(KNOWN_CODES) if len(code) in (1, 3)]
)
_ALTERNATIVES = 4  # per position, for the k-best search
_K_BEST = 40
_FLOOR = 1e-9
_RESIDUE = np.array([0 if c == "<" else int(c, 36) % 10 for c in ALPHABET])  # check-digit value mod 10


@dataclass(frozen=True)
class Decoded:
    lines: tuple[str, ...]
    chosen_probability: np.ndarray  # (lines, n) probability of each chosen character
    class_share: np.ndarray  # (lines, n) its share among alternatives its guard cannot tell from it
    guarded: np.ndarray  # (lines, n) bool: covered by a check digit that agreed, or by the code list
    confidence: float  # lowest chosen probability


def _mask(probabilities: np.ndarray, fmt: str) -> np.ndarray:
    """Zero the characters a position's field kind forbids, renormalise. probabilities: (lines, n, C)."""
    masked = probabilities.copy()
    for field in FIELD_LAYOUTS[fmt]:
        allowed = np.zeros(len(ALPHABET), bool)
        chars = _FIELD_ALLOWED.get(field.name, _ALLOWED[field.kind])
        allowed[[ALPHABET.index(c) for c in chars]] = True
        masked[field.line, field.start : field.end, ~allowed] = 0
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
            value, digit = text[:-1], text[-1]
            if name == "document_number" and "<" in value.rstrip("<"):
                continue  # fillers only pad a document number at its end
            agrees = digit == check_digit(value) or (digit == "<" and self._filler_check_allowed(name, value))
            if agrees:
                found.append((text, logp))
                if len(found) == limit:
                    break
        return found

    def _filler_check_allowed(self, name: str, value: str) -> bool:
        if name == "optional_data":
            return set(value) == {"<"}
        # TD1/TD2 long document number: the check digit moves into the optional data (composite covers it)
        return name == "document_number" and self.fmt in ("TD1", "TD2") and not value.endswith("<")

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
        same_class = _RESIDUE[idx][..., None] == _RESIDUE[None, None, :]
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


def decode(probabilities: np.ndarray, fmt: str) -> Decoded:
    """Decode (lines, n, len(ALPHABET)) probabilities as an MRZ of format ``fmt``."""
    decoder = _Decoder(_mask(probabilities, fmt), fmt)
    decoder.repair_names()
    decoder.decode_checked()
    return decoder.result()

"""The MRZ name field: ``PRIMARY<<SECONDARY<NAMES<<<`` to (surname, given names) and back.

``<<`` separates the primary identifier (surname) from the secondary identifier (given names); a single ``<``
inside either is a space. A name that fills the field to its last position has been truncated by the issuer
(Doc 9303: the last character is then a letter, never a filler).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Doc 9303 Part 3 transliterations of Latin letters that do not reduce to one base letter by dropping the
# diacritic (the others, e.g. É -> E, are handled by Unicode decomposition).
_LATIN_TRANSLITERATIONS = {
    "Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Ü": "UE", "ẞ": "SS", "Þ": "TH", "Ĳ": "IJ",
    "Œ": "OE", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ŧ": "T", "Ŋ": "N", "ĸ": "K",
}  # fmt: skip


@dataclass(frozen=True)
class MrzName:
    surname: str
    given_names: str
    truncated: bool
    problem: str  # empty when the field is well formed


def parse_name(field: str) -> MrzName:
    """Split a name field into primary and secondary identifiers; ``problem`` names what is malformed."""
    truncated = len(field) > 0 and field[-1] != "<"
    body = field.rstrip("<")
    primary, _, secondary = body.partition("<<")
    surname = " ".join(part for part in primary.split("<") if part)
    given_names = " ".join(part for part in secondary.split("<") if part)
    problem = ""
    if not body:
        problem = "name field is empty"
    elif any(ch not in _LETTERS and ch != "<" for ch in body):
        problem = "name holds characters other than A-Z and <"
    elif body.startswith("<"):
        problem = "primary identifier (surname) missing"
    return MrzName(surname, given_names, truncated, problem)


def to_mrz_letters(text: str) -> str:
    """A name part in MRZ characters: upper case, Latin letters transliterated per Doc 9303 Part 3 (Ä -> AE,
    ß -> SS, É -> E...), space and hyphen as ``<``, apostrophes and full stops removed. Raises ValueError for
    other scripts (Cyrillic, Greek, Arabic... need the issuing state's own transliteration)."""
    latin = "".join(_LATIN_TRANSLITERATIONS.get(ch, ch) for ch in text.upper())  # upper(): ß -> SS
    decomposed = unicodedata.normalize("NFKD", latin)
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch) or ch in "'.,\u2019":
            continue
        if ch in " -":
            out.append("<")
        elif ch in _LETTERS:
            out.append(ch)
        else:
            raise ValueError(f"name character {ch!r} needs transliteration to A-Z")
    return "".join(out)


def compose_name(surname: str, given_names: str, width: int) -> str:
    """The name field of ``width`` characters; a name too long is cut at the field end (a truncation)."""
    primary = to_mrz_letters(surname.strip())
    secondary = to_mrz_letters(given_names.strip())
    if not primary:
        raise ValueError("surname (primary identifier) is required")
    text = f"{primary}<<{secondary}" if secondary else primary
    return text[:width].ljust(width, "<")

"""Where each field sits in the five ICAO Doc 9303 MRZ formats (Parts 4-7), as data.

``FIELD_LAYOUTS[format]`` lists the fields of a format in reading order; positions are 0-based, ``end``
exclusive. ``kind`` tells an OCR which characters to expect (the filler ``<`` is possible in every kind):

- ``alpha``: letters (document code, state codes, sex);
- ``numeric``: digits (dates; ``<`` only for an unknown day / month of birth);
- ``alnum``: letters and digits (document number, optional data);
- ``check``: one check digit (``<`` only where the standard or a national quirk allows it);
- ``filler_text``: letters with ``<`` as space and separator (the name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MrzFormat = Literal["TD1", "TD2", "TD3", "MRVA", "MRVB"]
FieldKind = Literal["alpha", "numeric", "alnum", "check", "filler_text"]

#: (number of lines, characters per line) of each format.
FORMAT_SHAPES: dict[str, tuple[int, int]] = {
    "TD1": (3, 30),
    "TD2": (2, 36),
    "TD3": (2, 44),
    "MRVA": (2, 44),
    "MRVB": (2, 36),
}


@dataclass(frozen=True)
class MrzField:
    name: str
    line: int
    start: int
    end: int
    kind: FieldKind

    def take(self, lines: tuple[str, ...]) -> str:
        """The field's characters in the given MRZ lines."""
        return lines[self.line][self.start : self.end]


def _f(name: str, line: int, start: int, end: int, kind: FieldKind) -> MrzField:
    return MrzField(name, line, start, end, kind)


def _two_line_header(name_end: int) -> tuple[MrzField, ...]:
    return (
        _f("document_code", 0, 0, 2, "alpha"),
        _f("issuing_state", 0, 2, 5, "alpha"),
        _f("name", 0, 5, name_end, "filler_text"),
    )


def _two_line_body() -> tuple[MrzField, ...]:
    """Line 2 positions 0-27, shared by TD2, TD3, MRV-A and MRV-B."""
    return (
        _f("document_number", 1, 0, 9, "alnum"),
        _f("document_number_check", 1, 9, 10, "check"),
        _f("nationality", 1, 10, 13, "alpha"),
        _f("date_of_birth", 1, 13, 19, "numeric"),
        _f("date_of_birth_check", 1, 19, 20, "check"),
        _f("sex", 1, 20, 21, "alpha"),
        _f("expiry_date", 1, 21, 27, "numeric"),
        _f("expiry_date_check", 1, 27, 28, "check"),
    )


FIELD_LAYOUTS: dict[str, tuple[MrzField, ...]] = {
    "TD1": (
        _f("document_code", 0, 0, 2, "alpha"),
        _f("issuing_state", 0, 2, 5, "alpha"),
        _f("document_number", 0, 5, 14, "alnum"),
        _f("document_number_check", 0, 14, 15, "check"),
        _f("optional_data", 0, 15, 30, "alnum"),
        _f("date_of_birth", 1, 0, 6, "numeric"),
        _f("date_of_birth_check", 1, 6, 7, "check"),
        _f("sex", 1, 7, 8, "alpha"),
        _f("expiry_date", 1, 8, 14, "numeric"),
        _f("expiry_date_check", 1, 14, 15, "check"),
        _f("nationality", 1, 15, 18, "alpha"),
        _f("optional_data_2", 1, 18, 29, "alnum"),
        _f("composite_check", 1, 29, 30, "check"),
        _f("name", 2, 0, 30, "filler_text"),
    ),
    "TD2": (
        *_two_line_header(36),
        *_two_line_body(),
        _f("optional_data", 1, 28, 35, "alnum"),
        _f("composite_check", 1, 35, 36, "check"),
    ),
    "TD3": (
        *_two_line_header(44),
        *_two_line_body(),
        _f("optional_data", 1, 28, 42, "alnum"),
        _f("optional_data_check", 1, 42, 43, "check"),
        _f("composite_check", 1, 43, 44, "check"),
    ),
    "MRVA": (*_two_line_header(44), *_two_line_body(), _f("optional_data", 1, 28, 44, "alnum")),
    "MRVB": (*_two_line_header(36), *_two_line_body(), _f("optional_data", 1, 28, 36, "alnum")),
}

#: The (line, start, end) spans the composite check digit covers, per format (visas have none).
COMPOSITE_SPANS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "TD1": ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)),
    "TD2": ((1, 0, 10), (1, 13, 20), (1, 21, 35)),
    "TD3": ((1, 0, 10), (1, 13, 20), (1, 21, 43)),
}


def field_map(fmt: str) -> dict[str, MrzField]:
    """The fields of a format by name."""
    return {field.name: field for field in FIELD_LAYOUTS[fmt]}

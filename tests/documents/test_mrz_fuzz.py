"""Hypothesis fuzzing of the MRZ parser: never an exception, and every detectable single-character change in a
check-digit-protected field is detected."""

from __future__ import annotations

import datetime as dt

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kiosk.documents.icao_codes import KNOWN_CODES
from kiosk.documents.mrz import MRZ_CHARACTERS, MrzRecord, compose_mrz, parse_mrz
from kiosk.documents.mrz_layouts import COMPOSITE_SPANS, FIELD_LAYOUTS, FORMAT_SHAPES, field_map

TODAY = dt.date(2026, 1, 15)
ALPHABET = "".join(sorted(MRZ_CHARACTERS))
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = LETTERS + "0123456789"
NOISE = "abcxyzÄÖÜßЖжΩ\u0661\u0662 -/\t.'\uff210<"  # lower case, Latin-1, Cyrillic, Arabic digits, fullwidth
FORMATS = list(FIELD_LAYOUTS)


def _value(ch: str) -> int:
    return 0 if ch == "<" else int(ch, 36)


@st.composite
def mrz_lines(draw: st.DrawFn) -> str:
    """Right-shaped lines of MRZ characters mixed with noise: reaches every field parser."""
    count, width = FORMAT_SHAPES[draw(st.sampled_from(FORMATS))]
    chars = st.sampled_from(ALPHABET + NOISE[: draw(st.integers(0, len(NOISE)))])
    return "\n".join(draw(st.text(chars, min_size=width, max_size=width)) for _ in range(count))


@st.composite
def valid_mrz(draw: st.DrawFn) -> tuple[str, str]:
    fmt = draw(st.sampled_from(FORMATS))
    code = {"TD3": "P", "MRVA": "V", "MRVB": "V"}.get(fmt) or draw(
        st.sampled_from(["I", "ID", "A", "C", "IR"])
    )
    birth = draw(st.dates(dt.date(1927, 1, 16), TODAY))
    expiry = draw(st.dates(max(birth + dt.timedelta(days=1), dt.date(1947, 1, 1)), dt.date(2045, 12, 31)))
    long_number = fmt in ("TD1", "TD2") and draw(st.booleans())
    number = draw(st.text(ALNUM, min_size=10, max_size=11 if fmt == "TD2" else 13) if long_number
                  else st.text(ALNUM, min_size=1, max_size=9))  # fmt: skip
    room = {"TD1": 15, "TD2": 7, "TD3": 14, "MRVA": 16, "MRVB": 8}[fmt] - (
        len(number) - 7 if long_number else 0
    )
    optional = draw(st.text(ALNUM + "<", max_size=max(room, 0)).map(lambda s: s.strip("<")))
    text = compose_mrz(
        fmt,
        document_code=code,
        issuing_state=draw(st.sampled_from(sorted(KNOWN_CODES))),
        surname=draw(st.text(LETTERS, min_size=1, max_size=20)),
        given_names=draw(st.text(LETTERS + " ", max_size=25)),
        document_number=number,
        nationality=draw(st.sampled_from(sorted(KNOWN_CODES))),
        date_of_birth=birth,
        sex=draw(st.sampled_from("MFX<")),
        expiry_date=expiry,
        optional_data=optional,
        optional_data_2=draw(st.text(ALNUM, max_size=11)) if fmt == "TD1" else "",
    )
    return fmt, text


def _protected_positions(fmt: str) -> list[tuple[int, int, str]]:
    """(line, position, kind) of every character a check digit protects."""
    names = {"document_number", "document_number_check", "date_of_birth", "date_of_birth_check",
             "expiry_date", "expiry_date_check", "optional_data_check", "composite_check"}  # fmt: skip
    positions = [
        (f.line, pos, f.kind) for f in FIELD_LAYOUTS[fmt] if f.name in names for pos in range(f.start, f.end)
    ]
    for line, start, end in COMPOSITE_SPANS.get(fmt, ()):  # e.g. optional data, under the composite digit
        positions += [(line, pos, "alnum") for pos in range(start, end) if (line, pos) not in
                      {(p[0], p[1]) for p in positions}]  # fmt: skip
    return positions


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises(text: str) -> None:
    record = parse_mrz(text, today=TODAY)
    assert isinstance(record, MrzRecord)
    assert record.valid == all(check.passed for check in record.checks)
    record.as_dict()


@settings(max_examples=400, deadline=None)
@given(mrz_lines())
def test_right_shaped_noise_never_raises(text: str) -> None:
    record = parse_mrz(text, today=TODAY)
    if all(line == line.strip() for line in text.split("\n")):
        assert record.format is not None
    if any(ch not in MRZ_CHARACTERS for ch in text.replace("\n", "")):
        assert not record.valid
    record.as_dict()


@settings(max_examples=300, deadline=None)
@given(valid_mrz())
def test_composed_mrz_is_valid_and_round_trips(case: tuple[str, str]) -> None:
    fmt, text = case
    record = parse_mrz(text, today=TODAY)
    assert record.format == fmt
    assert record.valid, record.failed_checks()
    assert parse_mrz("\n".join(record.lines), today=TODAY) == record
    # Every character fits the kind FIELD_LAYOUTS announces (the grammar the OCR relies on).
    allowed = {"alpha": LETTERS, "numeric": "0123456789", "alnum": ALNUM, "check": "0123456789",
               "filler_text": LETTERS}  # fmt: skip
    for f in FIELD_LAYOUTS[fmt]:
        assert all(ch in allowed[f.kind] + "<" for ch in f.take(record.lines)), f


@settings(max_examples=500, deadline=None)
@given(valid_mrz(), st.data())
def test_single_character_change_in_protected_field_is_detected(
    case: tuple[str, str], data: st.DataObject
) -> None:
    fmt, text = case
    lines = text.split("\n")
    line, pos, kind = data.draw(st.sampled_from(_protected_positions(fmt)))
    old = lines[line][pos]
    new = data.draw(st.sampled_from(ALPHABET + NOISE))
    assume(new != old)
    number_check = field_map(fmt)["document_number_check"]
    if fmt in ("TD1", "TD2") and (line, pos) == (number_check.line, number_check.start) and new == "<":
        # '<' there announces a long document number continued in the optional data: a 0 -> '<' change can
        # then be read as a (valid) continuation, the same modulo-10 blind spot as in the alphanumeric fields.
        kind = "alnum"
    if kind == "alnum" and new in MRZ_CHARACTERS:
        # The 7-3-1 scheme sums values modulo 10: a change by a multiple of 10 is invisible by design.
        assume((_value(new) - _value(old)) % 10 != 0)
    personal = field_map(fmt).get("optional_data_check")
    if fmt == "TD3" and personal is not None and (line, pos) == (personal.line, personal.start):
        # ICAO 9303: the check digit of an empty personal number is '<' or '0', both valid
        empty = set(field_map(fmt)["optional_data"].take(tuple(lines))) == {"<"}
        assume(not (empty and {old, new} == {"<", "0"}))
    lines[line] = lines[line][:pos] + new + lines[line][pos + 1 :]
    mutated = parse_mrz("\n".join(lines), today=TODAY)
    assert not mutated.valid, (fmt, line, pos, old, new)


@settings(max_examples=300, deadline=None)
@given(valid_mrz(), st.integers(0, 2), st.integers(0, 50), st.text(ALPHABET + NOISE, max_size=3))
def test_random_edits_of_valid_mrz_never_raise(case: tuple[str, str], line: int, pos: int, ins: str) -> None:
    lines = case[1].split("\n")
    line %= len(lines)
    lines[line] = lines[line][:pos] + ins + lines[line][pos + len(ins) // 2 :]
    parse_mrz("\n".join(lines), today=TODAY).as_dict()

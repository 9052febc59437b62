"""Machine readable zone parsing and validation per ICAO Doc 9303 (Parts 3-7): TD1, TD2, TD3, MRV-A, MRV-B.

``parse_mrz(text)`` never raises: whatever the text, it returns an ``MrzRecord`` with every field it could
locate and a tuple of named checks (``mrz.format``, ``mrz.charset``, ``mrz.document_number.check_digit``,
...); ``record.valid`` is true only when all pass. Input rules:

- lines are separated by newlines; surrounding whitespace and blank lines are ignored;
- characters are *not* upper-cased or transliterated: a lower-case letter, a space inside a line or any
  character outside ``A-Z 0-9 <`` fails ``mrz.charset`` (a printed MRZ never has them, so they reveal an OCR
  error or a forgery, and silently fixing them would hide that); the fields are still parsed.

National quirks handled: Germany's one-letter code ``D<<``; a digit as the document code's second character
(the US permanent-resident card's ``C1``, noted in the check's detail); the TD3 personal-number check digit
printed as ``<`` when the personal number is empty; TD1/TD2 document numbers longer than nine characters,
continued in the optional data with ``<`` in the check-digit position; ``X`` as sex; unknown day / month of
birth (``<<``); no nationality (``<<<``, Macau resident cards: the policy refers the traveller,
``NATIONALITY_UNKNOWN``).
Dates: see ``kiosk.documents.mrz_dates`` for the two-digit-year rule. The ``mrz.*`` checks cover the MRZ
itself; whether the document has expired is the reader's ``doc.not_expired`` (``kiosk.documents.reading``).

Limitation of the standard: the 7-3-1 check digit adds character values modulo 10, so replacing a character
by one whose value differs by a multiple of 10 (``0``/``A``/``K``/``U``/``<``, ``1``/``B``/``L``/``V``, ...)
in an alphanumeric field is undetectable by any MRZ reader; digit-only fields (dates) are fully protected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kiosk.documents.checks import Check
from kiosk.documents.icao_codes import is_known_code, normalise_code
from kiosk.documents.mrz_dates import MrzDate, format_mrz_date, parse_birth_date, parse_expiry_date
from kiosk.documents.mrz_layouts import COMPOSITE_SPANS, FIELD_LAYOUTS, FORMAT_SHAPES, MrzField, field_map
from kiosk.documents.mrz_names import compose_name, parse_name

__all__ = ["FIELD_LAYOUTS", "MrzField", "MrzRecord", "check_digit", "compose_mrz", "parse_mrz"]

#: Longer input is refused outright (a TD1 MRZ is 92 characters; this leaves room for whitespace).
MAX_TEXT_LENGTH = 1024
MRZ_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
_WEIGHTS = (7, 3, 1)
_SEXES = frozenset("MFX<")
_DOCUMENT_TYPES = {
    "P": "passport",
    "V": "visa",
    "I": "identity_card",
    "A": "travel_document",
    "C": "travel_document",
}
_FIRST_LETTERS = {"TD1": "ACI", "TD2": "ACI", "TD3": "P", "MRVA": "V", "MRVB": "V"}


def _char_value(ch: str) -> int | None:
    if "0" <= ch <= "9":
        return ord(ch) - ord("0")
    if "A" <= ch <= "Z":
        return ord(ch) - ord("A") + 10
    if ch == "<":
        return 0
    return None


def _checksum(field: str) -> str | None:
    total = 0
    for i, ch in enumerate(field):
        value = _char_value(ch)
        if value is None:
            return None
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


def check_digit(field: str) -> str:
    """The Doc 9303 check digit of ``field``: values 0-9, A-Z = 10-35, ``<`` = 0, weights 7-3-1, modulo 10.

    Raises ValueError for a character outside ``A-Z 0-9 <``."""
    digit = _checksum(field)
    if digit is None:
        raise ValueError("MRZ check digit: field holds a character outside A-Z 0-9 <")
    return digit


@dataclass(frozen=True)
class MrzRecord:
    """Every field of an MRZ, as printed (fillers removed), and the named checks run on it.

    ``sex`` is the MRZ character (``M``, ``F``, ``X`` or ``<`` for unspecified); dates are ``None`` when
    unknown or invalid (their six raw characters are kept in ``date_of_birth_raw`` / ``expiry_date_raw``);
    ``format`` is ``None`` when the text matches no MRZ format."""

    format: str | None
    document_code: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    date_of_birth: dt.date | None
    sex: str
    expiry_date: dt.date | None
    optional_data: str
    optional_data_2: str
    lines: tuple[str, ...]
    checks: tuple[Check, ...]
    date_of_birth_raw: str = ""
    expiry_date_raw: str = ""
    name_truncated: bool = False

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def document_type(self) -> str:
        """``passport``, ``visa``, ``identity_card``, ``travel_document`` or ``unknown``."""
        return _DOCUMENT_TYPES.get(self.document_code[:1], "unknown")

    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO dates, ``checks`` as {name: passed}, ``check_details`` as {name: detail}."""
        return {
            "valid": self.valid,
            "format": self.format,
            "document_code": self.document_code,
            "document_type": self.document_type,
            "issuing_state": self.issuing_state,
            "surname": self.surname,
            "given_names": self.given_names,
            "name_truncated": self.name_truncated,
            "document_number": self.document_number,
            "nationality": self.nationality,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "date_of_birth_raw": self.date_of_birth_raw,
            "sex": self.sex,
            "expiry_date": self.expiry_date.isoformat() if self.expiry_date else None,
            "expiry_date_raw": self.expiry_date_raw,
            "optional_data": self.optional_data,
            "optional_data_2": self.optional_data_2,
            "checks": {check.name: check.passed for check in self.checks},
            "check_details": {check.name: check.detail for check in self.checks if check.detail},
        }


def _split_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _detect_format(lines: tuple[str, ...]) -> str | None:
    shape = (len(lines), len(lines[0])) if lines and len({len(line) for line in lines}) == 1 else None
    if shape == FORMAT_SHAPES["TD1"]:
        return "TD1"
    if shape == FORMAT_SHAPES["TD2"]:
        return "MRVB" if lines[0].startswith("V") else "TD2"
    if shape == FORMAT_SHAPES["TD3"]:
        return "MRVA" if lines[0].startswith("V") else "TD3"
    return None


def _charset_check(lines: Iterable[str]) -> Check:
    problems: dict[str, list[str]] = {}
    for row, line in enumerate(lines, start=1):
        for col, ch in enumerate(line, start=1):
            if ch in MRZ_CHARACTERS:
                continue
            if "a" <= ch <= "z":
                kind = "lower-case letter"
            elif ch.isspace():
                kind = "white space"
            elif ch.isascii():
                kind = "character outside A-Z 0-9 <"
            else:
                kind = "non-Latin or non-ASCII character"
            problems.setdefault(kind, []).append(f"{row}:{col}")
    if not problems:
        return Check("mrz.charset", True)
    detail = "; ".join(
        f"{len(where)} {kind}(s) at {', '.join(where[:5])}{', ...' if len(where) > 5 else ''}"
        for kind, where in problems.items()
    )
    return Check("mrz.charset", False, detail)


def _check_digit_check(name: str, field: str, given: str, *, allow_filler_if_empty: bool = False) -> Check:
    if allow_filler_if_empty and given == "<" and set(field) <= {"<"}:
        return Check(name, True, "empty field, filler check digit")
    expected = _checksum(field)
    if expected is None:
        return Check(name, False, "field holds characters outside A-Z 0-9 <")
    if given != expected:
        return Check(name, False, "check digit does not match")
    return Check(name, True)


@dataclass(frozen=True)
class _DocumentNumber:
    number: str
    check: str
    optional_data: str
    extended: bool


def _document_number(fmt: str, lines: tuple[str, ...]) -> _DocumentNumber:
    """The document number with its check digit, following a TD1/TD2 long-number continuation."""
    fields = field_map(fmt)
    number = fields["document_number"].take(lines)
    check = fields["document_number_check"].take(lines)
    optional = fields["optional_data"].take(lines)
    if fmt in ("TD1", "TD2") and check == "<" and not number.endswith("<"):
        # Doc 9303 Parts 5/6: the number continues in the optional data, ending with its check digit.
        continuation = optional.split("<", 1)[0]
        if len(continuation) >= 2:
            rest = optional[len(continuation) :]
            return _DocumentNumber(number + continuation[:-1], continuation[-1], rest, True)
    return _DocumentNumber(number.rstrip("<"), check, optional, False)


def _composite_check(fmt: str, lines: tuple[str, ...]) -> Check:
    spans = COMPOSITE_SPANS[fmt]
    text = "".join(lines[line][start:end] for line, start, end in spans)
    given = field_map(fmt)["composite_check"].take(lines)
    return _check_digit_check("mrz.composite.check_digit", text, given)


def _date_check(name: str, date: MrzDate) -> Check:
    if date.problem:
        return Check(name, False, date.problem)
    return Check(name, True, "partly unknown (fillers)" if date.partial else "")


def _dates_consistent(birth: MrzDate, expiry: MrzDate) -> Check:
    name = "mrz.dates.consistent"
    if expiry.value is None or birth.earliest is None:
        return Check(name, True, "not comparable: a date is unknown or invalid")
    if expiry.value <= birth.earliest:
        return Check(name, False, "expiry date is not after the date of birth")
    return Check(name, True)


def _code_check(name: str, field: str, extra_codes: frozenset[str]) -> Check:
    if is_known_code(field) or normalise_code(field) in extra_codes:
        return Check(name, True)
    if set(field) == {"<"}:
        if name == "mrz.nationality.known_code":  # Macau resident cards print none; the gate refers them
            return Check(name, True, "national quirk: no nationality stated (NATIONALITY_UNKNOWN)")
        return Check(name, False, "empty: the issuer states no code")
    return Check(name, False, "not a code of the ICAO Doc 9303 list")


def _document_code_check(fmt: str, code: str) -> Check:
    name = "mrz.document_code.valid"
    if len(code) != 2 or code[0] not in _FIRST_LETTERS[fmt]:
        allowed = " or ".join(_FIRST_LETTERS[fmt])
        return Check(name, False, f"{fmt} document code must start with {allowed}")
    if not ("A" <= code[1] <= "Z" or code[1] == "<" or "0" <= code[1] <= "9"):
        return Check(name, False, "second character must be a letter, a digit or <")
    if fmt in ("TD1", "TD2") and code[1] == "V":
        return Check(name, False, "V as second character is reserved (Doc 9303 Parts 5-6)")
    if code[1].isdigit():  # national use, e.g. C1 on the US permanent-resident card
        return Check(name, True, "national quirk: digit as second character")
    return Check(name, True)


def _unparsed(lines: tuple[str, ...], checks: tuple[Check, ...]) -> MrzRecord:
    return MrzRecord(None, "", "", "", "", "", "", None, "", None, "", "", lines, checks)


def parse_mrz(text: str, *, today: dt.date | None = None, extra_codes: Iterable[str] = ()) -> MrzRecord:
    """Parse and validate an MRZ (its lines separated by newlines); never raises.

    ``today`` (default: the current UTC date) fixes the century of two-digit years. ``extra_codes`` are
    accepted as state codes on top of the ICAO list (e.g. ``UTO``, the Utopia of the Doc 9303 specimens)."""
    if not isinstance(text, str):
        return _unparsed((), (Check("mrz.format", False, "MRZ text is not a string"),))
    if len(text) > MAX_TEXT_LENGTH:
        return _unparsed((), (Check("mrz.format", False, f"text longer than {MAX_TEXT_LENGTH} characters"),))
    today = today or dt.datetime.now(dt.UTC).date()
    extra = frozenset(extra_codes)
    lines = _split_lines(text)
    fmt = _detect_format(lines)
    charset = _charset_check(lines)
    if fmt is None:
        got = ", ".join(str(len(line)) for line in lines) or "none"
        detail = f"expected 3 lines of 30, 2 of 36 or 2 of 44 characters; got {len(lines)} line(s) of {got}"
        return _unparsed(lines, (Check("mrz.format", False, detail), charset))

    fields = field_map(fmt)

    def take(name: str) -> str:
        return fields[name].take(lines)

    document_code = take("document_code")
    name = parse_name(take("name"))
    number = _document_number(fmt, lines)
    birth = parse_birth_date(take("date_of_birth"), today)
    expiry = parse_expiry_date(take("expiry_date"), today)
    sex = take("sex")
    checks = [
        Check("mrz.format", True, fmt),
        charset,
        _document_code_check(fmt, document_code),
        _code_check("mrz.issuing_state.known_code", take("issuing_state"), extra),
        Check("mrz.name.valid", not name.problem, name.problem or ("truncated" if name.truncated else "")),
        _check_digit_check("mrz.document_number.check_digit", number.number, number.check)
        if number.number
        else Check("mrz.document_number.check_digit", False, "document number is empty"),
        _code_check("mrz.nationality.known_code", take("nationality"), extra),
        _check_digit_check("mrz.date_of_birth.check_digit", birth.raw, take("date_of_birth_check")),
        _date_check("mrz.date_of_birth.valid_date", birth),
        Check("mrz.sex.valid", sex in _SEXES, "" if sex in _SEXES else "sex must be M, F, X or <"),
        _check_digit_check("mrz.expiry_date.check_digit", expiry.raw, take("expiry_date_check")),
        _date_check("mrz.expiry_date.valid_date", expiry),
        _dates_consistent(birth, expiry),
    ]
    if fmt == "TD3":
        checks.append(
            _check_digit_check(
                "mrz.optional_data.check_digit",
                take("optional_data"),
                take("optional_data_check"),
                allow_filler_if_empty=True,
            )
        )
    if fmt in COMPOSITE_SPANS:
        checks.append(_composite_check(fmt, lines))
    return MrzRecord(
        format=fmt,
        document_code=document_code.rstrip("<"),
        issuing_state=normalise_code(take("issuing_state")),
        surname=name.surname,
        given_names=name.given_names,
        document_number=number.number,
        nationality=normalise_code(take("nationality")),
        date_of_birth=birth.value,
        sex=sex,
        expiry_date=expiry.value,
        optional_data=number.optional_data.strip("<"),
        optional_data_2=take("optional_data_2").strip("<") if "optional_data_2" in fields else "",
        lines=lines,
        checks=tuple(checks),
        date_of_birth_raw=birth.raw,
        expiry_date_raw=expiry.raw,
        name_truncated=name.truncated,
    )


def _pad(value: str, width: int, what: str) -> str:
    if len(value) > width:
        raise ValueError(f"{what} is longer than {width} characters")
    if any(ch not in MRZ_CHARACTERS for ch in value):
        raise ValueError(f"{what} holds characters outside A-Z 0-9 <")
    return value.ljust(width, "<")


def _put(line: list[str], field: MrzField, value: str) -> None:
    line[field.start : field.end] = list(_pad(value, field.end - field.start, field.name))


def compose_mrz(
    fmt: str,
    *,
    document_code: str,
    issuing_state: str,
    surname: str,
    given_names: str,
    document_number: str,
    nationality: str,
    date_of_birth: dt.date | str,
    sex: str,
    expiry_date: dt.date | str,
    optional_data: str = "",
    optional_data_2: str = "",
) -> str:
    """Build a valid MRZ (lines joined by newlines) from fields, computing every check digit.

    Names are upper-cased with accents dropped (no full Doc 9303 transliteration) and cut at the field end
    when too long; dates are ``date`` objects or six MRZ characters (``"7408<<"`` for an unknown day). A TD1/
    TD2 document number longer than nine characters continues in the optional data. Raises ValueError for a
    field that cannot be encoded (unknown format, characters outside the MRZ set, field too long)."""
    if fmt not in FIELD_LAYOUTS:
        raise ValueError(f"unknown MRZ format {fmt!r}; expected one of {', '.join(FIELD_LAYOUTS)}")
    count, width = FORMAT_SHAPES[fmt]
    lines = [["<"] * width for _ in range(count)]
    fields = field_map(fmt)

    def put(name: str, value: str) -> None:
        field = fields[name]
        _put(lines[field.line], field, value)

    put("document_code", document_code)
    put("issuing_state", issuing_state)
    put("nationality", nationality)
    name_field = fields["name"]
    put("name", compose_name(surname, given_names, name_field.end - name_field.start))
    birth, expiry = format_mrz_date(date_of_birth), format_mrz_date(expiry_date)
    put("date_of_birth", birth)
    put("date_of_birth_check", check_digit(birth))
    put("sex", sex)
    put("expiry_date", expiry)
    put("expiry_date_check", check_digit(expiry))
    number_digit = check_digit(document_number)
    if len(document_number) > 9 and fmt in ("TD1", "TD2"):
        put("document_number", document_number[:9])
        put("document_number_check", "<")
        optional_data = f"{document_number[9:]}{number_digit}<{optional_data}"
    else:
        put("document_number", document_number)
        put("document_number_check", number_digit)
    put("optional_data", optional_data)
    if "optional_data_2" in fields:
        put("optional_data_2", optional_data_2)
    elif optional_data_2:
        raise ValueError(f"{fmt} has no second optional data field")
    if fmt == "TD3":
        personal = fields["optional_data"].take(tuple("".join(line) for line in lines))
        put("optional_data_check", "<" if set(personal) == {"<"} else check_digit(personal))
    if fmt in COMPOSITE_SPANS:
        text = tuple("".join(line) for line in lines)
        put("composite_check", check_digit("".join(text[ln][a:b] for ln, a, b in COMPOSITE_SPANS[fmt])))
    return "\n".join("".join(line) for line in lines)

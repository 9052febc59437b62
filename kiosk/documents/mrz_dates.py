"""MRZ dates: ``YYMMDD`` with a two-digit year, possibly partly unknown, resolved against an injectable today.

Century rule (the MRZ carries no century, so the reader has to choose one):

- date of birth: the latest century that does not put the date after today. A holder is therefore taken to be
  at most 99 years old; a centenarian's date of birth resolves 100 years too late (no MRZ reader can do
  better, the chip's DG11 full date of birth would be needed);
- expiry date: the latest century that puts the year at most ``EXPIRY_MAX_YEARS_AHEAD`` (20) years after
  today, i.e. a window from 79 years ago to 20 years ahead; travel documents are issued for at most 10-15
  years, so any date in the window is unambiguous.

Unknown parts: ICAO Doc 9303 lets a state print fillers for an unknown day (``7408<<``), unknown day and
month (``74<<<<``) or a fully unknown date of birth (``<<<<<<``). Such a date of birth is accepted (and has no
``date`` value); an expiry date must always be complete.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: How far ahead of today an expiry date may lie before it is read as a date in the previous century.
EXPIRY_MAX_YEARS_AHEAD = 20

_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class MrzDate:
    """A resolved MRZ date: ``value`` when complete and valid, ``problem`` (empty when fine) otherwise.

    ``earliest`` is the first day the date can be (``value`` itself, or for a partly unknown date of birth
    the first day of its known month or year)."""

    raw: str
    value: dt.date | None
    partial: bool
    problem: str
    earliest: dt.date | None = None


def _is_digits(text: str) -> bool:
    return len(text) > 0 and all(ch in _DIGITS for ch in text)


def _year(two_digits: int, latest: int) -> int:
    """The latest year not after ``latest`` whose last two digits are ``two_digits``."""
    return latest - ((latest - two_digits) % 100)


def _complete_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_birth_date(raw: str, today: dt.date) -> MrzDate:
    """Resolve a date-of-birth field; unknown day / month / date (fillers) are allowed."""
    if len(raw) != 6:
        return MrzDate(raw, None, False, "not six characters")
    yy, mm, dd = raw[0:2], raw[2:4], raw[4:6]
    if raw == "<<<<<<":
        return MrzDate(raw, None, True, "")
    if not _is_digits(yy):
        return MrzDate(raw, None, False, "year is not numeric")
    month_known, day_known = mm != "<<", dd != "<<"
    if (month_known and not _is_digits(mm)) or (day_known and not _is_digits(dd)):
        return MrzDate(raw, None, False, "month or day is neither numeric nor unknown (<<)")
    if day_known and not month_known:
        return MrzDate(raw, None, False, "day given but month unknown")
    month = int(mm) if month_known else 1
    day = int(dd) if day_known else 1
    if not 1 <= month <= 12:
        return MrzDate(raw, None, False, "month out of range")
    year = _year(int(yy), today.year)
    # Validate the known parts in a leap-year-neutral way when the year is still to be chosen.
    if _complete_date(2000, month, day) is None:
        return MrzDate(raw, None, False, "no such day in that month")
    earliest_in_year = _complete_date(year, month, day)
    if earliest_in_year is None or earliest_in_year > today:
        year -= 100
    value = _complete_date(year, month, day)
    if value is None:  # 29 February of a year that is not a leap year
        return MrzDate(raw, None, False, "no such day in that year")
    if not (month_known and day_known):
        return MrzDate(raw, None, True, "", earliest=value)
    return MrzDate(raw, value, False, "", earliest=value)


def parse_expiry_date(raw: str, today: dt.date) -> MrzDate:
    """Resolve an expiry-date field; it must be a complete calendar date."""
    if len(raw) != 6:
        return MrzDate(raw, None, False, "not six characters")
    if not _is_digits(raw):
        return MrzDate(raw, None, False, "not numeric")
    year = _year(int(raw[0:2]), today.year + EXPIRY_MAX_YEARS_AHEAD)
    value = _complete_date(year, int(raw[2:4]), int(raw[4:6]))
    if value is None:
        return MrzDate(raw, None, False, "not a calendar date")
    return MrzDate(raw, value, False, "", earliest=value)


def format_mrz_date(value: dt.date | str) -> str:
    """A date as the six MRZ characters ``YYMMDD``; a string (``"7408<<"``) is passed through unchanged."""
    if isinstance(value, dt.date):
        return value.strftime("%y%m%d")
    return value

"""Random but valid MRZ records for synthetic documents: invented names, numbers, dates and state codes."""

from __future__ import annotations

import datetime as dt

import numpy as np

from kiosk.documents.icao_codes import KNOWN_CODES
from kiosk.documents.mrz import MrzRecord, compose_mrz, parse_mrz

_SYLLABLES = [
    "AN",
    "NA",
    "MA",
    "RI",
    "KO",
    "LE",
    "SU",
    "TA",
    "VI",
    "EL",
    "OS",
    "KAR",
    "MI",
    "NE",
    "LU",
    "PA",
    "DRO",
    "SEN",
    "BER",
    "GI",
    "HAN",
    "SON",
    "KI",
    "YA",
    "ZU",
    "WAK",
    "OL",
    "JA",
    "TE",
    "FRE",
    "DE",
    "CH",
    "QU",
    "IX",
    "WY",
    "ST",
    "SCH",
    "ORT",
    "MAN",
    "OV",
    "IC",
    "ES",
]
_CODES = sorted(KNOWN_CODES)
_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_DIGITS = np.array(list("0123456789"))


def _word(rng: np.random.Generator, low: int = 1, high: int = 4) -> str:
    return "".join(rng.choice(_SYLLABLES, size=int(rng.integers(low, high + 1))))


def _chars(rng: np.random.Generator, alphabet: np.ndarray, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet, size=int(rng.integers(low, high + 1))))


def _date(rng: np.random.Generator, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=int(rng.integers(0, (end - start).days)))


def random_record(rng: np.random.Generator, fmt: str = "TD3", *, today: dt.date | None = None) -> MrzRecord:
    """A valid MRZ record of format ``fmt`` ("TD1", "TD2" or "TD3") drawn from ``rng``."""
    today = today or dt.date.today()
    state = str(rng.choice(_CODES))
    surname = " ".join(_word(rng) for _ in range(int(rng.choice([1, 1, 1, 2]))))
    given = " ".join(_word(rng) for _ in range(int(rng.choice([1, 1, 2, 2, 3]))))
    number_alphabet = _ALNUM if rng.random() < 0.6 else _DIGITS
    number = _chars(rng, number_alphabet, 6, 9)
    optional = _chars(rng, _ALNUM, 0, 14 if fmt == "TD3" else 7) if rng.random() < 0.5 else ""
    optional_2 = _chars(rng, _ALNUM, 0, 11) if fmt == "TD1" and rng.random() < 0.3 else ""
    birth = _date(rng, dt.date(1930, 1, 1), today - dt.timedelta(days=365))
    expiry = _date(rng, today - dt.timedelta(days=400), today + dt.timedelta(days=3650))
    text = compose_mrz(
        fmt,
        document_code="P<" if fmt == "TD3" else str(rng.choice(["I<", "ID", "AC", "IP"])),
        issuing_state=state,
        surname=surname,
        given_names=given,
        document_number=number,
        nationality=str(rng.choice(_CODES)) if rng.random() < 0.2 else state,
        date_of_birth=birth,
        sex=str(rng.choice(["M", "F", "F", "M", "<"])),
        expiry_date=expiry,
        optional_data=optional,
        optional_data_2=optional_2,
    )
    return parse_mrz(text, today=today)

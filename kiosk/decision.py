"""The decision record: one per gate transaction, append-only (see DESIGN.md). Policy builds it, the store
logs it (adding the audit-chain hashes), sync ships it upstream, the officer console and export read it.

Record versions: 1 is the columns of DESIGN.md; 2 adds, in the log's ``extra`` fields, what the statistics
split error rates by (BSI TR-03121): ``traveller`` (age group from configured bands, sex and nationality as
printed; never the date of birth or the document number), ``timings_ms`` (the flow's stages, ``total`` from
the document placed to the decision) and ``record_version``. A record without ``record_version`` is version
1: its hash is unchanged (the new fields are left out when unset) and statistics count it as not recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

from matcher.utc import iso_utc, utc_now

Outcome = Literal["PASS", "REFER"]
RECORD_VERSION = 2
OPTIONAL_FIELDS = ("traveller", "timings_ms", "record_version")  # left out of the record when None
DEFAULT_AGE_BANDS = (12, 18, 30, 45, 60)  # lower bounds after 0: 0-11, 12-17, 18-29, 30-44, 45-59, 60+
UNREAD = "unread"  # no MRZ was read: nothing is known of the traveller
UNKNOWN = "unknown"  # the MRZ was read, this field of it was not usable
_SEXES = {"M": "M", "F": "F", "X": "X", "<": "unspecified"}


@dataclass(frozen=True)
class WatchlistHit:
    list_id: str
    entry_id: str
    score: float
    threshold: float
    category: str = ""
    severity: str = ""


@dataclass(frozen=True)
class Decision:
    kiosk_id: str
    outcome: Outcome
    reason_codes: tuple[str, ...]
    document_type: str | None = None
    issuing_state: str | None = None
    document_number_hash: str | None = None  # keyed hash (HMAC), never the number itself
    document_checks: dict[str, bool] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    liveness: dict[str, Any] = field(default_factory=dict)
    face_score: float | None = None
    face_threshold: float | None = None
    watchlist_hits: tuple[WatchlistHit, ...] = ()
    models: dict[str, str] = field(default_factory=dict)  # role -> model id and version
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time_utc: str = field(default_factory=lambda: iso_utc(utc_now()))
    traveller: dict[str, str] | None = None  # age_group, sex, nationality (``traveller_facts``)
    timings_ms: dict[str, float] | None = None  # stage -> ms; total: document placed -> decision
    record_version: int | None = None  # RECORD_VERSION when the gate built it; None: version 1

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reason_codes"] = list(self.reason_codes)
        data["watchlist_hits"] = [asdict(h) for h in self.watchlist_hits]
        for name in OPTIONAL_FIELDS:
            if data[name] is None:
                del data[name]
        return data


def age_group(born: date | None, today: date, bands: Sequence[int] = DEFAULT_AGE_BANDS) -> str:
    """The band of the age at ``today`` (``bands``: ascending lower bounds after 0), e.g. ``"30-44"`` or
    ``"60+"``; ``"unknown"`` without a usable date of birth."""
    if born is None or born > today:
        return UNKNOWN
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    lows = (0, *bands)
    for low, high in zip(lows, (*bands, None), strict=True):
        if high is None:
            return f"{low}+"
        if age < high:
            return f"{low}-{high - 1}"
    raise AssertionError("unreachable")


def traveller_facts(
    mrz: object | None, today: date, bands: Sequence[int] = DEFAULT_AGE_BANDS
) -> dict[str, str]:
    """What the statistics split by, from the MRZ (``kiosk.documents.mrz.MrzRecord``): the age group (not
    the date of birth), the sex as printed (M, F, X, ``<`` as ``unspecified``) and the nationality code as
    printed (fillers removed, e.g. ``D``, ``UTO``); ``unread`` without an MRZ, ``unknown`` for a field that
    is not usable."""
    if mrz is None:
        return {"age_group": UNREAD, "sex": UNREAD, "nationality": UNREAD}
    nationality = str(getattr(mrz, "nationality", "") or "")
    usable = 1 <= len(nationality) <= 3 and nationality.isascii() and nationality.isalpha()
    return {
        "age_group": age_group(getattr(mrz, "date_of_birth", None), today, bands),
        "sex": _SEXES.get(str(getattr(mrz, "sex", "") or ""), UNKNOWN),
        "nationality": nationality.upper() if usable else UNKNOWN,
    }

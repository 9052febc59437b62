"""The one UTC timestamp format: ISO 8601 with a ``Z``, so that text comparison is time comparison.

Every stored or printed timestamp of the house comes from :func:`iso_utc`. Milliseconds are the default (the
decision log, its chain and every record derived from it). Two stores keep the precision they were written
with, because their timestamps are compared as text with ones already on disk or in signed files (mixing
precisions would break the ordering: ``"...00Z" > "...00.000Z"``): the watchlist store's list rows and
entry expiries (seconds) and the signed bundle and document-list ``issued_at`` (microseconds)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Precision = Literal["seconds", "milliseconds", "microseconds"]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def iso_utc(moment: datetime, precision: Precision = "milliseconds") -> str:
    """``moment`` as ``YYYY-MM-DDTHH:MM:SS[.fff[fff]]Z``; a naive datetime is refused (ValueError)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec=precision).replace("+00:00", "Z")

"""The decision record: one per gate transaction, append-only (see DESIGN.md). Policy builds it, the store
logs it (adding the audit-chain hashes), sync ships it upstream, the officer console and export read it."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from matcher.utc import iso_utc, utc_now

Outcome = Literal["PASS", "REFER"]


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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reason_codes"] = list(self.reason_codes)
        data["watchlist_hits"] = [asdict(h) for h in self.watchlist_hits]
        return data

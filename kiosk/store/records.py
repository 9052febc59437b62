"""Typed reads of the decision log: what ``DecisionLog`` hands to the officer console, export and sync.

Each chained record keeps ``stored``, its columns exactly as the database holds them (JSON columns as the
stored text): that is what the audit chain hashes, so ``verify_links((r.kind, r.stored) for r in records)``
checks exported records with the chain's own code. The typed fields are parsed from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from kiosk.decision import WatchlistHit
from kiosk.store.errors import StoreCorruptError

FINAL_RESOLUTIONS = ("ADMITTED", "REFUSED", "RETRY")  # a case with one of these is closed
OPEN_RESOLUTIONS = ("ESCALATED",)  # referred to the second line: the case stays open
RESOLUTIONS = (*FINAL_RESOLUTIONS, *OPEN_RESOLUTIONS)
# Logged by the gate, not an officer: its exit opened on the case's ADMITTED resolution (``officer`` names
# the admitting officer). Neither closes nor reopens a case.
EXIT_OPENED = "EXIT_OPENED"


@dataclass(frozen=True)
class EvidenceDigest:
    """What the chain records about one sealed evidence item (no biometric content)."""

    kind: str
    retain_until: str  # ISO UTC
    sha256: str  # of the ciphertext


@dataclass(frozen=True)
class LoggedDecision:
    """A decision as logged: the gate's ``Decision`` plus its place in the chain."""

    kind: ClassVar[str] = "decision"

    id: str
    seq: int
    kiosk_id: str
    time_utc: str
    logged_utc: str
    outcome: str  # PASS or REFER
    reason_codes: tuple[str, ...]
    document_type: str | None
    issuing_state: str | None
    document_number_hash: str | None  # keyed hash, never the number
    document_checks: dict[str, bool]
    quality: dict[str, Any]
    liveness: dict[str, Any]
    face_score: float | None
    face_threshold: float | None
    watchlist_hits: tuple[WatchlistHit, ...]
    models: dict[str, str]
    extra: dict[str, Any]  # Decision fields the schema has no column for
    evidence: tuple[EvidenceDigest, ...]
    prev_hash: str
    hash: str
    stored: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class Resolution:
    """An officer's resolution of a decision. ``reason_code`` is None on rows logged before it existed."""

    kind: ClassVar[str] = "resolution"

    id: str
    seq: int
    decision_id: str
    time_utc: str
    officer: str
    resolution: str  # one of RESOLUTIONS, or EXIT_OPENED (the gate's row after an admit)
    note: str
    reason_code: str | None
    prev_hash: str
    hash: str
    stored: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def final(self) -> bool:
        return self.resolution in FINAL_RESOLUTIONS


@dataclass(frozen=True)
class ExportEvent:
    """An audit export of the log (``kiosk.export``): who exported, and what (``detail``)."""

    kind: ClassVar[str] = "export"

    id: str
    seq: int
    time_utc: str
    actor: str  # account id of the exporting supervisor
    role: str
    detail: dict[str, Any]  # period, formats, images or not, counts, head, manifest sha256
    prev_hash: str
    hash: str
    stored: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)


ChainRecord = LoggedDecision | Resolution | ExportEvent


@dataclass(frozen=True)
class Case:
    """A referred decision and the resolutions logged for it so far (oldest first)."""

    decision: LoggedDecision
    resolutions: tuple[Resolution, ...] = ()

    @property
    def id(self) -> str:
        return self.decision.id

    @property
    def kiosk_id(self) -> str:
        return self.decision.kiosk_id

    @property
    def closed_by(self) -> Resolution | None:
        """The final resolution, or None while the case is open."""
        return next((r for r in self.resolutions if r.final), None)

    @property
    def escalated(self) -> bool:
        return any(r.resolution in OPEN_RESOLUTIONS for r in self.resolutions)

    def age_seconds(self, now: datetime) -> float:
        """Seconds since the gate decided (``time_utc``)."""
        return (now - datetime.fromisoformat(self.decision.time_utc)).total_seconds()


@dataclass(frozen=True)
class GateActivity:
    """What a log says about one gate (kiosk id): for the officer's list of gates and their state."""

    kiosk_id: str
    running: bool  # a kiosk process holds the log's instance lock
    last_decision_utc: str
    open_cases: int  # referred, without a final resolution
    waiting: bool  # its newest decision is an open referral: a traveller waits at the gate
    upstream_backlog: int  # records of the log not yet acknowledged upstream


@dataclass(frozen=True)
class OutboxItem:
    """One record waiting for the upstream. ``record_id`` is the idempotency key; ``payload`` is the canonical
    JSON of the chained record with its hash (no biometric data, no document number in clear)."""

    outbox_id: int
    record_id: str
    kind: str
    payload: str
    created_utc: str

    def as_dict(self) -> dict[str, Any]:
        return json.loads(self.payload)


def _json(row: Mapping[str, Any], name: str, default: Any) -> Any:
    text = row[name]
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        raise StoreCorruptError(
            f"{name} of record {row['id']} (seq {row['seq']}) is not JSON: the log was altered "
            "(`kiosk verify-log` names the first broken row)"
        ) from None


def decision_from_row(row: Mapping[str, Any]) -> LoggedDecision:
    """The typed decision of a ``decisions`` row as stored."""
    try:
        hits = tuple(WatchlistHit(**hit) for hit in _json(row, "watchlist_hits", []))
        evidence = tuple(EvidenceDigest(**item) for item in _json(row, "evidence", []))
    except TypeError as exc:
        raise StoreCorruptError(f"decision {row['id']} (seq {row['seq']}) is malformed: {exc}") from None
    return LoggedDecision(
        id=row["id"],
        seq=row["seq"],
        kiosk_id=row["kiosk_id"],
        time_utc=row["time_utc"],
        logged_utc=row["logged_utc"],
        outcome=row["outcome"],
        reason_codes=tuple(_json(row, "reason_codes", [])),
        document_type=row["document_type"],
        issuing_state=row["issuing_state"],
        document_number_hash=row["document_number_hash"],
        document_checks=_json(row, "document_checks", {}),
        quality=_json(row, "quality", {}),
        liveness=_json(row, "liveness", {}),
        face_score=row["face_score"],
        face_threshold=row["face_threshold"],
        watchlist_hits=hits,
        models=_json(row, "models", {}),
        extra=_json(row, "extra", {}),
        evidence=evidence,
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        stored=dict(row),
    )


def resolution_from_row(row: Mapping[str, Any]) -> Resolution:
    """The typed resolution of a ``resolutions`` row as stored."""
    return Resolution(
        id=row["id"],
        seq=row["seq"],
        decision_id=row["decision_id"],
        time_utc=row["time_utc"],
        officer=row["officer"],
        resolution=row["resolution"],
        note=row["note"],
        reason_code=row.get("reason_code"),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        stored=dict(row),
    )


def export_from_row(row: Mapping[str, Any]) -> ExportEvent:
    """The typed export event of an ``exports`` row as stored."""
    return ExportEvent(
        id=row["id"],
        seq=row["seq"],
        time_utc=row["time_utc"],
        actor=row["actor"],
        role=row["role"],
        detail=_json(row, "detail", {}),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        stored=dict(row),
    )

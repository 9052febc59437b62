"""The audit chain: canonical serialisation and SHA-256 hash links over decisions and officer resolutions.

Decisions and resolutions share one sequence (``seq`` = 1, 2, 3, ... without gaps). Each link is the
SHA-256 of the canonical JSON of its record, and the record includes ``kind``, ``seq`` and ``prev_hash``
(the hash of link ``seq - 1``, or the genesis value for ``seq = 1``). Editing, deleting, inserting or
reordering rows therefore breaks the chain at the first affected row. The genesis value is derived from the
log's random id, so rows cannot be spliced in from another kiosk's log. JSON columns are hashed as the exact
text stored. The functions here are pure, so an export or an upstream service can verify exported rows with
the same code.

Canonical JSON: UTF-8, keys sorted, no whitespace, NaN/Infinity refused, floats written as Python's shortest
round-trip repr (so the hash covers exactly the IEEE-754 double stored), tuples as lists.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["decision", "resolution", "export", "account_event"]

GENESIS_LABEL = "egate-kiosk audit chain v1"

# Columns covered by the chain, per kind (everything the row holds except its own hash).
DECISION_FIELDS = (
    "seq",
    "prev_hash",
    "id",
    "kiosk_id",
    "time_utc",
    "logged_utc",
    "outcome",
    "reason_codes",
    "document_type",
    "issuing_state",
    "document_number_hash",
    "document_checks",
    "quality",
    "liveness",
    "face_score",
    "face_threshold",
    "watchlist_hits",
    "models",
    "extra",
    "evidence",
)
RESOLUTION_FIELDS = ("seq", "prev_hash", "id", "decision_id", "time_utc", "officer", "resolution", "note")
# An audit export of the log (kiosk/export): who exported what; a chained row like decisions and resolutions.
EXPORT_FIELDS = ("seq", "prev_hash", "id", "time_utc", "actor", "role", "detail")
# The account chain (kiosk/store/accounts.py): its own sequence beside the decisions' chain.
ACCOUNT_EVENT_FIELDS = ("seq", "prev_hash", "id", "time_utc", "actor", "account_id", "action", "detail")
FIELDS: dict[str, tuple[str, ...]] = {
    "decision": DECISION_FIELDS,
    "resolution": RESOLUTION_FIELDS,
    "export": EXPORT_FIELDS,
    "account_event": ACCOUNT_EVENT_FIELDS,
}
# Columns added after a kind's first schema: hashed only when set, so rows logged before them still verify.
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {"resolution": ("reason_code",)}


def _check(value: Any, where: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: non-finite number {value!r} cannot be logged")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: JSON object keys must be strings, got {key!r}")
            _check(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(f"{where}: {type(value).__name__} is not JSON data")
    return value


def canonical_json(value: Any) -> str:
    """Deterministic JSON text of ``value`` (see module docstring); ValueError for what JSON cannot carry."""
    _check(value, "value")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def genesis_hash(log_id: str, chain: str = "") -> str:
    """The ``prev_hash`` of the first link of the log identified by ``log_id`` (of its named second chain,
    e.g. ``"accounts"``, when ``chain`` is given)."""
    label = f"{GENESIS_LABEL}|{log_id}" + (f"|{chain}" if chain else "")
    return hashlib.sha256(label.encode()).hexdigest()


def chain_record(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The exact record a link hashes: ``kind`` and the chained columns of ``row`` (optional ones if set)."""
    record = {"kind": kind, **{name: row[name] for name in FIELDS[kind]}}
    for name in OPTIONAL_FIELDS.get(kind, ()):
        if row.get(name) is not None:
            record[name] = row[name]
    return record


def link_hash(kind: str, row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(chain_record(kind, row)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Problem:
    """One finding of a verification; ``seq``/``id`` name the row (``seq`` 0 when not a chain row)."""

    seq: int
    id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class VerifyResult:
    rows: int  # chain rows checked
    head_seq: int  # last sequence number that verified (0 for an empty log)
    head_hash: str  # its hash (the genesis value for an empty log)
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def verify_links(rows: Iterable[tuple[str, Mapping[str, Any]]], genesis: str) -> VerifyResult:
    """Check ``(kind, row)`` pairs given in ``seq`` order; stops at the first broken link (the rows after it
    cannot be trusted, and naming the first is what an auditor needs)."""
    prev_hash, expected_seq, count = genesis, 1, 0
    for kind, row in rows:
        seq, row_id = row["seq"], str(row["id"])
        reason = None
        if seq != expected_seq:
            missing = "missing or reordered rows" if seq > expected_seq else "duplicate or reordered rows"
            reason = f"sequence number {seq} where {expected_seq} was expected ({missing})"
        elif row["prev_hash"] != prev_hash:
            reason = (
                "prev_hash does not match the previous row (a row before it was removed, added or changed)"
            )
        else:
            try:
                computed = link_hash(kind, row)
            except ValueError as exc:
                computed, reason = "", f"row cannot be serialised: {exc}"
            if reason is None and computed != row["hash"]:
                reason = "hash does not match the row's content (the row was edited)"
        if reason:
            return VerifyResult(count, expected_seq - 1, prev_hash, (Problem(seq, row_id, kind, reason),))
        prev_hash, expected_seq, count = row["hash"], expected_seq + 1, count + 1
    return VerifyResult(count, expected_seq - 1, prev_hash)

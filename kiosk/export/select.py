"""A period of the decision log, read as one snapshot with the audit chain verified while it streams.

Every chained row from seq 1 to the head is read in chain order (one SQL statement: one snapshot while the
kiosk keeps appending; lookups made while it is open read the same snapshot) and its link checked with the
store's own pure functions, so a statistic or an export never rests on a broken chain. Memory stays bounded:
rows are yielded one at a time, each referral with the resolution that closed it.

What belongs to a period: decisions whose gate time is in ``[start, end)`` (and whose gate is selected), and
resolutions and audit events logged in the period, plus every resolution of a selected decision (a referral
of the period resolved the next morning belongs to the period's account).

The account chain (officers' sign-ins, failures, lock-outs, account changes, evidence openings: EES Art. 46,
who accessed what and when) is read the same way by ``account_rows``, its own links verified from its own
genesis. Its events belong to no gate: a period narrowed to some gates selects none of them (as export
events).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kiosk.store.accounts import ACCOUNT_CHAIN
from kiosk.store.chain import ACCOUNT_EVENT_FIELDS, genesis_hash, link_hash
from kiosk.store.db import connect, sqlite_errors
from kiosk.store.errors import StoreError
from kiosk.store.log import DecisionLog
from kiosk.store.records import ChainRecord, LoggedDecision, Resolution
from matcher.utc import iso_utc


class ChainBrokenError(StoreError):
    """The log's audit chain does not verify: nothing is computed from it."""

    code = "LOG_CHAIN_BROKEN"


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, optionally narrowed to some gates (kiosk ids)."""

    start: datetime
    end: datetime
    gates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(
                f"the period ends ({iso_utc(self.end)}) before it starts ({iso_utc(self.start)})"
            )

    @property
    def start_utc(self) -> str:
        return iso_utc(self.start)

    @property
    def end_utc(self) -> str:
        return iso_utc(self.end)

    def holds(self, time_utc: str) -> bool:
        """Whether a UTC time of the log (one fixed format: text order is time order) is in the period."""
        return self.start_utc <= time_utc < self.end_utc

    def selects_gate(self, kiosk_id: str) -> bool:
        return not self.gates or kiosk_id in self.gates

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.start_utc, "to": self.end_utc, "gates": list(self.gates)}


def parse_time(text: str) -> datetime:
    """A period bound: ``YYYY-MM-DD`` (00:00 UTC) or ISO 8601 with ``Z`` or an offset; a naive time is
    refused rather than guessed."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or ISO 8601 time: {text!r}") from None
    if len(text.strip()) == 10:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset: write it in UTC with Z, e.g. {text.strip()}Z")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Row:
    """A chained record (typed; ``record.stored``: the row as stored) and whether the period selects it; for
    a selected referral, the resolution that closed it in the same snapshot (None while open)."""

    record: ChainRecord
    selected: bool
    closed_by: Resolution | None = None

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def row(self) -> dict[str, Any]:
        return dict(self.record.stored)


@dataclass
class Head:
    """The last verified link of the snapshot: ``(0, genesis)`` for an empty log."""

    seq: int
    hash: str


def period_rows(log: DecisionLog, period: Period, head: Head) -> Iterator[Row]:
    """Every chained row of ``log`` in chain order with its selection; ``head`` is updated as rows verify
    (after the last row it is the snapshot's head). Raises ChainBrokenError at the first broken link."""
    head.seq, head.hash = 0, log.genesis
    for record in log.records():
        _check_link(log, record.kind, record.stored, head)
        head.seq, head.hash = record.seq, record.hash
        selected = _selected(log, period, record)
        closed_by = None
        if selected and isinstance(record, LoggedDecision) and record.outcome == "REFER":
            # looked up rather than remembered until its resolution streams by: memory stays flat
            closed_by = next((r for r in log.resolutions(record.id) if r.final), None)
        yield Row(record, selected, closed_by)


@dataclass(frozen=True)
class AccountRow:
    """An account-chain event as stored (``row``: what its link hashes) and whether the period selects it."""

    row: dict[str, Any]
    selected: bool

    @property
    def action(self) -> str:
        return str(self.row["action"])

    @property
    def actor(self) -> str:
        return str(self.row["actor"])


ACCOUNT_COLUMNS = (*ACCOUNT_EVENT_FIELDS, "hash")


def account_rows(log: DecisionLog, period: Period, head: Head) -> Iterator[AccountRow]:
    """Every account-chain event of ``log`` in chain order with its selection (one statement: one snapshot);
    ``head`` is updated as events verify. Raises ChainBrokenError at the first broken link. The events carry
    no password or session token hash (those live in other tables)."""
    head.seq, head.hash = 0, genesis_hash(log.log_id, ACCOUNT_CHAIN)
    conn = connect(log.path, readonly=True)
    try:
        with sqlite_errors(log.path, "reading the account chain"):
            cursor = conn.execute(f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM account_events ORDER BY seq")
            for values in cursor:
                row = dict(zip(ACCOUNT_COLUMNS, values, strict=True))
                _check_link(log, "account_event", row, head, chain="account chain")
                head.seq, head.hash = row["seq"], row["hash"]
                yield AccountRow(row, period.holds(row["time_utc"]) and not period.gates)
    finally:
        conn.close()


def _check_link(
    log: DecisionLog, kind: str, row: Mapping[str, Any], head: Head, chain: str = "audit chain"
) -> None:
    if row["seq"] != head.seq + 1:
        problem = f"sequence number {row['seq']} where {head.seq + 1} was expected"
    elif row["prev_hash"] != head.hash:
        problem = "prev_hash does not match the previous row"
    elif link_hash(kind, row) != row["hash"]:
        problem = "hash does not match the row's content (the row was edited)"
    else:
        return
    raise ChainBrokenError(
        f"decision log {log.path}: the {chain} is broken at seq {row['seq']} ({kind} {row['id']}): "
        f"{problem}; `kiosk verify-log` says more. Nothing was computed from it."
    )


def _selected(log: DecisionLog, period: Period, record: ChainRecord) -> bool:
    if isinstance(record, LoggedDecision):
        return period.holds(record.time_utc) and period.selects_gate(record.kiosk_id)
    if isinstance(record, Resolution):
        decision = log.decision(record.decision_id)  # same snapshot: the records() statement is open
        if decision is None or not period.selects_gate(decision.kiosk_id):
            return False
        return period.holds(record.time_utc) or period.holds(decision.time_utc)
    return period.holds(record.time_utc) and not period.gates  # export events belong to no gate

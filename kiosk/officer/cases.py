"""The officer's case queue: referred cases of the gates an officer supervises, their evidence, resolutions.

``CaseQueue`` is where roles are enforced: every call takes the officer's ``Session`` and checks it against
the accounts first (an expired, ended, locked or disabled session reads nothing), and a case of a gate the
account does not cover is refused as if it did not exist for that account. The Qt console and the CLI twins
are thin shells over it.

Cases come from a ``CaseSource``: ``LocalCaseSource`` reads one gate's own decision log (the embedded
default); an upstream service for a group of gates implements the same protocol.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kiosk.store.accounts import OnDuty, Role, Session
from kiosk.store.errors import EvidenceError, PermissionDeniedError, RecordInvalidError, UnknownDecisionError
from kiosk.store.evidence import unpack_frames
from kiosk.store.log import DecisionLog
from kiosk.store.records import Case, GateActivity, Resolution

# What the officer can do with a case -> the resolution logged. ESCALATED keeps the case open for the
# second line; the others close it.
ACTIONS: dict[str, str] = {
    "admit": "ADMITTED",
    "second_line": "ESCALATED",
    "refuse": "REFUSED",  # refused at the gate: the traveller goes to the manual booth
    "retry": "RETRY",
}
# The reason codes an officer picks from, per action (texts: ``officer.reason.<CODE>``).
REASON_CODES: dict[str, tuple[str, ...]] = {
    "admit": (
        "IDENTITY_CONFIRMED",
        "DOCUMENT_VERIFIED",
        "WATCHLIST_FALSE_MATCH",
        "LIVENESS_FALSE_ALARM",
        "MINOR_RELEASED",
    ),
    "second_line": (
        "IDENTITY_DOUBT",
        "WATCHLIST_POSSIBLE_MATCH",
        "DOCUMENT_SUSPECT",
        "PRESENTATION_ATTACK_SUSPECTED",
    ),
    "refuse": ("MANUAL_BOOTH", "DOCUMENT_UNREADABLE", "NOT_ELIGIBLE", "ASSISTANCE_NEEDED"),
    "retry": ("CAPTURE_QUALITY", "FACE_COVERED", "DOCUMENT_PLACEMENT", "MORE_THAN_ONE_PERSON"),
}
MAX_NOTE = 500
# Why a case arriving in the queue sounds the alarm; the first always applies.
ALARM_KINDS = ("NEW_REFERRAL", "WATCHLIST_HIT", "LIVENESS_ALARM", "MORE_THAN_ONE_PERSON", "DOCUMENT_REUSED")


def alarm_kinds(case: Case, queue: Sequence[Case]) -> tuple[str, ...]:
    """The alarms a newly arrived ``case`` raises, given the open ``queue`` it joins: always a new referral;
    a watchlist hit, a liveness alarm, more than one person at the camera, and the same document (its keyed
    hash) in an open case of another gate."""
    decision = case.decision
    codes = set(decision.reason_codes)
    kinds = ["NEW_REFERRAL"]
    if "WATCHLIST_HIT" in codes or decision.watchlist_hits:
        kinds.append("WATCHLIST_HIT")
    if "LIVENESS_FAILED" in codes:
        kinds.append("LIVENESS_ALARM")
    if "MULTIPLE_FACES" in codes:
        kinds.append("MORE_THAN_ONE_PERSON")
    number = decision.document_number_hash
    if number and any(
        other.id != case.id
        and other.kiosk_id != case.kiosk_id
        and other.decision.document_number_hash == number
        for other in queue
    ):
        kinds.append("DOCUMENT_REUSED")
    return tuple(kinds)


class SessionAuthority(Protocol):
    """Signs accounts in and checks their sessions (``kiosk.store.accounts.Accounts`` for a local log)."""

    def sign_in(self, account_id: str, password: str) -> Session: ...

    def sign_out(self, session: Session) -> None: ...

    def authorize(self, session: Session, role: Role | None = None, *, touch: bool = True) -> Session: ...

    def on_duty(self) -> list[OnDuty]: ...

    def note_evidence_opened(self, session: Session, decision_id: str) -> None: ...


class CaseSource(Protocol):
    """Where cases come from: a gate's local log, or the upstream service of a group of gates."""

    def open_cases(self, *, kiosk_ids: Collection[str] | None, limit: int) -> list[Case]:
        """Open cases (referred, no final resolution), newest first; only these gates' when given."""
        ...

    def case(self, decision_id: str) -> Case | None: ...

    def evidence(self, decision_id: str) -> dict[str, bytes]:
        """The case's evidence decrypted (kind -> bytes); empty once purged."""
        ...

    def resolve(
        self, decision_id: str, officer: str, resolution: str, *, reason_code: str, note: str
    ) -> Resolution:
        """Log a resolution; AlreadyResolvedError when another one closed the case first."""
        ...

    def gate_activity(self) -> list[GateActivity]:
        """Per gate: running, open cases, a traveller waiting, upstream backlog."""
        ...


class LocalCaseSource:
    """Cases of one gate's decision log (opened with its key ring to read evidence)."""

    def __init__(self, log: DecisionLog) -> None:
        self.log = log

    def open_cases(self, *, kiosk_ids: Collection[str] | None, limit: int) -> list[Case]:
        return self.log.open_cases(limit, newest_first=True, kiosk_ids=kiosk_ids)

    def case(self, decision_id: str) -> Case | None:
        return self.log.case(decision_id)

    def evidence(self, decision_id: str) -> dict[str, bytes]:
        return self.log.evidence(decision_id)

    def gate_activity(self) -> list[GateActivity]:
        return self.log.gate_activity()

    def resolve(
        self, decision_id: str, officer: str, resolution: str, *, reason_code: str, note: str
    ) -> Resolution:
        resolution_id = self.log.resolve(decision_id, officer, resolution, note, reason_code=reason_code)
        return next(r for r in self.log.resolutions(decision_id) if r.id == resolution_id)


GATE_STATES = ("out_of_service", "closed", "waiting_for_officer", "in_service")


@dataclass(frozen=True)
class GateStatus:
    """A gate as the officer sees it. ``state``: out_of_service (its kiosk is not running), closed (no
    officer who covers it is signed in), waiting_for_officer (a traveller was referred and waits), or
    in_service."""

    kiosk_id: str
    state: str
    officers: tuple[str, ...]  # signed-in officer accounts covering it (supervisors do not staff a gate)
    open_cases: int
    upstream_backlog: int
    last_decision_utc: str


@dataclass(frozen=True)
class CaseEvidence:
    """A case's evidence, decrypted in memory (never written anywhere in the clear)."""

    live_face: bytes | None = None  # JPEG
    document_portrait: bytes | None = None  # JPEG/PNG, when the gate sealed it
    capture_frames: tuple[bytes, ...] = ()  # every frame of a capture with a liveness alarm, in order
    document: dict[str, Any] = field(default_factory=dict)  # document data incl. its number, when sealed

    @classmethod
    def from_items(cls, items: dict[str, bytes]) -> CaseEvidence:
        try:
            frames = tuple(unpack_frames(items["capture_frames"])) if "capture_frames" in items else ()
            document = json.loads(items["document_data"]) if "document_data" in items else {}
        except (ValueError, OSError) as exc:
            raise EvidenceError(f"sealed evidence cannot be read: {exc}") from None
        return cls(items.get("live_face"), items.get("document_portrait"), frames, document)


class CaseQueue:
    """The case queue as one signed-in account may see and work it."""

    def __init__(self, source: CaseSource, accounts: SessionAuthority) -> None:
        self.source = source
        self.accounts = accounts

    def _gates(self, session: Session) -> tuple[str, ...] | None:
        return None if "*" in session.gates else session.gates

    def open_cases(self, session: Session, limit: int = 100) -> list[Case]:
        """Open cases of the session's gates, newest first. Polling: does not restart the idle time."""
        current = self.accounts.authorize(session, touch=False)
        return self.source.open_cases(kiosk_ids=self._gates(current), limit=limit)

    def case(self, session: Session, decision_id: str) -> Case:
        """One case (open or closed) of the session's gates."""
        current = self.accounts.authorize(session)
        return self._covered(current, decision_id)

    def evidence(self, session: Session, decision_id: str) -> CaseEvidence:
        """The case's images and document data, decrypted in memory, for a session covering its gate; the
        access is recorded in the account chain."""
        current = self.accounts.authorize(session)
        self._covered(current, decision_id)
        evidence = CaseEvidence.from_items(self.source.evidence(decision_id))
        self.accounts.note_evidence_opened(current, decision_id)
        return evidence

    def resolve(
        self, session: Session, decision_id: str, action: str, reason_code: str, note: str = ""
    ) -> Resolution:
        """Log the officer's resolution (``ACTIONS``) with a reason code of that action and an optional
        note, under the session's account id. Two consoles on one case: the second gets
        AlreadyResolvedError naming who resolved it."""
        if action not in ACTIONS:
            raise RecordInvalidError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        if reason_code not in REASON_CODES[action]:
            raise RecordInvalidError(
                f"{action} needs a reason code, one of {', '.join(REASON_CODES[action])}, not {reason_code!r}"
            )
        if len(note) > MAX_NOTE:
            raise RecordInvalidError(f"the note is longer than {MAX_NOTE} characters")
        current = self.accounts.authorize(session)
        self._covered(current, decision_id)
        return self.source.resolve(
            decision_id, current.account_id, ACTIONS[action], reason_code=reason_code, note=note.strip()
        )

    def gates(self, session: Session) -> list[GateStatus]:
        """The gates the session covers, with their state. Polling: does not restart the idle time."""
        current = self.accounts.authorize(session, touch=False)
        on_duty = self.accounts.on_duty()
        statuses = []
        for gate in self.source.gate_activity():
            if not current.covers(gate.kiosk_id):
                continue
            officers = tuple(o.account_id for o in on_duty if o.role == "officer" and o.covers(gate.kiosk_id))
            if not gate.running:
                state = "out_of_service"
            elif not officers:
                state = "closed"
            else:
                state = "waiting_for_officer" if gate.waiting else "in_service"
            statuses.append(
                GateStatus(
                    gate.kiosk_id,
                    state,
                    officers,
                    gate.open_cases,
                    gate.upstream_backlog,
                    gate.last_decision_utc,
                )
            )
        return statuses

    def _covered(self, session: Session, decision_id: str) -> Case:
        case = self.source.case(decision_id)
        if case is None or case.decision.outcome != "REFER":
            raise UnknownDecisionError(f"no referred case {decision_id}")
        if not session.covers(case.kiosk_id):
            raise PermissionDeniedError(
                f"case {decision_id} is from gate {case.kiosk_id}, which account {session.account_id} "
                "does not supervise"
            )
        return case

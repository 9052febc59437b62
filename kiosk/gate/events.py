"""What the gate flow tells its observers: one frozen dataclass per kind of event, carrying codes and
numbers, never prose. A front end turns codes into words with ``kiosk.texts.text`` (keys ``screen.<state>``,
``coach.<code>``, ``reason.<code>``); the traveller never sees a score or a reason code.

Times (``at``) are the flow clock's ``monotonic()`` seconds, comparable with each other, not wall time."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kiosk.decision import Decision, Outcome
from matcher.watchlist.documents import DocumentHit


class State(StrEnum):
    """The flow's states. Waiting states (the traveller has to act, with a time-out): ``document_retry``
    and ``face_capture``. ``awaiting_officer`` holds a referred traveller at the closed exit until an
    officer resolves the case (or ``policy.officer_wait_s`` passes): the traveller has nothing to do there,
    so it has no time warning."""

    IDLE = "idle"
    DOCUMENT_PRESENTED = "document_presented"
    DOCUMENT_RETRY = "document_retry"  # the document could not be read: present it again
    DOCUMENT_CHECKED = "document_checked"
    FACE_CAPTURE = "face_capture"
    FACE_MATCH = "face_match"
    WATCHLIST_SEARCH = "watchlist_search"
    DECISION = "decision"
    GATE_OPEN = "gate_open"
    REFERRED = "referred"
    AWAITING_OFFICER = "awaiting_officer"  # referred; the exit stays closed until an officer's resolution


WAITING_STATES = (State.DOCUMENT_RETRY, State.FACE_CAPTURE)


class Ended(StrEnum):
    """How a transaction ended without a decision (``StateChanged.ended`` on the way back to idle)."""

    NONE = ""  # not an end, or the end of a decided transaction (the result display is over)
    CANCELLED = "cancelled"  # the traveller cancelled: document handed back, nothing kept, nothing logged
    # (while awaiting an officer: the referral stays logged and open in the officer's queue)
    OFFICER_TIMEOUT = "officer_timeout"  # no officer resolved the referral in time: the case stays open
    OFFICER_RETRY = "officer_retry"  # an officer asked for the document again: a new transaction follows


@dataclass(frozen=True)
class StateChanged:
    """The flow entered ``state`` (or, with ``extended``, gave the traveller more time in it)."""

    state: State  # the state now
    previous: State  # the state before (equal to ``state`` for an extension)
    at: float  # clock.monotonic() of the change
    transaction_id: str | None  # None outside a transaction (back in idle after a cancel: the cancelled one)
    timeout_s: float | None = None  # the configured time-out of a waiting state; None for other states
    attempt: int = 0  # document_retry: the read attempt to come; face_capture: this capture attempt (1-based)
    max_attempts: int = 0  # the configured bound of those attempts (0 where no attempt applies)
    seconds_left: float | None = None  # waiting states: seconds until the time-out (after an extension too)
    extended: bool = False  # the traveller asked for more time (more_time()); ``state`` did not change
    extensions_left: int = 0  # waiting states: how many more extensions more_time() grants
    ended: Ended = Ended.NONE  # back to idle: why the transaction ended without a decision
    barrier_failed: bool = False  # referred because the barrier failed to open (after a PASS or an admit)
    resolution: str = ""  # the officer's resolution that ended awaiting_officer (ADMITTED, REFUSED, ...)


@dataclass(frozen=True)
class Coaching:
    """One instruction for the traveller during the face capture (one at a time, the most pressing)."""

    # NO_FACE, MULTIPLE_FACES, FACE_TOO_SMALL, POSE_YAW/PITCH/ROLL, BLURRY, TOO_DARK, TURN_LEFT, RETRY, ...
    code: str
    state: State  # the state it was given in (face_capture)
    at: float  # clock.monotonic()
    transaction_id: str | None
    frame: int = 0  # frames judged so far in this capture attempt
    frames_left: int = 0  # frames the attempt may still judge (policy.max_capture_frames)
    seconds_left: float = 0.0  # seconds until the capture attempt times out
    attempt: int = 0  # the capture attempt (1-based)


@dataclass(frozen=True)
class TimeWarning:
    """The waiting state's time-out is near: the traveller may ask for more time (``GateFlow.more_time``).
    Emitted once per deadline, ``policy.time_warning_s`` before it (at once when less time was left)."""

    state: State  # the waiting state
    at: float  # clock.monotonic()
    transaction_id: str | None
    seconds_left: float  # until the time-out
    extensions_left: int  # how many more times more_time() extends the deadline


@dataclass(frozen=True)
class Decided:
    """The transaction's decision, logged (or, when the log failed, REFER with LOG_FAILED)."""

    outcome: Outcome  # PASS or REFER
    reason_codes: tuple[str, ...]  # stable codes (text: kiosk.texts "reason.<code>"), in order
    decision_id: str  # the id of the logged record
    at: float  # clock.monotonic()
    transaction_id: str
    decision: Decision  # the full record, as logged (the officer's: scores included)
    timings_ms: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds (a cost, not a result)
    presentation: str = ""  # the presentation's name ("" without one: the traveller asked for an officer)
    error: str = ""  # the code or exception class behind SYSTEM_ERROR / a failed document, for the operator
    document_lists: tuple[DocumentHit, ...] = ()  # hits behind DOC_LISTED (list, category, reference)


GateEvent = StateChanged | Coaching | TimeWarning | Decided

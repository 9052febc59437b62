"""The gate flow: a plain state machine (no Qt, no threads) that a UI, the headless kiosk and the tests drive.

    idle -> document_presented [-> document_retry -> document_presented] -> document_checked
         -> face_capture -> face_match (1:1) -> watchlist_search (1:N) -> decision -> gate_open | referred
         -> idle                         (cancel(): from any state before the decision straight to idle)

    decision (REFER, ``policy.waits_for_officer``) -> awaiting_officer -> gate_open (an officer admitted:
         the barrier opens) | referred (refused, second line) | face_capture (retry: a new transaction)
         | idle (retry with the document again, the traveller's cancel, or ``policy.officer_wait_s``)

Drivers feed it three things: ``present(presentation)`` when a document is put on the reader,
``offer_frame(frame)`` for each camera frame during capture, and ``tick()`` regularly (time-outs, end of the
result display). A traveller's screen adds three: ``cancel()`` (before the decision: the document is handed
back, nothing biometric is kept, nothing is logged), ``more_time()`` (after a ``TimeWarning``) and
``call_officer()`` (a REFER with TRAVELLER_ASKED_OFFICER, no face needed).

Waiting states (``document_retry``, ``face_capture``) have a deadline: their configured time-out, extended
by ``more_time()``. A document that cannot be read may be presented again and a failed capture is started
again, up to ``policy.max_document_attempts`` / ``max_capture_attempts``; then the traveller is referred.

Every state change, coaching message, time warning and decision is a ``GateEvent`` (``kiosk.gate.events``)
delivered to the observers registered with ``subscribe``. Time comes from an injectable ``Clock``, so tests
run on fake time.

A failed document (unreadable, expired, chip or check-digit failure, unusable portrait) refers the traveller,
but the face is still captured and searched against the watchlists (no 1:1), so the officer learns of a
watchlist hit either way. Other failures (corrupt frames, internal errors) end the transaction with a reason
code and REFER; the flow always returns to idle and takes the next traveller.

A referral the policy holds (minors and release nationalities by default, every referral with
``officer_release = "all"``) keeps the exit closed in ``awaiting_officer`` while the flow watches the
decision log for the officer's resolution (``OfficerReleases``; a resolution made upstream reaches the log
through the sync). Only an ADMITTED resolution opens the barrier, and the gate chains that it did."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.decision import RECORD_VERSION, Decision, WatchlistHit, traveller_facts
from kiosk.devices.barrier import GateBarrier, LogBarrier
from kiosk.devices.frame_integrity import FrameIntegrity, StreamHistory
from kiosk.devices.pad_sensor import PadSensor
from kiosk.documents.checks import Check
from kiosk.documents.mrz import MrzRecord
from kiosk.documents.presentation import Presentation
from kiosk.errors import ConfigError, KioskError
from kiosk.gate.events import (
    WAITING_STATES,
    Coaching,
    Decided,
    Ended,
    GateEvent,
    State,
    StateChanged,
    TimeWarning,
)
from kiosk.gate.ports import (
    Clock,
    DecisionSink,
    DocumentFacts,
    DocumentHasher,
    DocumentReadFn,
    DocumentScreen,
    EvidenceFactory,
    FaceMatcher,
    OfficerReleases,
    OfficerResolution,
    SystemClock,
    WatchlistAlert,
    WatchlistSearch,
)
from kiosk.liveness import LivenessCheck, LivenessConfig
from kiosk.policy import Policy
from matcher.errors import ImageError, MultipleFacesError, NoFaceError, PoorQualityError
from matcher.quality import assess_live
from matcher.types import Face, QualityReport, Template
from matcher.utc import iso_utc
from matcher.watchlist.documents import DocumentHit

log = logging.getLogger("kiosk.gate.flow")


Observer = Callable[[GateEvent], None]


class FlowBusyError(KioskError):
    code = "FLOW_BUSY"


RELEASE_POLL_S = 0.25  # how often a gate awaiting an officer reads the resolutions (a cheap indexed read)
# The officer's resolutions (kiosk.store.records) as the gate acts on them: an admit opens the exit, a retry
# starts again (with the document when the officer's reason is its placement), anything else sends the
# traveller to the officer with the exit closed.
ADMITTED, RETRY = "ADMITTED", "RETRY"
RETRY_DOCUMENT_REASONS = ("DOCUMENT_PLACEMENT",)


@dataclass
class _Transaction:
    id: str
    presentation: Presentation | None  # None: the traveller asked for an officer before presenting one
    started: float
    doc_attempts: int = 0  # reads of the document so far
    doc_unread: tuple[str, ...] = ()  # the reasons of the last read that failed (referred on the time-out)
    captures: int = 0  # capture attempts started
    capture_failures: int = 0
    frame_cap: int = 0  # frames this capture attempt may judge (grows with more_time())
    deadline: float = 0.0  # of the waiting state
    warned: bool = False  # the TimeWarning of this deadline was emitted
    extensions: int = 0  # more_time() grants used
    searched: bool = False  # the live face went through the 1:N search
    asked_officer: bool = False
    reading: DocumentFacts | None = None
    checks: list[Check] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    doc_template: Template | None = None
    frames: int = 0
    multi_streak: int = 0
    last_issue: str = ""
    match_attempts: int = 0
    best_score: float | None = None
    live_template: Template | None = None
    live_frame: np.ndarray | None = None
    quality: QualityReport | None = None
    hits: tuple[WatchlistHit, ...] = ()
    doc_hits: tuple[DocumentHit, ...] = ()  # document-list hits (list, category, reference; never the number)
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str = ""  # why the document failed, for the decision event
    pad: LivenessCheck | None = None  # when policy.liveness_required
    pending: bool = False  # this attempt has its usable frame; the liveness window is still filling
    next_release_poll: float = 0.0  # awaiting_officer: when to read the resolutions next


class GateFlow:
    """The gate state machine. Collaborators are passed in (``kiosk.gate.assemble.open_gate`` builds the real
    ones; ``kiosk.gate.ports`` says what each must offer)."""

    def __init__(
        self,
        engine: FaceMatcher,
        read_document: DocumentReadFn,
        *,
        policy: Policy,
        kiosk_id: str,
        watchlist: WatchlistSearch | None = None,
        document_lists: DocumentScreen | None = None,
        decision_log: DecisionSink | None = None,
        keys: DocumentHasher | None = None,
        barrier: GateBarrier | None = None,
        clock: Clock | None = None,
        evidence_factory: EvidenceFactory | None = None,
        liveness: LivenessConfig | None = None,
        pad_sensor: PadSensor | None = None,
        stream_history: StreamHistory | None = None,
        releases: OfficerReleases | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.kiosk_id = kiosk_id
        self.threshold = float(engine.threshold(policy.fmr))
        self.live_limits = policy.live_limits
        self.document_limits = policy.document_limits
        self._read_document = read_document
        self._watchlist = watchlist
        self._document_lists = document_lists
        self._log = decision_log
        self._keys = keys
        self._evidence = evidence_factory
        self._releases = releases  # without it a referral never waits (nothing would release it)
        self.liveness = liveness if liveness is not None else LivenessConfig()
        self._pad_sensor = pad_sensor
        self.stream_history = stream_history if stream_history is not None else StreamHistory()
        if policy.liveness_required and engine.passive_liveness is None:
            raise ConfigError(
                "policy.liveness_required needs the liveness models: load the engine with liveness=True"
            )
        self.barrier: GateBarrier = barrier if barrier is not None else LogBarrier()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.state = State.IDLE
        self.last_decision: Decision | None = None
        self._txn: _Transaction | None = None
        self._hold_until = 0.0
        self._observers: list[Observer] = []

    # ----- observers -------------------------------------------------------------------------------------
    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Register ``observer`` for every event; returns a function that unsubscribes it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    def _emit(self, event: GateEvent) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:  # an observer (UI, printer) must never break the gate
                log.exception("flow observer failed")

    def _to(self, state: State, **fields: Any) -> None:
        previous, self.state = self.state, state
        tid = self._txn.id if self._txn else None
        self._emit(StateChanged(state, previous, self.clock.monotonic(), tid, **fields))

    def _coach(self, code: str) -> None:
        """An instruction for the traveller, with how much of the capture is left."""
        txn = self._txn
        now = self.clock.monotonic()
        tid = txn.id if txn else None
        if txn is None:
            self._emit(Coaching(code, self.state, now, tid))
            return
        self._emit(
            Coaching(
                code,
                self.state,
                now,
                tid,
                frame=txn.frames,
                frames_left=max(0, txn.frame_cap - txn.frames),
                seconds_left=round(max(0.0, txn.deadline - now), 3),
                attempt=txn.captures,
            )
        )

    # ----- inputs ----------------------------------------------------------------------------------------
    def present(self, presentation: Presentation) -> None:
        """A document was put on the reader: read and check it, then start the face capture (or decide)."""
        if (
            self.state is State.DOCUMENT_RETRY and self._txn is not None
        ):  # presented again after a failed read
            self._txn.presentation = presentation
            self._guarded(self._document_step)
            return
        if self.state is not State.IDLE:
            raise FlowBusyError(f"a document was presented while the gate is in state {self.state}")
        self._txn = _Transaction(
            id=str(uuid.uuid4()), presentation=presentation, started=self.clock.monotonic()
        )
        self._txn.pad = self._new_liveness_check()
        self._refresh_watchlists()
        self._guarded(self._document_step)

    def _new_liveness_check(self) -> LivenessCheck | None:
        if not self.policy.liveness_required:
            return None
        stream = FrameIntegrity(self.stream_history)
        return LivenessCheck(self.engine, self.liveness, self._pad_sensor, stream=stream)

    def offer_frame(self, frame: np.ndarray | None, timestamp_ms: float | None = None) -> None:
        """One camera frame (``None``: the camera delivered nothing decodable) and its capture time as the
        camera tells it (``Camera.timestamp_ms``). Ignored outside capture."""
        if self.state is State.FACE_CAPTURE:
            self._guarded(lambda: self._capture_step(frame, timestamp_ms))

    def tick(self) -> None:
        """Call regularly: warns of and ends a waiting state's time-out, ends a result display shown long
        enough."""
        now = self.clock.monotonic()
        if self.state in WAITING_STATES and self._txn is not None:
            self._warn_if_due()
            if now >= self._txn.deadline:
                self._guarded(
                    self._capture_failed if self.state is State.FACE_CAPTURE else self._document_gone
                )
        elif self.state in (State.GATE_OPEN, State.REFERRED) and now >= self._hold_until:
            self.finish()
        elif self.state is State.AWAITING_OFFICER:
            self._watch_release()

    def cancel(self) -> bool:
        """The traveller cancels before the decision: the transaction is dropped (the document is handed
        back by the driver, which sees ``StateChanged(ended=CANCELLED)``; the live face, templates and frames
        are let go, nothing is logged, no decision is made) and the flow returns to idle. While awaiting an
        officer the traveller may leave too: the exit stays closed, the referral stays logged and open. False
        when there is nothing to cancel (idle) or the decision is already made."""
        txn = self._txn
        if txn is None or self.state in (State.IDLE, State.DECISION, State.GATE_OPEN, State.REFERRED):
            return False
        previous = self.state
        self._txn = None  # everything biometric of the transaction goes with it
        self.state = State.IDLE
        self._emit(StateChanged(State.IDLE, previous, self.clock.monotonic(), txn.id, ended=Ended.CANCELLED))
        return True

    def more_time(self) -> bool:
        """After a ``TimeWarning``: extend the waiting state's deadline by its configured time-out (and a
        capture's frame budget by ``policy.max_capture_frames``), at most ``policy.max_extensions`` times
        per transaction. False (nothing changes) without a pending warning or with no extension left."""
        txn = self._txn
        if txn is None or self.state not in WAITING_STATES or not txn.warned:
            return False
        if txn.extensions >= self.policy.max_extensions:
            return False
        txn.extensions += 1
        txn.deadline += self._timeout_of(self.state)
        txn.warned = False
        if self.state is State.FACE_CAPTURE:
            txn.frame_cap += self.policy.max_capture_frames
        self._to(self.state, extended=True, **self._wait_fields(self.state))
        return True

    def call_officer(self) -> bool:
        """The traveller asks for an officer (the path without biometrics): a REFER decision with
        TRAVELLER_ASKED_OFFICER is logged at once, from idle too (then without a document). A face already
        captured is still searched against the watchlists. False when the decision is already made; True
        and nothing new while awaiting an officer (the referral is in the officer's queue already)."""
        if self.state is State.AWAITING_OFFICER:
            return True
        if self.state in (State.DECISION, State.GATE_OPEN, State.REFERRED):
            return False
        if self._txn is None:
            self._txn = _Transaction(id=str(uuid.uuid4()), presentation=None, started=self.clock.monotonic())
        txn = self._txn
        txn.asked_officer = True
        txn.reasons.append("TRAVELLER_ASKED_OFFICER")

        def decide() -> None:
            if txn.live_template is not None and not txn.searched:
                self._search_watchlists()
            self._decide()

        self._guarded(decide)
        return True

    def source_exhausted(self) -> None:
        """A finite frame source (file, folder, the frames of ``kiosk verify``) has no more frames."""
        if self.state is State.FACE_CAPTURE:
            self._guarded(lambda: self._capture_failed(source_exhausted=True))

    def finish(self) -> None:
        """End the result display (or the wait for an officer, the exit closed): lock the barrier and
        return to idle."""
        if self.state in (State.GATE_OPEN, State.REFERRED, State.AWAITING_OFFICER):
            try:
                self.barrier.close()
            finally:
                self._to(State.IDLE)
                self._txn = None

    # ----- waiting states --------------------------------------------------------------------------------
    def _timeout_of(self, state: State) -> float:
        if state is State.FACE_CAPTURE:
            return self.policy.capture_timeout_s
        return self.policy.document_timeout_s

    def _wait_fields(self, state: State) -> dict[str, Any]:
        """The StateChanged fields of a waiting state: time-out, attempt and what is left."""
        txn = self._txn
        assert txn is not None
        if state is State.FACE_CAPTURE:
            matches = self.policy.max_match_attempts if txn.doc_template is not None else 1
            attempt, most = txn.captures, matches + self.policy.max_capture_attempts - 1
        else:
            attempt, most = txn.doc_attempts + 1, self.policy.max_document_attempts
        return {
            "timeout_s": self._timeout_of(state),
            "attempt": attempt,
            "max_attempts": most,
            "seconds_left": round(max(0.0, txn.deadline - self.clock.monotonic()), 3),
            "extensions_left": self.policy.max_extensions - txn.extensions,
        }

    def _wait(self, state: State) -> None:
        """Enter a waiting state: its deadline starts now."""
        txn = self._txn
        assert txn is not None
        txn.deadline = self.clock.monotonic() + self._timeout_of(state)
        txn.warned = False
        self._to(state, **self._wait_fields(state))
        self._warn_if_due()

    def _warn_if_due(self) -> None:
        txn = self._txn
        assert txn is not None
        left = txn.deadline - self.clock.monotonic()
        if txn.warned or left <= 0 or left > self.policy.time_warning_s:
            return
        txn.warned = True
        self._emit(
            TimeWarning(
                self.state,
                self.clock.monotonic(),
                txn.id,
                seconds_left=round(left, 3),
                extensions_left=self.policy.max_extensions - txn.extensions,
            )
        )

    # ----- steps -----------------------------------------------------------------------------------------
    def _refresh_watchlists(self) -> None:
        """Pick up watchlist versions published since the last traveller (a cheap check when unchanged)."""
        if self._watchlist is None:
            return
        try:
            self._watchlist.refresh()
        except Exception:  # keep searching the lists already loaded; a list never loaded fails the search
            log.exception("watchlist refresh failed")

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # keep the gate running: refer the traveller with SYSTEM_ERROR
            log.exception("gate transaction failed")
            if self._txn is not None and self.state not in (
                State.GATE_OPEN,
                State.REFERRED,
                State.IDLE,
                State.AWAITING_OFFICER,
            ):
                self._txn.reasons.append("SYSTEM_ERROR")
                try:
                    self._decide(error=type(exc).__name__)
                except Exception:
                    log.exception("the failed transaction could not be decided")
                    self._hold_until = self.clock.monotonic()
                    self._to(State.REFERRED)

    def _document_step(self) -> None:
        txn = self._txn
        assert txn is not None and txn.presentation is not None
        txn.doc_attempts += 1
        self._to(
            State.DOCUMENT_PRESENTED, attempt=txn.doc_attempts, max_attempts=self.policy.max_document_attempts
        )
        t0 = time.perf_counter()
        try:
            reading = self._read_document(txn.presentation, self.clock.now().date())
        except (KioskError, ImageError, OSError, ValueError) as exc:  # others (ModelError...): SYSTEM_ERROR
            code = getattr(exc, "code", "DOC_UNREADABLE")
            txn.timings_ms["document"] = _ms(t0)
            txn.error = getattr(exc, "code", type(exc).__name__)
            self._document_unreadable((code if code.startswith(("DOC_", "CHIP_")) else "DOC_UNREADABLE",))
            return
        reasons = self.policy.document_reasons(reading.checks)
        if reading.mrz is None:  # no MRZ from any source: expiry and the rest are unknown, not failed
            txn.timings_ms["document"] = _ms(t0)
            self._document_unreadable(
                ("DOC_UNREADABLE", *(r for r in reasons if r.startswith("CHIP_"))), reading
            )
            return
        txn.reading = reading
        txn.checks = list(reading.checks)
        txn.reasons.extend(reasons)
        if self._document_lists is not None:  # lost, stolen or alerted document numbers (keyed hashes)
            txn.doc_hits = self._document_lists.check(reading)
            txn.reasons.extend(["DOC_LISTED"] if txn.doc_hits else [])
        txn.timings_ms["document"] = _ms(t0)
        if txn.reasons:
            self._screen_only()
            return
        t0 = time.perf_counter()
        try:
            if reading.portrait is None:
                raise KioskError("document has no portrait")
            txn.doc_template = self.engine.template(reading.portrait, limits=self.document_limits)
        except (KioskError, ImageError, NoFaceError, MultipleFacesError, PoorQualityError) as exc:
            txn.reasons.append("DOC_PORTRAIT_UNUSABLE")
            txn.timings_ms["portrait"] = _ms(t0)
            txn.error = getattr(exc, "code", "DOC_PORTRAIT_UNUSABLE")
            self._screen_only()
            return
        txn.timings_ms["portrait"] = _ms(t0)
        self._to(State.DOCUMENT_CHECKED)
        self._start_capture()

    def _document_unreadable(self, reasons: tuple[str, ...], reading: DocumentFacts | None = None) -> None:
        """The document could not be read (not: read and failed a check): ask for it again while attempts
        are left, else refer (``reasons``) and screen the face."""
        txn = self._txn
        assert txn is not None
        txn.doc_unread = reasons
        if txn.doc_attempts < self.policy.max_document_attempts:
            self._wait(State.DOCUMENT_RETRY)
            return
        if reading is not None:  # what was read (the chip's checks) goes to the record
            txn.reading = reading
            txn.checks = list(reading.checks)
        txn.reasons.extend(reasons)
        self._screen_only()

    def _document_gone(self) -> None:
        """The unreadable document was not presented again in time: refer as the last read said."""
        txn = self._txn
        assert txn is not None
        txn.reasons.extend(txn.doc_unread)
        self._screen_only()

    def _screen_only(self) -> None:
        """The document failed (the traveller is referred): still capture the face and search the
        watchlists, when there are any, so a wanted person is flagged to the officer either way."""
        if self._watchlist is None:
            self._decide()
            return
        self._start_capture()

    def _start_capture(self) -> None:
        txn = self._txn
        assert txn is not None
        txn.frames = 0
        txn.frame_cap = self.policy.max_capture_frames
        txn.multi_streak = 0
        txn.last_issue = ""
        txn.pending = False
        txn.captures += 1
        self._wait(State.FACE_CAPTURE)
        self._coach("RETRY" if txn.captures > 1 else "NO_FACE")

    def _capture_step(self, frame: np.ndarray | None, timestamp_ms: float | None = None) -> None:
        txn = self._txn
        assert txn is not None
        txn.frames += 1
        if txn.pad is not None:
            txn.pad.keep(frame, timestamp_ms)
            if txn.pad.challenge_running:
                self._challenge_step(frame)
                return
        t0 = time.perf_counter()
        issue, face = self._judge_frame(frame)
        txn.timings_ms["capture"] = txn.timings_ms.get("capture", 0.0) + _ms(t0)
        if issue is None and face is not None and frame is not None:
            if not txn.pending:
                t0 = time.perf_counter()
                # quality was assessed in _judge_frame against the same limits: embed without assessing again
                txn.live_template = self.engine.template_for_face(frame, face)
                txn.live_frame = frame
                txn.timings_ms["capture"] += _ms(t0)
            if txn.pad is not None:  # several frames are scored before the face is compared
                txn.pad.observe(txn.frames, frame, face)
                txn.timings_ms["liveness"] = round(txn.pad.cost_ms, 3)
                txn.pending = True
                if not txn.pad.ready or txn.pad.wants_challenge:
                    self._coach(txn.pad.start_challenge(txn.frames) if txn.pad.ready else "HOLD_STILL")
                    if self._capture_over():
                        self._capture_failed()
                    return
            self._proceed()
            return
        assert issue is not None
        txn.last_issue = issue
        txn.multi_streak = txn.multi_streak + 1 if issue == "MULTIPLE_FACES" else 0
        self._coach(issue)
        if txn.multi_streak >= self.policy.multiple_faces_frames or self._capture_over():
            self._capture_failed()

    def _challenge_step(self, frame: np.ndarray | None) -> None:
        """A frame while the traveller turns the head as asked: only the detector's landmarks are needed
        (a turned face fails the quality limits by design)."""
        txn = self._txn
        assert txn is not None and txn.pad is not None
        face = None
        if isinstance(frame, np.ndarray) and frame.ndim in (2, 3) and frame.size:
            try:
                face = self.engine.select_face(self.engine.detect(frame), frame.shape)
            except (NoFaceError, MultipleFacesError, ImageError):
                face = None
        if txn.pad.challenge_frame(txn.frames, frame, face) or self._capture_over():
            txn.pad.challenge_done = True
            self._proceed()
            return
        self._coach(txn.pad.challenge_code)

    def _capture_over(self) -> bool:
        txn = self._txn
        assert txn is not None
        return txn.frames >= txn.frame_cap or self.clock.monotonic() >= txn.deadline

    def _proceed(self) -> None:
        """The capture attempt has its face: compare it (or, the document having failed, only screen it)."""
        txn = self._txn
        assert txn is not None
        txn.pending = False
        if txn.doc_template is None:  # the document failed: screening only
            self._search_watchlists()
            self._decide()
            return
        self._match()

    def _judge_frame(self, frame: np.ndarray | None) -> tuple[str | None, Face | None]:
        """(issue code or None, the face to use). Records the quality report of the judged face."""
        txn = self._txn
        assert txn is not None
        if frame is None or not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3) or frame.size == 0:
            return "CAPTURE_UNREADABLE", None
        try:
            face = self.engine.select_face(self.engine.detect(frame), frame.shape)
        except (NoFaceError, MultipleFacesError) as exc:  # the engine's multiple_face_ratio decides
            return exc.code, None
        except ImageError:
            return "CAPTURE_UNREADABLE", None
        report = self._assess_live(frame, face)
        txn.quality = report
        if not report.passed:
            reasons = report.reasons
            return (reasons[0] if reasons else "LOW_CONFIDENCE"), None
        return None, face

    def _assess_live(self, frame: np.ndarray, face: Face) -> QualityReport:
        """The live face against the policy's limits and face guide (the one the screen draws), and, with
        the engine's landmark model loaded, its eyes and mouth."""
        landmarks = self.engine.landmarks if self.engine.has_landmarks else None
        return assess_live(frame, face, self.live_limits, guide=self.policy.face_guide, landmarks=landmarks)

    def _capture_failed(self, *, source_exhausted: bool = False) -> None:
        txn = self._txn
        assert txn is not None
        if txn.pending and txn.multi_streak < self.policy.multiple_faces_frames:
            # the window ended before enough liveness frames: compare the usable face (liveness not assessed)
            self._proceed()
            return
        # a retry capture that got no frame at all from a finite source (kiosk verify of one image) is not
        # a capture failure: the decision rests on the comparison already made
        retry_ran_dry = source_exhausted and txn.frames == 0 and txn.live_template is not None
        if not source_exhausted and txn.capture_failures + 1 < self.policy.max_capture_attempts:
            txn.capture_failures += 1  # another capture attempt (a finite source has no more frames for one)
            self._start_capture()
            return
        if retry_ran_dry:
            pass
        elif txn.last_issue == "MULTIPLE_FACES":
            txn.reasons.append("MULTIPLE_FACES")
        elif txn.last_issue == "CAPTURE_UNREADABLE" and txn.quality is None:
            txn.reasons.append("CAPTURE_UNREADABLE")
        else:
            txn.reasons.append("QUALITY_TIMEOUT")
        if txn.live_template is not None:  # an earlier attempt was compared: report it, and screen it
            if txn.best_score is not None and txn.best_score < self.threshold:
                txn.reasons.append("FACE_NO_MATCH")
            self._search_watchlists()
        self._decide()

    def _match(self) -> None:
        txn = self._txn
        assert txn is not None and txn.live_template is not None and txn.doc_template is not None
        self._to(State.FACE_MATCH)
        t0 = time.perf_counter()
        score = float(self.engine.compare(txn.live_template, txn.doc_template))
        txn.timings_ms["match"] = txn.timings_ms.get("match", 0.0) + _ms(t0)
        txn.match_attempts += 1
        txn.best_score = score if txn.best_score is None else max(txn.best_score, score)
        if score < self.threshold:
            if txn.match_attempts < self.policy.max_match_attempts:
                self._start_capture()
                return
            txn.reasons.append("FACE_NO_MATCH")
        self._search_watchlists()
        self._decide()

    def _search_watchlists(self) -> None:
        txn = self._txn
        assert txn is not None and txn.live_template is not None
        if self._watchlist is None:
            return
        self._to(State.WATCHLIST_SEARCH)
        txn.searched = True
        t0 = time.perf_counter()
        alerts = self._watchlist.search(
            txn.live_template, top_k=self.policy.watchlist_top_k, now=self.clock.now()
        )
        txn.timings_ms["watchlist"] = _ms(t0)
        txn.hits = tuple(_hit(a) for a in alerts)
        if any(self.policy.category_refers(h.category) for h in txn.hits):
            txn.reasons.append("WATCHLIST_HIT")

    def _decide(self, error: str = "") -> None:
        txn = self._txn
        assert txn is not None
        if self.policy.liveness_required and not txn.asked_officer:
            assessment = txn.pad.assess() if txn.pad is not None else None
            if assessment is None or not assessment.assessed:
                txn.reasons.append("LIVENESS_NOT_ASSESSED")
            elif assessment.alarms:
                txn.reasons.append("LIVENESS_FAILED")
            if assessment is not None:  # the camera stream's own codes, assessed or not
                txn.reasons.extend(assessment.record["signals"].get("camera", {}).get("reasons", []))
        error = error or txn.error
        self._to(State.DECISION)
        decision = self._build_decision()
        if self._log is not None:
            t0 = time.perf_counter()
            evidence = self._evidence_for(decision)
            txn.timings_ms["evidence"] = _ms(t0)
            t0 = time.perf_counter()
            try:
                self._log.append(decision, evidence=evidence)
            except Exception:
                log.exception("decision log append failed")
                decision = dataclasses.replace(
                    decision, outcome="REFER", reason_codes=(*decision.reason_codes, "LOG_FAILED")
                )
            txn.timings_ms["log"] = _ms(t0)
        txn.timings_ms["total"] = (self.clock.monotonic() - txn.started) * 1000.0
        self.last_decision = decision
        self._emit(
            Decided(
                outcome=decision.outcome,
                reason_codes=decision.reason_codes,
                decision_id=decision.id,
                at=self.clock.monotonic(),
                transaction_id=txn.id,
                decision=decision,
                timings_ms={k: round(v, 3) for k, v in txn.timings_ms.items()},
                presentation=txn.presentation.name if txn.presentation is not None else "",
                error=error,
                document_lists=tuple(txn.doc_hits),
            )
        )
        self._hold_until = self.clock.monotonic() + self.policy.result_hold_s
        if decision.outcome == "PASS":
            try:
                self.barrier.open(txn.id)
            except Exception:  # the decision is logged; the traveller waits for an officer
                log.exception("barrier failed to open")
                self._to(State.REFERRED, barrier_failed=True)
                return
            self._to(State.GATE_OPEN)
        elif self._releases is not None and self.policy.waits_for_officer(decision.reason_codes):
            self._await_officer()
        else:
            self._to(State.REFERRED)

    # ----- awaiting the officer's resolution --------------------------------------------------------------
    def _await_officer(self) -> None:
        """The referred traveller waits at the closed exit; the case is in the officers' queue."""
        txn = self._txn
        assert txn is not None
        txn.deadline = self.clock.monotonic() + self.policy.officer_wait_s
        txn.next_release_poll = 0.0
        self._to(State.AWAITING_OFFICER, timeout_s=self.policy.officer_wait_s)

    def _watch_release(self) -> None:
        """One look for the officer's resolution (at most every RELEASE_POLL_S), and the wait's time-out."""
        txn = self._txn
        assert txn is not None and self._releases is not None
        now = self.clock.monotonic()
        if now < txn.next_release_poll:
            return
        txn.next_release_poll = now + RELEASE_POLL_S
        try:
            resolutions = self._releases.resolutions(txn.id)
        except Exception:  # the log cannot be read now: keep waiting, the time-out still ends the wait
            log.exception("reading the officer's resolution failed")
            resolutions = []
        if resolutions:
            self._resolved(resolutions[0])
        elif now >= txn.deadline:  # no officer in time: the exit stays closed, the case stays open
            self._to(State.IDLE, ended=Ended.OFFICER_TIMEOUT)
            self._txn = None

    def _resolved(self, resolution: OfficerResolution) -> None:
        txn = self._txn
        assert txn is not None and self._releases is not None
        self._hold_until = self.clock.monotonic() + self.policy.result_hold_s
        kind = resolution.resolution
        if kind == RETRY:
            self._retry(resolution.reason_code or "")
            return
        if kind != ADMITTED:  # refused, second line: the traveller goes to the officer, the exit stays shut
            self._to(State.REFERRED, resolution=kind)
            return
        try:
            self.barrier.open(txn.id)
        except Exception:  # a fault, as after a PASS: the traveller waits for the officer
            log.exception("barrier failed to open on the officer's admit")
            self._to(State.REFERRED, barrier_failed=True, resolution=kind)
            return
        try:
            self._releases.log_exit_opened(txn.id, resolution.officer)
        except Exception:  # the admit is chained; only the gate's own row of it is missing
            log.exception("the exit's opening could not be logged")
        self._to(State.GATE_OPEN, resolution=kind)

    def _retry(self, reason_code: str) -> None:
        """The officer asked the traveller to try again: a new transaction (its own decision follows), from
        the face capture when the document was read and usable, else from the document."""
        old = self._txn
        assert old is not None
        if old.doc_template is None or reason_code in RETRY_DOCUMENT_REASONS:
            self._to(State.IDLE, ended=Ended.OFFICER_RETRY, resolution=RETRY)
            self._txn = None
            return
        self._txn = _Transaction(
            id=str(uuid.uuid4()),
            presentation=old.presentation,
            started=self.clock.monotonic(),
            doc_attempts=old.doc_attempts,
            reading=old.reading,
            checks=list(old.checks),
            doc_template=old.doc_template,
            pad=self._new_liveness_check(),
        )
        self._txn.timings_ms = {k: v for k, v in old.timings_ms.items() if k in ("document", "portrait")}
        self._start_capture()

    def _build_decision(self) -> Decision:
        txn = self._txn
        assert txn is not None
        mrz = txn.reading.mrz if txn.reading is not None else None
        number = getattr(mrz, "document_number", None) or None
        state = getattr(mrz, "issuing_state", None) or None
        number_hash = None
        if number and self._keys is not None:
            number_hash = self._keys.hash_document_number(number, state or "")
        quality: dict[str, Any] = {
            "frames": txn.frames,
            "match_attempts": txn.match_attempts,
            # the attempts made with their configured bounds, and the configured time-outs
            "attempts": {
                "document": txn.doc_attempts,
                "document_max": self.policy.max_document_attempts,
                "capture": txn.captures,
                "capture_max": self.policy.max_capture_attempts,
                "match": txn.match_attempts,
                "match_max": self.policy.max_match_attempts,
                "extensions": txn.extensions,
                "extensions_max": self.policy.max_extensions,
            },
            "timeouts_s": {
                "document": self.policy.document_timeout_s,
                "capture": self.policy.capture_timeout_s,
                "time_warning": self.policy.time_warning_s,
            },
        }
        if txn.quality is not None:
            quality["measures"] = txn.quality.as_dict()
        if txn.reading is not None:
            quality["portrait_source"] = txn.reading.portrait_source
        today = self.clock.now().date()
        release = self.policy.release_reasons(mrz, today) if mrz is not None else []
        reasons = tuple(dict.fromkeys([*txn.reasons, *release]))  # ordered, without duplicates
        return Decision(
            kiosk_id=self.kiosk_id,
            outcome="REFER" if reasons else "PASS",
            reason_codes=reasons,
            document_type=getattr(mrz, "document_code", None) or None,
            issuing_state=state,
            document_number_hash=number_hash,
            document_checks={c.name: c.passed for c in txn.checks},
            quality=quality,
            liveness=self._liveness_record(),
            face_score=None if txn.best_score is None else round(txn.best_score, 6),
            face_threshold=round(self.threshold, 6) if txn.doc_template is not None else None,
            watchlist_hits=txn.hits,
            models={**dict(self.engine.model_versions), "policy.fmr": str(self.policy.fmr)},
            id=txn.id,
            time_utc=iso_utc(self.clock.now()),
            traveller=traveller_facts(mrz, today, self.policy.age_bands),
            timings_ms=self._record_timings(),
            record_version=RECORD_VERSION,
        )

    def _record_timings(self) -> dict[str, float]:
        """The stages so far and ``total``: from ``present`` (the driver's poll that got the document from the
        reader; the first presentation when it was presented again) or ``call_officer`` to this decision,
        before its evidence is sealed and it is logged (the record is hashed when logged)."""
        txn = self._txn
        assert txn is not None
        total = (self.clock.monotonic() - txn.started) * 1000.0
        return {**{k: round(v, 3) for k, v in txn.timings_ms.items()}, "total": round(total, 3)}

    def _liveness_record(self) -> dict[str, Any]:
        txn = self._txn
        assert txn is not None
        if txn.pad is None:
            return {"assessed": False, "required": False, "note": "policy.liveness_required is false"}
        return {**txn.pad.assess().record, "required": True}

    def _evidence_for(self, decision: Decision) -> Any | None:
        """What policy keeps of a referred case for the officer: the live face and its template (the store
        encrypts them); on a liveness alarm, every frame of the capture too; the document portrait and the
        document's data, so the officer console shows them side by side (the officer may be at another
        desk than the document)."""
        txn = self._txn
        if self._evidence is None or txn is None or decision.outcome == "PASS":
            return None
        if not self.policy.store_evidence_on_refer or txn.live_frame is None:
            return None
        face = txn.live_template.face if txn.live_template is not None else None
        frames = txn.pad.frames if txn.pad is not None and "LIVENESS_FAILED" in decision.reason_codes else []
        reading = txn.reading
        portrait = reading.portrait if reading is not None else None
        document = _document_data(reading.mrz) if reading is not None and reading.mrz is not None else {}
        return self._evidence(
            _face_region(txn.live_frame, face), txn.live_template, frames, portrait, document
        )


def _document_data(mrz: MrzRecord) -> dict[str, str]:
    """What the officer reads off the document (sealed evidence only: never in a chained record)."""
    data = {
        name: getattr(mrz, name, None)
        for name in ("document_number", "surname", "given_names", "nationality", "sex")
    }
    for name, key in (("date_of_birth", "birth_date"), ("expiry_date", "expiry_date")):
        moment = getattr(mrz, name, None)
        data[key] = moment.isoformat() if moment else None
    return {key: str(value) for key, value in data.items() if value}


def _face_region(frame: np.ndarray, face: Face | None) -> np.ndarray:
    """The face with a margin (data minimisation: the officer needs the face, not the whole scene)."""
    if face is None:
        return frame
    x1, y1, x2, y2 = face.box
    mx, my = 0.5 * (x2 - x1), 0.6 * (y2 - y1)
    h, w = frame.shape[:2]
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(w, int(x2 + mx)), min(h, int(y2 + my))
    return frame[top:bottom, left:right] if right > left and bottom > top else frame


def _hit(alert: WatchlistAlert) -> WatchlistHit:
    return WatchlistHit(
        list_id=str(alert.list_id),
        entry_id=str(alert.entry_id),
        score=round(float(alert.score), 6),
        threshold=round(float(alert.threshold), 6),
        category=str(alert.category),
        severity=str(alert.severity),
    )


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0

"""What the traveller sees, decided without Qt: gate events (``kiosk.gate.events``) and the traveller's own
touches in, one ``TravellerScreen`` out. The screens render it and hold no rule; this module holds no rule of
the gate either (time-outs, attempts and outcomes are the flow's), only which page shows what.

A screen carries text *codes*, never prose, and never a score, a threshold or a reason code: the referral page
is one neutral message whatever the reasons were."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from kiosk.gate.events import Coaching, Decided, Ended, GateEvent, State, StateChanged, TimeWarning


class Page(StrEnum):
    WELCOME = "welcome"  # language choice, start
    ELIGIBILITY = "eligibility"  # who may use the gate (document kinds, age, height from configuration)
    DOCUMENT = "document"  # place your document (again, after an unreadable read)
    READING = "reading"
    CAMERA = "camera"  # look at the camera: mirror-image preview, face guide, one coaching message
    PROCESSING = "processing"
    GATE_OPEN = "gate_open"
    OFFICER = "officer"  # please go to the officer: one neutral message
    TIME_WARNING = "time_warning"  # the waiting state's time-out is near: one touch for more time
    CANCELLED = "cancelled"  # the traveller cancelled: take your document (a moment, then welcome)
    OUT_OF_SERVICE = "out_of_service"


# Pages in the capture, processing and referral part of a transaction: nothing on them may hold a digit or
# a word about scores (tests/ui check every language).
DISCREET_PAGES = frozenset({Page.CAMERA, Page.PROCESSING, Page.OFFICER})

STEPS = 4  # progress: 1 choose, 2 document, 3 face, 4 result
_STEP = {
    Page.WELCOME: 1,
    Page.ELIGIBILITY: 1,
    Page.DOCUMENT: 2,
    Page.READING: 2,
    Page.CAMERA: 3,
    Page.PROCESSING: 3,
    Page.GATE_OPEN: 4,
    Page.OFFICER: 4,
    Page.TIME_WARNING: 0,  # keeps the step of the page it covers
    Page.CANCELLED: 0,
    Page.OUT_OF_SERVICE: 0,
}

# The flow's states -> the page that shows them. Idle is the welcome page (or the local pages before a
# document: eligibility, place your document).
_PAGE_OF_STATE = {
    State.DOCUMENT_PRESENTED: Page.READING,
    State.DOCUMENT_RETRY: Page.DOCUMENT,
    State.DOCUMENT_CHECKED: Page.READING,
    State.FACE_CAPTURE: Page.CAMERA,
    State.FACE_MATCH: Page.PROCESSING,
    State.WATCHLIST_SEARCH: Page.PROCESSING,
    State.DECISION: Page.PROCESSING,
    State.GATE_OPEN: Page.GATE_OPEN,
    State.REFERRED: Page.OFFICER,
    State.AWAITING_OFFICER: Page.PROCESSING,  # "please wait here, an officer is coming": exit closed
}

# Pages where the traveller may cancel (the document is handed back, nothing is kept).
_CANCEL_PAGES = frozenset({Page.ELIGIBILITY, Page.DOCUMENT, Page.READING, Page.CAMERA, Page.TIME_WARNING})


@dataclass(frozen=True)
class TravellerScreen:
    """One screen's content. ``instruction`` and ``coaching`` are ``kiosk.texts`` codes (the flow's states);
    pages outside a transaction carry their own translated widget strings."""

    page: Page
    step: int  # 1..STEPS, 0: no progress shown
    instruction: str | None = None  # "screen.<state>"
    coaching: str | None = None  # "coach.<code>": one message at a time
    attempt: int = 0  # the document read or capture attempt (1-based), 0 outside them
    max_attempts: int = 0
    countdown_s: float | None = None  # time warning: seconds until the time-out
    extensions_left: int = 0  # time warning: how often "more time" still helps
    can_cancel: bool = False
    can_call_officer: bool = True  # not once decided (the flow refuses) nor out of service (the page says so)
    in_transaction: bool = (
        False  # a document is on the reader: the language button stays, cancel hands it back
    )

    @property
    def steps(self) -> int:
        return STEPS


def _screen(page: Page, **fields: object) -> TravellerScreen:
    return TravellerScreen(
        page=page,
        step=_STEP[page],
        can_cancel=page in _CANCEL_PAGES,
        can_call_officer=page not in (Page.GATE_OPEN, Page.OFFICER, Page.OUT_OF_SERVICE),
        **fields,  # type: ignore[arg-type]
    )


class TravellerPresenter:
    """Holds the current screen; every input returns the screen to show now.

    ``idle_s``: on the local pages (eligibility, place your document) a traveller who stops touching the
    screen for this long is taken back to welcome, with everything cleared."""

    def __init__(self, idle_s: float = 60.0, cancelled_s: float = 3.0) -> None:
        self.idle_s = idle_s
        self.cancelled_s = cancelled_s  # how long "take your document" stays after a cancel
        self._cancelled_at: float | None = None
        self.screen = _screen(Page.WELCOME)
        self._covered: TravellerScreen | None = None  # the page a time warning covers
        self._out_of_service = False
        self._last_touch = 0.0

    # ----- the gate -----------------------------------------------------------------------------------------
    def on_event(self, event: GateEvent) -> TravellerScreen:
        if self._out_of_service:
            return self.screen
        if isinstance(event, StateChanged):
            self._on_state(event)
        elif isinstance(event, Coaching):
            if self.screen.page is Page.CAMERA:
                self.screen = replace(self.screen, coaching=f"coach.{event.code}")
            elif self._covered is not None and self._covered.page is Page.CAMERA:
                self._covered = replace(self._covered, coaching=f"coach.{event.code}")
        elif isinstance(event, TimeWarning):
            self._covered = self._covered or self.screen
            self.screen = replace(
                _screen(Page.TIME_WARNING, in_transaction=True),
                step=self._covered.step,
                countdown_s=event.seconds_left,
                extensions_left=event.extensions_left,
            )
        elif isinstance(event, Decided):
            pass  # the result page follows with the state change; the decision itself is never shown
        return self.screen

    def _on_state(self, event: StateChanged) -> None:
        if event.extended:  # more time given: back to the page the warning covered
            if self._covered is not None:
                self.screen, self._covered = self._covered, None
            return
        self._covered = None
        if event.state is State.IDLE and event.ended is Ended.CANCELLED:
            self.screen = _screen(Page.CANCELLED, instruction="screen.cancelled")
            self._cancelled_at = None
            return
        if event.state is State.IDLE:
            self.screen = _screen(Page.DOCUMENT if event.ended is Ended.OFFICER_RETRY else Page.WELCOME)
            return
        page = _PAGE_OF_STATE[event.state]
        attempt = event.attempt if event.state in (State.DOCUMENT_RETRY, State.FACE_CAPTURE) else 0
        self.screen = _screen(
            page,
            instruction=f"screen.{event.state}",
            coaching="coach.NO_FACE" if page is Page.CAMERA else None,
            attempt=attempt,
            max_attempts=event.max_attempts if attempt else 0,
            in_transaction=True,
        )
        if event.state is State.AWAITING_OFFICER:  # the traveller may still leave (the exit stays shut)
            self.screen = replace(self.screen, can_cancel=True)

    # ----- the traveller's touches (pages outside a transaction) ---------------------------------------
    def touched(self, at: float) -> None:
        self._last_touch = at

    def start(self, at: float) -> TravellerScreen:
        """Welcome -> who may use this gate."""
        self.touched(at)
        if self.screen.page is Page.WELCOME:
            self.screen = _screen(Page.ELIGIBILITY)
        return self.screen

    def eligible(self, at: float) -> TravellerScreen:
        """Eligibility confirmed -> place your document."""
        self.touched(at)
        if self.screen.page is Page.ELIGIBILITY:
            self.screen = _screen(Page.DOCUMENT)
        return self.screen

    def back(self, at: float) -> TravellerScreen:
        """Cancel before a document is read: back to welcome (the flow has nothing to cancel)."""
        self.touched(at)
        if not self.screen.in_transaction and self.screen.page is not Page.OUT_OF_SERVICE:
            self.screen = _screen(Page.WELCOME)
        return self.screen

    def tick(self, at: float) -> TravellerScreen:
        """Idle on a local page for ``idle_s``, or ``cancelled_s`` after a cancel: back to welcome, everything
        cleared."""
        if self.screen.page is Page.CANCELLED:
            if self._cancelled_at is None:
                self._cancelled_at = at
            elif at - self._cancelled_at >= self.cancelled_s:
                self.screen = _screen(Page.WELCOME)
            return self.screen
        local = self.screen.page in (Page.ELIGIBILITY, Page.DOCUMENT) and not self.screen.in_transaction
        if local and at - self._last_touch >= self.idle_s:
            self.screen = _screen(Page.WELCOME)
        return self.screen

    # ----- faults ------------------------------------------------------------------------------------------
    def out_of_service(self) -> TravellerScreen:
        """A device or the gate's worker failed: the gate is closed until it is restarted."""
        self._out_of_service = True
        self._covered = None
        self.screen = _screen(Page.OUT_OF_SERVICE)
        return self.screen

    def back_in_service(self) -> TravellerScreen:
        """The gate serves again (its worker was restarted): welcome."""
        self._out_of_service = False
        self.screen = _screen(Page.WELCOME)
        return self.screen

"""The officer console window: sign-in, then the queue of referred cases (newest first) beside the case view,
with a visible and audible alarm when a case arrives. Every read, decryption, sign-in and resolution runs on
the task pool (``tasks.py``), so the window never blocks; roles are enforced by ``CaseQueue`` underneath."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kiosk.officer.cases import CaseEvidence, CaseQueue, GateStatus, SessionAuthority, alarm_kinds
from kiosk.store.accounts import Session
from kiosk.store.errors import AlreadyResolvedError, SessionError, StoreError
from kiosk.store.records import Case, Resolution
from kiosk.ui.officer.case_model import CaseTableModel
from kiosk.ui.officer.case_view import CaseView
from kiosk.ui.officer.sound import AlarmSound
from kiosk.ui.officer.tasks import Tasks
from matcher.utc import utc_now

POLL_MS = 2000
GATE_COLUMNS = ("Gate", "State", "Officers", "Open cases", "Upstream backlog")
GATE_STATE_TEXT = {
    "out_of_service": "out of service",
    "closed": "closed (no officer)",
    "waiting_for_officer": "waiting for officer",
    "in_service": "in service",
}
GATE_STATE_COLOUR = {
    "out_of_service": "#616161",
    "closed": "#b71c1c",
    "waiting_for_officer": "#e65100",
    "in_service": "#1b5e20",
}
ALARM_TEXT = {
    "NEW_REFERRAL": "new referral",
    "WATCHLIST_HIT": "WATCHLIST HIT",
    "LIVENESS_ALARM": "LIVENESS ALARM",
    "MORE_THAN_ONE_PERSON": "MORE THAN ONE PERSON",
    "DOCUMENT_REUSED": "DOCUMENT USED AT TWO GATES",
}


class SignInPage(QWidget):
    submitted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        box = QFrame()
        box.setFrameShape(QFrame.Shape.StyledPanel)
        box.setFixedWidth(480)
        form = QFormLayout(box)
        title = QLabel("Officer console — sign in")
        title.setStyleSheet("font-size: 16pt; font-weight: bold")
        form.addRow(title)
        self.account = QLineEdit()
        self.account.setObjectName("account")
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Account", self.account)
        form.addRow("Password", self.password)
        self.button = QPushButton("Sign in")
        self.button.setMinimumHeight(40)
        form.addRow(self.button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b71c1c")
        self.message.setMinimumHeight(60)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop)
        form.addRow(self.message)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.button.clicked.connect(self._submit)
        self.password.returnPressed.connect(self._submit)

    def _submit(self) -> None:
        if not self.button.isEnabled():
            return
        self.button.setEnabled(False)
        self.message.setText("Signing in…")
        self.submitted.emit(self.account.text().strip(), self.password.text())

    def failed(self, text: str) -> None:
        self.password.clear()
        self.message.setText(text)
        self.button.setEnabled(True)

    def reset(self, text: str = "") -> None:
        self.password.clear()
        self.message.setText(text)
        self.button.setEnabled(True)


class AlarmBanner(QFrame):
    """A red banner naming what arrived; stays until acknowledged."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet("background: #b71c1c; color: white; font-size: 14pt; font-weight: bold")
        layout = QHBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.acknowledge = QPushButton("Acknowledge")
        self.acknowledge.setStyleSheet("background: white; color: #b71c1c")
        layout.addWidget(self.text, 1)
        layout.addWidget(self.acknowledge)
        self.acknowledge.clicked.connect(self.hide)
        self.hide()

    def raise_alarm(self, kinds: tuple[str, ...], case: Case) -> None:
        what = ", ".join(ALARM_TEXT[k] for k in (*kinds[1:], kinds[0]))
        self.text.setText(
            f"⚠ {what} at gate {case.kiosk_id} — {', '.join(case.decision.reason_codes)} (case {case.id[:8]})"
        )
        self.show()


class OfficerWindow(QMainWindow):
    """The console over ``queue`` (cases) and ``accounts`` (sign-in). ``alarm(kinds, case)`` is emitted,
    with the banner and a beep, for every case that arrives after the first load of the queue."""

    alarm = Signal(tuple, object)
    queue_loaded = Signal(list)
    case_shown = Signal(object)
    resolved = Signal(object)
    resolve_failed = Signal(str)
    signed_in = Signal(object)
    sign_in_failed = Signal(str)

    def __init__(
        self,
        queue: CaseQueue,
        accounts: SessionAuthority,
        *,
        reason_text: Callable[[str], str] = str,
        poll_ms: int = POLL_MS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__()
        self.setWindowTitle("E-gate officer console")
        self.resize(1400, 900)
        self.queue, self.accounts = queue, accounts
        self.reason_text = reason_text  # the officer's text of a reason code
        self.session: Session | None = None
        self.tasks = Tasks(self)
        self._known: set[str] | None = None  # case ids seen; None until the first load after sign-in
        self._refreshing = False
        self._loading: str | None = None
        self._opened = 0  # counts open_case calls: only the newest load may fill the view
        self.gate_states: dict[str, str] = {}

        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.sign_in_page = SignInPage()
        self.sign_in_page.submitted.connect(self._sign_in)
        self.stack.addWidget(self.sign_in_page)

        console = QWidget()
        layout = QVBoxLayout(console)
        top = QHBoxLayout()
        self.who = QLabel()
        self.who.setStyleSheet("font-weight: bold")
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.clicked.connect(lambda: self.sign_out())
        self.sound = AlarmSound(self)
        top.addWidget(self.who, 1)
        top.addWidget(QLabel(self.sound.description))
        top.addWidget(self.sign_out_button)
        layout.addLayout(top)
        self.banner = AlarmBanner()
        layout.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        gates_title = QLabel("Gates")
        gates_title.setStyleSheet("font-size: 14pt; font-weight: bold")
        left_layout.addWidget(gates_title)
        self.gates = QTableWidget(0, len(GATE_COLUMNS))
        self.gates.setHorizontalHeaderLabels(GATE_COLUMNS)
        self.gates.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.gates.horizontalHeader().setStretchLastSection(True)
        self.gates.verticalHeader().setVisible(False)
        self.gates.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.gates.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.gates.setMaximumHeight(170)
        left_layout.addWidget(self.gates)
        self.queue_title = QLabel("Referred cases")
        self.queue_title.setStyleSheet("font-size: 14pt; font-weight: bold")
        left_layout.addWidget(self.queue_title)
        self.model = CaseTableModel(clock)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.clicked.connect(lambda index: self.open_case_at(index.row()))
        left_layout.addWidget(self.table)
        self.case_view = CaseView()
        self.case_view.resolve_requested.connect(self._resolve)
        splitter.addWidget(left)
        splitter.addWidget(self.case_view)
        splitter.setSizes([600, 800])
        layout.addWidget(splitter, 1)
        self.stack.addWidget(console)

        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.refresh)
        self.ages = QTimer(self)
        self.ages.setInterval(1000)
        self.ages.timeout.connect(self.model.refresh_ages)

    # ------------------------------------------------------------------------------------------- session

    def _sign_in(self, account_id: str, password: str) -> None:
        self.tasks.run(
            lambda: self.accounts.sign_in(account_id, password), self._signed_in, self._sign_in_error
        )

    def _signed_in(self, session: Session) -> None:
        self.session = session
        gates = "all gates" if "*" in session.gates else ", ".join(session.gates)
        self.who.setText(f"{session.account_id} ({session.role}) · {gates}")
        self.sign_in_page.reset()
        self.stack.setCurrentIndex(1)
        self._known = None
        self.case_view.clear()
        self.banner.hide()
        self.refresh()
        self.timer.start()
        self.ages.start()
        self.signed_in.emit(session)

    def _sign_in_error(self, exc: Exception) -> None:
        text = str(exc) if isinstance(exc, StoreError) else f"sign-in failed: {exc}"
        self.sign_in_page.failed(text)
        self.sign_in_failed.emit(text)

    def sign_out(self, message: str = "") -> None:
        session, self.session = self.session, None
        self.timer.stop()
        self.ages.stop()
        self.model.set_cases([])
        self.gates.setRowCount(0)
        self.gate_states = {}
        self.case_view.clear()
        self.banner.hide()
        self.stack.setCurrentIndex(0)
        self.sign_in_page.reset(message)
        if session is not None:
            self.tasks.run(lambda: self.accounts.sign_out(session), lambda _: None, lambda _: None)

    def _failed(self, exc: Exception) -> bool:
        """Common handling of a task's error; True when it ended the session."""
        if isinstance(exc, SessionError):
            self.sign_out(f"Signed out: {exc}")
            return True
        return False

    # ------------------------------------------------------------------------------------------- queue

    def refresh(self) -> None:
        """Reload the queue in the background (the timer calls it every ``poll_ms``)."""
        session = self.session
        if session is None or self._refreshing:
            return
        self._refreshing = True

        def load() -> tuple[list[Case], list[GateStatus]]:
            return self.queue.open_cases(session), self.queue.gates(session)

        self.tasks.run(load, self._queue_loaded, self._queue_failed)

    def _queue_failed(self, exc: Exception) -> None:
        self._refreshing = False
        if not self._failed(exc):
            self.queue_title.setText(f"Referred cases — cannot read the queue: {exc}")

    def _queue_loaded(self, loaded: tuple[list[Case], list[GateStatus]]) -> None:
        self._refreshing = False
        if self.session is None:
            return
        cases, gates = loaded
        self._show_gates(gates)
        selected = self.case_view.case.id if self.case_view.case else self._loading
        self.model.set_cases(cases)
        self.queue_title.setText(f"Referred cases ({len(cases)} open)")
        if selected is not None and (row := self.model.row_of(selected)) >= 0:
            self.table.selectRow(row)
        ids = {case.id for case in cases}
        if self._known is not None:
            for case in reversed(cases):  # oldest new case first: the banner ends on the newest
                if case.id not in self._known:
                    self._raise_alarm(alarm_kinds(case, cases), case)
        self._known = ids if self._known is None else self._known | ids
        self.queue_loaded.emit(cases)

    def _show_gates(self, gates: list[GateStatus]) -> None:
        self.gates.setRowCount(len(gates))
        for row, gate in enumerate(gates):
            cells = (
                gate.kiosk_id,
                GATE_STATE_TEXT[gate.state],
                ", ".join(gate.officers) or "none",
                str(gate.open_cases),
                str(gate.upstream_backlog),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 1:
                    item.setForeground(QColor(GATE_STATE_COLOUR[gate.state]))
                self.gates.setItem(row, column, item)
        self.gate_states = {gate.kiosk_id: gate.state for gate in gates}

    def _raise_alarm(self, kinds: tuple[str, ...], case: Case) -> None:
        self.banner.raise_alarm(kinds, case)
        self.sound.play()
        self.alarm.emit(kinds, case)

    # ------------------------------------------------------------------------------------------- a case

    def open_case_at(self, row: int) -> None:
        case = self.model.case_at(row)
        if case is not None:
            self.open_case(case.id)

    def open_case(self, case_id: str, *, quiet: bool = False) -> None:
        """Load a case and decrypt its evidence in the background; shown when ready (``quiet``: the view
        keeps showing the case meanwhile, for a reload after a resolution)."""
        session = self.session
        if session is None:
            return
        self._loading = case_id
        self._opened += 1
        opened = self._opened
        if not quiet:
            self.case_view.show_loading(case_id)

        def load() -> tuple[Case, CaseEvidence]:
            return self.queue.case(session, case_id), self.queue.evidence(session, case_id)

        self.tasks.run(
            load,
            lambda loaded: self._case_loaded(opened, loaded),
            lambda exc: self._case_failed(opened, exc),
        )

    def _case_loaded(self, opened: int, loaded: tuple[Case, CaseEvidence]) -> None:
        # Loads finish in any order: an older one (e.g. the reload after a resolution) finishing after the
        # case the officer opened next would put the resolved case back under the resolve buttons.
        if opened != self._opened or self.session is None:
            return
        case, evidence = loaded
        self._loading = None
        self.case_view.show_case(case, evidence, self.reason_text)
        self.case_shown.emit(case)

    def _case_failed(self, opened: int, exc: Exception) -> None:
        if opened != self._opened:
            return
        self._loading = None
        if not self._failed(exc):
            self.case_view.clear(f"Cannot open the case: {exc}")

    def _resolve(self, case_id: str, action: str, reason_code: str, note: str) -> None:
        session = self.session
        if session is None:
            return
        self.tasks.run(
            lambda: self.queue.resolve(session, case_id, action, reason_code, note),
            self._resolved,
            self._resolve_error,
        )

    def _resolved(self, resolution: Resolution) -> None:
        self.case_view.reset_choice()  # a second click must not log the same resolution twice
        self.case_view.show_status(
            f"Logged: {resolution.resolution} ({resolution.reason_code}) by {resolution.officer}.", True
        )
        self.resolved.emit(resolution)
        self.refresh()
        if self.case_view.case is not None and self.case_view.case.id == resolution.decision_id:
            self.open_case(resolution.decision_id, quiet=True)

    def _resolve_error(self, exc: Exception) -> None:
        if self._failed(exc):
            return
        self.case_view.show_status(f"Not logged: {exc}", False)
        self.resolve_failed.emit(str(exc))
        if isinstance(exc, AlreadyResolvedError) and self.case_view.case is not None:
            self.refresh()
            self.open_case(self.case_view.case.id, quiet=True)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.ages.stop()
        if self.session is not None:
            session, self.session = self.session, None
            self.tasks.run(lambda: self.accounts.sign_out(session), lambda _: None, lambda _: None)
        self.tasks.wait()
        super().closeEvent(event)

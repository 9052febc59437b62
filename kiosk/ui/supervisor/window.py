"""``SupervisorWindow``: a period picker, the statistics table (every rate with n and its 95% interval: the
lines ``kiosk stats`` prints), the charts the PDF report draws, and export buttons.

A thin shell over ``kiosk.export``: the figures come from ``period_stats``, the charts from
``pdf.draw_charts``, exports from ``export_period``, which checks the session itself (an officer's session
is refused there, whatever this window shows). Statistics and exports run on the officer console's task pool
(``kiosk.ui.officer.tasks``), off the GUI thread: the window stays responsive, a busy bar runs and the
buttons wait until the result (or the reason it failed) comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kiosk.errors import KioskError
from kiosk.export.build import ExportResult, export_period
from kiosk.export.pdf import draw_charts
from kiosk.export.select import Period
from kiosk.export.stats import SLICE_SEPARATOR, Stats, period_stats, stats_lines
from kiosk.store.accounts import Session
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing
from kiosk.ui.officer.tasks import Tasks
from matcher.errors import MatcherError

log = logging.getLogger("kiosk.ui.supervisor")
_REFUSALS = (ValueError, KioskError, MatcherError, StoreError, OSError)  # shown, never raised at the user


class SupervisorWindow(QMainWindow):
    """Statistics and exports of the decision log at ``log_path`` for a signed-in ``session``."""

    def __init__(
        self,
        log_path: Path,
        session: Session,
        *,
        signing_key: Path | None = None,
        key_file: Path | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__()
        self.log_path, self.session = log_path, session
        self.signing_key, self.key_file = signing_key, key_file
        self.stats: Stats | None = None
        self.last_export: ExportResult | None = None
        self.setWindowTitle(f"Gate statistics and exports: {session.account_id} ({session.role})")
        today = today or datetime.now(UTC).date()
        self.from_edit = self._date_edit(today - timedelta(days=7))
        self.to_edit = self._date_edit(today + timedelta(days=1))
        self.gates_edit = QLineEdit()
        self.gates_edit.setPlaceholderText("all gates (or: gate-01, gate-02)")
        self.refresh_button = QPushButton("Show statistics")
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button = QPushButton("Export CSV, JSON Lines and PDF…")
        self.export_button.clicked.connect(lambda: self._ask_and_export(False))
        self.images_button = QPushButton("Export with referred cases' images…")
        self.images_button.clicked.connect(lambda: self._ask_and_export(True))
        self.images_button.setEnabled(session.role == "supervisor" and key_file is not None)
        self.export_button.setEnabled(signing_key is not None)
        picker = QHBoxLayout()
        for widget in (
            QLabel("From (UTC)"),
            self.from_edit,
            QLabel("to, excluded"),
            self.to_edit,
            QLabel("Gates"),
            self.gates_edit,
            self.refresh_button,
        ):
            picker.addWidget(widget)
        exports = QHBoxLayout()
        exports.addWidget(self.export_button)
        exports.addWidget(self.images_button)
        exports.addStretch(1)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Figure", "Value: events/n = rate [95% interval]"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.figure = Figure(figsize=(6, 9))
        self.canvas = FigureCanvasQTAgg(self.figure)
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(self.canvas)
        splitter.setSizes([700, 500])
        self.status = QLabel("Pick a period and show its statistics.")
        self.busy = QProgressBar()  # a busy indicator (no end known) while a task runs
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.setVisible(False)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.busy)
        self.tasks = Tasks(self)
        layout = QVBoxLayout()
        layout.addLayout(picker)
        layout.addWidget(splitter, 1)
        layout.addLayout(exports)
        layout.addLayout(status_row)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)
        self.resize(1200, 820)

    @staticmethod
    def _date_edit(day: date) -> QDateEdit:
        edit = QDateEdit(QDate(day.year, day.month, day.day))
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        return edit

    def period(self) -> Period:
        """The chosen period: whole UTC days, the end day excluded."""

        def moment(edit: QDateEdit) -> datetime:
            return datetime.combine(edit.date().toPython(), time(), tzinfo=UTC)

        gates = tuple(gate.strip() for gate in self.gates_edit.text().split(",") if gate.strip())
        return Period(moment(self.from_edit), moment(self.to_edit), gates)

    def _run(self, work: Callable[[], Any], done: Callable[[Any], None], what: str, refused: str) -> None:
        """Run ``work`` on the task pool with the busy bar up and the buttons held; ``done(result)`` or the
        refusal (``refused: reason``) on the GUI thread."""
        self._set_busy(True)
        self.status.setText(what)

        def finished(result: Any) -> None:
            self._set_busy(False)
            done(result)

        def failed(exc: Exception) -> None:
            self._set_busy(False)
            if not isinstance(exc, _REFUSALS):  # a fault, not a refusal: said, and logged with its trace
                log.error("supervisor task failed", exc_info=exc)
                exc = RuntimeError(f"internal error {type(exc).__name__}: {exc}")
            self.status.setText(f"{refused}: {exc}")

        self.tasks.run(work, finished, failed)

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.refresh_button.setEnabled(not busy)
        self.export_button.setEnabled(not busy and self.signing_key is not None)
        self.images_button.setEnabled(
            not busy and self.session.role == "supervisor" and self.key_file is not None
        )

    def refresh(self) -> None:
        """Compute the statistics of the chosen period off the GUI thread, then show them (or why not)."""
        try:
            period = self.period()
        except ValueError as exc:
            self.status.setText(f"No statistics: {exc}")
            return
        self._run(
            lambda: period_stats(self.log_path, period),
            self._show,
            "Computing the statistics (the chain is verified as it is read)…",
            "No statistics",
        )

    def _show(self, stats: Stats) -> None:
        self.stats = stats
        period_line, *lines = stats_lines(stats)
        self.table.setRowCount(len(lines))
        for row, line in enumerate(lines):
            name, _, value = line.partition(": ")
            self.table.setItem(row, 0, QTableWidgetItem(name.rstrip()))
            cell = QTableWidgetItem(
                value.replace(SLICE_SEPARATOR, "\n")
            )  # a slice's FNMR under its referrals
            cell.setToolTip(value)
            self.table.setItem(row, 1, cell)
        self.table.resizeColumnToContents(0)
        self.table.resizeRowsToContents()
        self.figure.clear()
        draw_charts(self.figure, stats)
        self.canvas.draw_idle()
        self.status.setText(f"{stats.transactions} transactions: {period_line}.")

    def _ask_and_export(self, include_images: bool) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into a new folder inside")
        if folder:
            period = self.period()
            name = f"export-{period.start_utc[:10]}-{period.end_utc[:10]}-{datetime.now(UTC):%H%M%S}"
            self.export_to(Path(folder) / name, include_images=include_images)

    def export_to(self, out: Path, *, include_images: bool = False) -> None:
        """Export the chosen period into the new folder ``out`` off the GUI thread; ``last_export`` holds the
        result once done (the status line says it, or why the export was refused)."""
        self.last_export = None
        if self.signing_key is None:
            self.status.setText("Export needs the signing key (--signing-key or [export] signing_key).")
            return
        try:
            period = self.period()
        except ValueError as exc:
            self.status.setText(f"Export refused: {exc}")
            return
        log_path, session, signing_key, key_file = (
            self.log_path,
            self.session,
            self.signing_key,
            self.key_file,
        )

        def work() -> ExportResult:
            return export_period(
                log_path,
                period,
                out,
                session=session,
                signing_key=signing_key,
                include_images=include_images,
                keys=KeyRing.from_file(key_file) if include_images and key_file else None,
            )

        self._run(work, self._exported, f"Exporting to {out}…", "Export refused")

    def _exported(self, result: ExportResult) -> None:
        self.last_export = result
        counts = result.manifest["counts"]
        self.status.setText(
            f"Exported {counts['decision']} decisions, {counts['resolution']} resolutions and "
            f"{counts['account_event']} account events to {result.folder}; signed by key "
            f"{result.manifest['signature']['key_id']}, logged as seq {result.event_seq}."
        )

    def closeEvent(self, event: Any) -> None:
        self.tasks.wait()  # a running export finishes (and is logged) before the window goes
        super().closeEvent(event)


def run_supervisor(
    log_path: Path, session: Session, *, signing_key: Path | None = None, key_file: Path | None = None
) -> int:
    """Open the window in a QApplication of its own and run it until closed; returns the exit status."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    window = SupervisorWindow(log_path, session, signing_key=signing_key, key_file=key_file)
    window.show()
    window.refresh()
    return app.exec()

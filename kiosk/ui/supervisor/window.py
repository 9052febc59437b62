"""``SupervisorWindow``: a period picker, the statistics table (every rate with n and its 95% interval: the
lines ``kiosk stats`` prints), the charts the PDF report draws, and export buttons.

A thin shell over ``kiosk.export``: the figures come from ``period_stats``, the charts from
``pdf.draw_charts``, exports from ``export_period``, which checks the session itself (an officer's session
is refused there, whatever this window shows). Statistics are computed on the GUI thread: a long period of a
large log keeps the window busy meanwhile (the status line says so).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

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
from kiosk.export.stats import Stats, period_stats, stats_lines
from kiosk.store.accounts import Session
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing
from matcher.errors import MatcherError


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
        layout = QVBoxLayout()
        layout.addLayout(picker)
        layout.addWidget(splitter, 1)
        layout.addLayout(exports)
        layout.addWidget(self.status)
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

    def refresh(self) -> Stats | None:
        """Compute and show the statistics of the chosen period; None (and the reason shown) on failure."""
        try:
            stats = period_stats(self.log_path, self.period())
        except (ValueError, StoreError) as exc:
            self.status.setText(f"No statistics: {exc}")
            return None
        self.stats = stats
        period_line, *lines = stats_lines(stats)
        self.table.setRowCount(len(lines))
        for row, line in enumerate(lines):
            name, _, value = line.partition(": ")
            self.table.setItem(row, 0, QTableWidgetItem(name.rstrip()))
            cell = QTableWidgetItem(value)
            cell.setToolTip(value)
            self.table.setItem(row, 1, cell)
        self.table.resizeColumnToContents(0)
        self.figure.clear()
        draw_charts(self.figure, stats)
        self.canvas.draw_idle()
        self.status.setText(f"{stats.transactions} transactions: {period_line}.")
        return stats

    def _ask_and_export(self, include_images: bool) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into a new folder inside")
        if folder:
            period = self.period()
            name = f"export-{period.start_utc[:10]}-{period.end_utc[:10]}-{datetime.now(UTC):%H%M%S}"
            self.export_to(Path(folder) / name, include_images=include_images)

    def export_to(self, out: Path, *, include_images: bool = False) -> ExportResult | None:
        """Export the chosen period into the new folder ``out``; None (and the reason shown) when refused."""
        if self.signing_key is None:
            self.status.setText("Export needs the signing key (--signing-key).")
            return None
        try:
            result = export_period(
                self.log_path,
                self.period(),
                out,
                session=self.session,
                signing_key=self.signing_key,
                include_images=include_images,
                keys=KeyRing.from_file(self.key_file) if include_images and self.key_file else None,
            )
        except (ValueError, KioskError, MatcherError, StoreError, OSError) as exc:
            self.status.setText(f"Export refused: {exc}")
            return None
        counts = result.manifest["counts"]
        self.status.setText(
            f"Exported {counts['decision']} decisions and {counts['resolution']} resolutions to {out}; "
            f"signed by key {result.manifest['signature']['key_id']}, logged as seq {result.event_seq}."
        )
        return result


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

"""The queue of open cases as a Qt table: gate, time, age, reason codes, state; newest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from kiosk.store.records import Case

COLUMNS = ("Gate", "Time (UTC)", "Age", "Reasons", "State")
Index = QModelIndex | QPersistentModelIndex


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s"


class CaseTableModel(QAbstractTableModel):
    """Rows are ``Case`` objects in the order given (the queue's: newest first)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        super().__init__()
        self._cases: list[Case] = []
        self._now = now  # the age column's clock

    def set_cases(self, cases: list[Case]) -> None:
        self.beginResetModel()
        self._cases = list(cases)
        self.endResetModel()

    def case_at(self, row: int) -> Case | None:
        return self._cases[row] if 0 <= row < len(self._cases) else None

    def row_of(self, case_id: str) -> int:
        return next((i for i, case in enumerate(self._cases) if case.id == case_id), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._cases)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        case = self.case_at(index.row())
        if case is None or role != Qt.ItemDataRole.DisplayRole:
            return None
        decision = case.decision
        column = COLUMNS[index.column()]
        if column == "Gate":
            return decision.kiosk_id
        if column == "Time (UTC)":
            return decision.time_utc.replace("T", " ")[:19]
        if column == "Age":
            return age_text(case.age_seconds(self._now()))
        if column == "Reasons":
            return ", ".join(decision.reason_codes)
        return "second line" if case.escalated else "open"

    def refresh_ages(self) -> None:
        if self._cases:
            column = COLUMNS.index("Age")
            self.dataChanged.emit(self.index(0, column), self.index(len(self._cases) - 1, column))

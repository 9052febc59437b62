"""One case, side by side: live capture and document portrait, the 1:1 score against its threshold, the
watchlist candidate against its list threshold, liveness, document data, every check, every capture frame
of a liveness alarm, the resolutions so far; and the resolve panel, which needs a reason code."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kiosk.officer.cases import ACTIONS, MAX_NOTE, REASON_CODES, CaseEvidence
from kiosk.store.records import Case

ACTION_LABELS = {
    "admit": "Admit",
    "second_line": "Refer to second line",
    "refuse": "Refuse / manual booth",
    "retry": "Ask to retry",
}
IMAGE_HEIGHT = 260
GOOD, BAD = "#1b5e20", "#b71c1c"


def pixmap(data: bytes | None, height: int = IMAGE_HEIGHT) -> QPixmap | None:
    """An encoded image (decrypted evidence, in memory) as a pixmap of ``height``; None if undecodable."""
    if not data:
        return None
    image = QImage.fromData(data)
    if image.isNull():
        return None
    return QPixmap.fromImage(image).scaledToHeight(height, Qt.TransformationMode.SmoothTransformation)


def _image_panel(title: str) -> tuple[QGroupBox, QLabel]:
    box = QGroupBox(title)
    label = QLabel()
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setFixedHeight(IMAGE_HEIGHT)
    label.setMinimumWidth(200)
    label.setWordWrap(True)
    QVBoxLayout(box).addWidget(label)
    return box, label


def _verdict(text: str, ok: bool) -> str:
    return f'<span style="color:{GOOD if ok else BAD}; font-weight:bold">{text}</span>'


class CaseView(QWidget):
    """Shows one case; ``resolve_requested(case_id, action, reason_code, note)`` when the officer confirms."""

    resolve_requested = Signal(str, str, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: Case | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # scroll rather than squeeze

        self.title = QLabel("Select a case")
        self.title.setStyleSheet("font-size: 16pt; font-weight: bold")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)
        self.reasons = QLabel()
        self.reasons.setWordWrap(True)
        layout.addWidget(self.reasons)

        images = QHBoxLayout()
        live_box, self.live_image = _image_panel("Live capture")
        portrait_box, self.portrait_image = _image_panel("Document portrait")
        images.addWidget(live_box)
        images.addWidget(portrait_box)
        layout.addLayout(images)

        facts = QGroupBox("Comparison")
        grid = QGridLayout(facts)
        self.face = QLabel()
        self.watchlist = QLabel()
        self.liveness = QLabel()
        for row, (name, label) in enumerate(
            (("1:1 face", self.face), ("Watchlist", self.watchlist), ("Liveness", self.liveness))
        ):
            grid.addWidget(QLabel(f"<b>{name}</b>"), row, 0, Qt.AlignmentFlag.AlignTop)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            grid.addWidget(label, row, 1)
        grid.setColumnStretch(1, 1)
        layout.addWidget(facts)

        document = QGroupBox("Document")
        self.document = QLabel()
        self.document.setWordWrap(True)
        self.document.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(document).addWidget(self.document)
        layout.addWidget(document)

        checks = QGroupBox("Checks")
        self.checks = QTableWidget(0, 2)
        self.checks.setHorizontalHeaderLabels(["Check", "Result"])
        self.checks.horizontalHeader().setStretchLastSection(True)
        self.checks.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.checks.verticalHeader().setVisible(False)
        self.checks.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        QVBoxLayout(checks).addWidget(self.checks)
        layout.addWidget(checks)

        self.frames_box = QGroupBox("Every frame of the capture")
        self.frames = QListWidget()
        self.frames.setViewMode(QListWidget.ViewMode.IconMode)
        self.frames.setIconSize(QSize(160, 160))
        self.frames.setMinimumHeight(190)
        self.frames.setFlow(QListWidget.Flow.LeftToRight)
        self.frames.setWrapping(False)
        QVBoxLayout(self.frames_box).addWidget(self.frames)
        layout.addWidget(self.frames_box)

        self.history = QLabel()
        self.history.setWordWrap(True)
        layout.addWidget(self.history)

        layout.addStretch(1)
        outer.addWidget(self._resolve_panel())  # below the scrolled details: always in reach
        self.status = QLabel()  # outside the panel: readable while the panel is disabled
        self.status.setWordWrap(True)
        outer.addWidget(self.status)
        self.clear()

    def _resolve_panel(self) -> QWidget:
        panel = QFrame()
        panel.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(panel)
        layout.addWidget(QLabel("<b>Resolve</b> (a reason code is required)"))
        buttons = QHBoxLayout()
        self.actions = QButtonGroup(self)
        self.action_buttons: dict[str, QPushButton] = {}
        for action in ACTIONS:
            button = QPushButton(ACTION_LABELS[action])
            button.setCheckable(True)
            button.setMinimumHeight(40)
            button.setObjectName(f"action_{action}")
            self.actions.addButton(button)
            self.action_buttons[action] = button
            buttons.addWidget(button)
            button.toggled.connect(lambda checked, a=action: checked and self._choose(a))
        layout.addLayout(buttons)
        form = QHBoxLayout()
        self.reason = QComboBox()
        self.reason.setMinimumWidth(260)
        self.reason.currentIndexChanged.connect(self._update_confirm)
        self.note = QLineEdit()
        self.note.setMaxLength(MAX_NOTE)
        self.note.setPlaceholderText("Note (optional; no document numbers or names)")
        form.addWidget(QLabel("Reason:"))
        form.addWidget(self.reason)
        form.addWidget(self.note, 1)
        layout.addLayout(form)
        self.confirm = QPushButton("Log resolution")
        self.confirm.setMinimumHeight(40)
        self.confirm.clicked.connect(self._confirm)
        layout.addWidget(self.confirm)
        self.panel = panel
        return panel

    # ------------------------------------------------------------------------------------------- resolve

    @property
    def action(self) -> str | None:
        return next((a for a, b in self.action_buttons.items() if b.isChecked()), None)

    def _choose(self, action: str) -> None:
        self.reason.clear()
        self.reason.addItem("— choose a reason —", "")
        for code in REASON_CODES[action]:
            self.reason.addItem(code, code)
        self._update_confirm()

    def _update_confirm(self) -> None:
        self.confirm.setEnabled(
            self.case is not None and self.action is not None and bool(self.reason.currentData())
        )

    def choose(self, action: str, reason_code: str, note: str = "") -> None:
        """Pick an action and reason as the officer would (used by tests and keyboard shortcuts)."""
        self.action_buttons[action].setChecked(True)
        self.reason.setCurrentIndex(self.reason.findData(reason_code))
        self.note.setText(note)

    def _confirm(self) -> None:
        action, reason = self.action, self.reason.currentData()
        if self.case is None or action is None or not reason:
            return
        self.confirm.setEnabled(False)
        self.status.setText("Logging the resolution…")
        self.resolve_requested.emit(self.case.id, action, reason, self.note.text())

    def show_status(self, text: str, ok: bool) -> None:
        self.status.setText(_verdict(text, ok))
        self._update_confirm()

    # ------------------------------------------------------------------------------------------- showing

    def clear(self, text: str = "Select a case from the queue") -> None:
        self.case = None
        self.title.setText(text)
        for label in (self.reasons, self.face, self.watchlist, self.liveness, self.document, self.history):
            label.clear()
        for label in (self.live_image, self.portrait_image):
            label.clear()
        self.checks.setRowCount(0)
        self.frames.clear()
        self.frames_box.hide()
        self.status.clear()
        self.panel.setEnabled(False)
        self._reset_actions()

    def _reset_actions(self) -> None:
        self.actions.setExclusive(False)
        for button in self.action_buttons.values():
            button.setChecked(False)
        self.actions.setExclusive(True)
        self.reason.clear()
        self.note.clear()
        self._update_confirm()

    def show_loading(self, case_id: str) -> None:
        self.clear(f"Loading case {case_id[:8]}…")

    def show_case(self, case: Case, evidence: CaseEvidence, reason_text: Callable[[str], str]) -> None:
        same = self.case is not None and self.case.id == case.id
        self.case = case
        d = case.decision
        self.title.setText(f"Case {d.id[:8]} · gate {d.kiosk_id} · {d.time_utc.replace('T', ' ')[:19]} UTC")
        self.reasons.setText("<br>".join(f"<b>{code}</b>: {reason_text(code)}" for code in d.reason_codes))
        self._image(self.live_image, evidence.live_face, "No live image was sealed for this case.")
        self._image(
            self.portrait_image,
            evidence.document_portrait,
            "The gate did not seal the document portrait: compare with the document in hand.",
        )
        if d.face_score is not None and d.face_threshold is not None:
            match = d.face_score >= d.face_threshold
            self.face.setText(
                f"score {d.face_score:.3f} against threshold {d.face_threshold:.3f}: "
                + _verdict("match" if match else "NO MATCH", match)
            )
        else:
            self.face.setText("not compared (no usable live face or portrait)")
        self.watchlist.setText(
            "<br>".join(
                f"candidate {hit.entry_id} on list {hit.list_id}, category {hit.category or '-'}: score "
                f"{hit.score:.3f} against list threshold {hit.threshold:.3f} "
                + _verdict("HIT" if hit.score >= hit.threshold else "below", hit.score < hit.threshold)
                for hit in d.watchlist_hits
            )
            or "no candidate"
        )
        liveness = d.liveness
        self.liveness.setText(
            ", ".join(f"{k}: {v}" for k, v in sorted(liveness.items()) if not isinstance(v, dict | list))
            or "not assessed"
        )
        self._document(case, evidence)
        self.checks.setRowCount(len(d.document_checks))
        for row, (name, passed) in enumerate(sorted(d.document_checks.items())):
            self.checks.setItem(row, 0, QTableWidgetItem(name))
            result = QTableWidgetItem("pass" if passed else "FAIL")
            result.setForeground(Qt.GlobalColor.darkGreen if passed else Qt.GlobalColor.red)
            self.checks.setItem(row, 1, result)
        rows = self.checks.verticalHeader().defaultSectionSize() * len(d.document_checks)
        self.checks.setFixedHeight(rows + self.checks.horizontalHeader().height() + 6)
        self.frames.clear()
        for i, frame in enumerate(evidence.capture_frames):
            image = pixmap(frame, 160)
            if image is not None:
                self.frames.addItem(QListWidgetItem(QIcon(image), f"frame {i + 1}"))
        self.frames_box.setVisible(bool(evidence.capture_frames))
        self.history.setText(
            "<br>".join(
                f"<b>{r.resolution}</b> ({r.reason_code or '-'}) by {r.officer} at {r.time_utc}"
                + (f": {r.note}" if r.note else "")
                for r in case.resolutions
            )
        )
        closed = case.closed_by
        self.panel.setEnabled(closed is None)
        if not same:
            self._reset_actions()
            self.status.clear()
        if closed is not None and not self.status.text():
            self.status.setText(f"Resolved by {closed.officer} ({closed.resolution} at {closed.time_utc}).")
        self._update_confirm()

    def _image(self, label: QLabel, data: bytes | None, missing: str) -> None:
        image = pixmap(data)
        if image is None:
            label.setText(missing)
        else:
            label.setPixmap(image)

    def _document(self, case: Case, evidence: CaseEvidence) -> None:
        d = case.decision
        data = evidence.document
        lines = [f"type {d.document_type or '-'}, issued by {d.issuing_state or '-'}"]
        if data.get("document_number"):
            lines.append(f"number <b>{data['document_number']}</b> (from the sealed evidence)")
        else:
            lines.append("number: not sealed by the gate (read it from the document)")
        names = " ".join(str(data[n]) for n in ("surname", "given_names") if data.get(n))
        if names:
            lines.append(f"name {names}")
        for key, label in (
            ("nationality", "nationality"),
            ("birth_date", "born"),
            ("sex", "sex"),
            ("expiry_date", "expires"),
        ):
            if data.get(key):
                lines.append(f"{label} {data[key]}")
        self.document.setText("<br>".join(lines))

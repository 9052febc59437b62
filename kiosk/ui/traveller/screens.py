"""One widget per traveller page: a pictogram, a title, at most two short lines of instruction, a progress
indicator, a language button, "call an officer", and cancel where the presenter allows it. Layout only: what a
page shows comes from a ``TravellerScreen``; the words from Qt's translations (the widgets' own strings) and
``kiosk.texts`` (the flow's states and coaching).

Right-to-left languages mirror the layout (Qt does it from the layout direction); the camera picture is
painted by ``CameraView`` itself and is never mirrored by the layout: it is always the traveller's mirror
image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kiosk.ui.theme import ACCENT, GUIDE, INK, LANGUAGE_BUTTON, LANGUAGE_NAMES, LANGUAGES, Theme
from kiosk.ui.traveller.language import translate
from kiosk.ui.traveller.presenter import Page, TravellerScreen
from matcher.quality import FaceGuide

CoreText = Callable[[str], str]  # a kiosk.texts code -> words in the current language


@dataclass(frozen=True)
class Eligibility:
    """Who may use the gate ([ui] in the configuration): shown on the eligibility page."""

    document_kinds: tuple[str, ...] = ("passport",)  # "passport", "id_card"
    min_age: int = 18
    min_height_cm: int = 120


# ----- drawing --------------------------------------------------------------------------------------------
class Pictogram(QWidget):
    """A line pictogram drawn with QPainter (no downloaded art): one per page."""

    def __init__(self, kind: Page, theme: Theme) -> None:
        super().__init__()
        self.kind = kind
        self._side = theme.px(150)
        # it gives way first on a short (landscape) screen, so the buttons below stay on it
        self.setMinimumSize(theme.px(72), theme.px(72))
        self.setMaximumSize(self._side, self._side)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:
        return QSize(self._side, self._side)

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = min(self.width(), self.height())
        p.translate((self.width() - s) / 2, (self.height() - s) / 2)
        p.scale(s / 100.0, s / 100.0)  # draw on a 100 x 100 grid
        p.setPen(
            QPen(QColor(INK), 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        )
        p.setBrush(Qt.BrushStyle.NoBrush)
        draw = getattr(self, f"_draw_{self.kind.value}", None)
        if draw is not None:
            draw(p)
        p.end()

    @staticmethod
    def _person(p: QPainter, x: float, y: float, scale: float = 1.0) -> None:
        p.drawEllipse(QPointF(x, y), 9 * scale, 9 * scale)
        path = QPainterPath(QPointF(x - 18 * scale, y + 40 * scale))
        path.cubicTo(
            x - 18 * scale, y + 14 * scale, x + 18 * scale, y + 14 * scale, x + 18 * scale, y + 40 * scale
        )
        p.drawPath(path)

    @staticmethod
    def _passport(p: QPainter, r: QRectF) -> None:
        p.drawRoundedRect(r, 4, 4)
        c = r.center()
        p.drawEllipse(QPointF(c.x(), c.y() - r.height() * 0.12), r.width() * 0.22, r.width() * 0.22)
        p.drawLine(QPointF(r.left() + 8, r.bottom() - 10), QPointF(r.right() - 8, r.bottom() - 10))

    def _draw_welcome(self, p: QPainter) -> None:  # a globe: languages
        p.drawEllipse(QPointF(50, 50), 38, 38)
        p.drawEllipse(QPointF(50, 50), 16, 38)
        p.drawLine(QPointF(12, 50), QPointF(88, 50))
        p.drawLine(QPointF(50, 12), QPointF(50, 88))

    def _draw_eligibility(self, p: QPainter) -> None:  # a traveller beside a height mark
        self._person(p, 40, 30)
        p.drawLine(QPointF(75, 12), QPointF(75, 88))
        for y in (20, 40, 60, 80):
            p.drawLine(QPointF(75, y), QPointF(84, y))

    def _draw_document(self, p: QPainter) -> None:  # a passport going down onto the reader
        self._passport(p, QRectF(30, 8, 40, 52))
        p.drawLine(QPointF(50, 64), QPointF(50, 74))
        p.drawLine(QPointF(44, 68), QPointF(50, 74))
        p.drawLine(QPointF(56, 68), QPointF(50, 74))
        p.drawRoundedRect(QRectF(12, 78, 76, 12), 3, 3)

    def _draw_reading(self, p: QPainter) -> None:  # a passport on the reader, waves
        p.drawRoundedRect(QRectF(12, 70, 76, 14), 3, 3)
        self._passport(p, QRectF(32, 24, 36, 42))
        for r in (10, 18):
            p.drawArc(QRectF(50 - r, 14 - r, 2 * r, 2 * r), 30 * 16, 120 * 16)

    def _draw_camera(self, p: QPainter) -> None:  # a face in a frame
        for x, y, dx, dy in ((10, 10, 1, 1), (90, 10, -1, 1), (10, 90, 1, -1), (90, 90, -1, -1)):
            p.drawLine(QPointF(x, y), QPointF(x + 14 * dx, y))
            p.drawLine(QPointF(x, y), QPointF(x, y + 14 * dy))
        p.drawEllipse(QPointF(50, 50), 22, 28)

    def _draw_processing(self, p: QPainter) -> None:  # an hourglass
        path = QPainterPath(QPointF(30, 14))
        for x, y in ((70, 14), (50, 50), (70, 86), (30, 86), (50, 50), (30, 14)):
            path.lineTo(x, y)
        p.drawPath(path)

    def _draw_gate_open(self, p: QPainter) -> None:  # open gate leaves and an arrow through them
        p.drawLine(QPointF(14, 20), QPointF(14, 80))
        p.drawLine(QPointF(86, 20), QPointF(86, 80))
        p.drawLine(QPointF(14, 30), QPointF(26, 22))
        p.drawLine(QPointF(86, 30), QPointF(74, 22))
        p.drawLine(QPointF(34, 55), QPointF(66, 55))
        p.drawLine(QPointF(56, 45), QPointF(66, 55))
        p.drawLine(QPointF(56, 65), QPointF(66, 55))

    def _draw_officer(self, p: QPainter) -> None:  # a person with a peaked cap
        self._person(p, 50, 42, 1.3)
        p.drawLine(QPointF(34, 26), QPointF(66, 26))  # the brim, above the head
        p.drawLine(QPointF(38, 26), QPointF(42, 14))
        p.drawLine(QPointF(62, 26), QPointF(58, 14))
        p.drawLine(QPointF(42, 14), QPointF(58, 14))

    def _draw_time_warning(self, p: QPainter) -> None:  # a clock
        p.drawEllipse(QPointF(50, 50), 38, 38)
        p.drawLine(QPointF(50, 50), QPointF(50, 26))
        p.drawLine(QPointF(50, 50), QPointF(66, 58))

    def _draw_cancelled(self, p: QPainter) -> None:  # the passport coming back up off the reader
        self._passport(p, QRectF(30, 26, 40, 52))
        p.drawLine(QPointF(50, 20), QPointF(50, 6))
        p.drawLine(QPointF(44, 12), QPointF(50, 6))
        p.drawLine(QPointF(56, 12), QPointF(50, 6))
        p.drawRoundedRect(QRectF(12, 82, 76, 12), 3, 3)

    def _draw_out_of_service(self, p: QPainter) -> None:  # a no-entry sign
        p.drawEllipse(QPointF(50, 50), 38, 38)
        p.drawLine(QPointF(28, 50), QPointF(72, 50))


class ProgressDots(QWidget):
    """The progress indicator: one dot per step, the done ones filled (follows the layout direction)."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.step, self.steps = 0, 4
        self._d = theme.px(18)
        self.setFixedSize(self.steps * self._d * 2, self._d + 4)

    def set_step(self, step: int, steps: int) -> None:
        self.step, self.steps = step, steps
        self.setVisible(step > 0)
        self.update()

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rtl = self.layoutDirection() == Qt.LayoutDirection.RightToLeft
        for i in range(self.steps):
            slot = self.steps - 1 - i if rtl else i
            x = slot * self._d * 2 + self._d / 2 + 2
            p.setPen(QPen(QColor(ACCENT), 2))
            p.setBrush(QColor(ACCENT) if i < self.step else Qt.BrushStyle.NoBrush)
            p.drawEllipse(QPointF(x, self.height() / 2), self._d / 2, self._d / 2)
        p.end()


class CameraView(QWidget):
    """The camera picture as a mirror image with the oval face guide the live capture is checked against
    (``policy.face_guide``, in the camera picture's coordinates, so it is mirrored with the picture). Painted
    here, so a right-to-left layout never flips it a second time."""

    def __init__(self, theme: Theme, guide: FaceGuide | None = None) -> None:
        super().__init__()
        self.guide = guide or FaceGuide()
        self._image: QImage | None = None
        self.setMinimumSize(theme.px(320), theme.px(240))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    resized = Signal(int, int)  # the picture's box changed (the camera feed scales its previews to it)

    def set_frame(self, image: QImage) -> None:
        """A camera frame as the camera sees it; shown mirrored (the traveller sees a mirror)."""
        self.set_preview(image.flipped(Qt.Orientation.Horizontal))

    def set_preview(self, image: QImage) -> None:
        """A frame mirrored already (``kiosk.ui.camera_feed.preview_image``, made on the camera thread)."""
        self._image = image
        self.update()

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self.resized.emit(self.width(), self.height())

    def clear(self) -> None:
        self._image = None
        self.update()

    def picture_rect(self) -> QRectF:
        """Where the picture is painted: the widget's area at the picture's aspect ratio, centred."""
        w, h = self.width(), self.height()
        if self._image is None or self._image.isNull():
            return QRectF(0, 0, w, h)
        scale = min(w / self._image.width(), h / self._image.height())
        pw, ph = self._image.width() * scale, self._image.height() * scale
        return QRectF((w - pw) / 2, (h - ph) / 2, pw, ph)

    def guide_rect(self) -> QRectF:
        """The face guide's bounding box on screen: the policy's oval over the (mirrored) picture."""
        r, g = self.picture_rect(), self.guide
        guide = QRectF(0, 0, r.height() * g.width, r.height() * g.height)
        mirrored_x = r.left() + (1.0 - g.centre_x) * r.width()
        guide.moveCenter(QPointF(mirrored_x, r.top() + g.centre_y * r.height()))
        return guide

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.picture_rect()
        if self._image is not None:
            p.drawImage(r, self._image)
        else:
            p.fillRect(r, QColor("#14345F"))
        guide = self.guide_rect()
        p.setPen(QPen(QColor(GUIDE), max(3.0, r.height() / 90)))
        p.drawEllipse(guide)
        p.end()


class CoachingPictogram(QWidget):
    """A small line drawing beside the coaching message, for the codes a picture says better than words:
    an arrow for where to move (the traveller's own left is the screen's left: the picture is a mirror), a
    step back, an open eye, a closed mouth. Painted in screen directions, never mirrored by a right-to-left
    layout. Hidden for the other codes."""

    KINDS = frozenset({"TOO_CLOSE", "FACE_TOO_SMALL", "MOVE_LEFT", "MOVE_RIGHT", "MOVE_UP", "MOVE_DOWN"})
    KINDS |= {"EYES_CLOSED", "MOUTH_OPEN"}

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.code = ""
        side = theme.px(72)
        self.setFixedSize(side, side)
        self.setVisible(False)

    def set_code(self, code: str) -> None:
        self.code = code if code in self.KINDS else ""
        self.setVisible(bool(self.code))
        self.update()

    def paintEvent(self, _event: object) -> None:
        if not self.code:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = min(self.width(), self.height())
        p.scale(s / 100.0, s / 100.0)
        p.setPen(
            QPen(QColor(GUIDE), 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        )
        p.setBrush(Qt.BrushStyle.NoBrush)
        arrows = {"MOVE_LEFT": (-1, 0), "MOVE_RIGHT": (1, 0), "MOVE_UP": (0, -1), "MOVE_DOWN": (0, 1)}
        if self.code in arrows:
            dx, dy = arrows[self.code]
            tip = QPointF(50 + 36 * dx, 50 + 36 * dy)
            p.drawLine(QPointF(50 - 36 * dx, 50 - 36 * dy), tip)
            for side in (-1, 1):  # the arrow head, 20 units back from the tip and 16 to each side
                back = QPointF(tip.x() - 20 * dx + 16 * side * dy, tip.y() - 20 * dy + 16 * side * dx)
                p.drawLine(tip, back)
        elif self.code in ("TOO_CLOSE", "FACE_TOO_SMALL"):  # a face, and arrows away from it or towards it
            p.drawEllipse(QPointF(50, 50), 16, 20)
            outwards = self.code == "TOO_CLOSE"
            for x in (-1, 1):
                near, far = 50 + 26 * x, 50 + 46 * x
                start, end = (near, far) if outwards else (far, near)
                p.drawLine(QPointF(start, 50), QPointF(end, 50))
                p.drawLine(QPointF(end, 50), QPointF(end - 10 * x * (1 if outwards else -1), 40))
                p.drawLine(QPointF(end, 50), QPointF(end - 10 * x * (1 if outwards else -1), 60))
        elif self.code == "EYES_CLOSED":  # an open eye
            path = QPainterPath(QPointF(10, 50))
            path.quadTo(50, 14, 90, 50)
            path.quadTo(50, 86, 10, 50)
            p.drawPath(path)
            p.drawEllipse(QPointF(50, 50), 12, 12)
        else:  # MOUTH_OPEN: a face with a closed mouth
            p.drawEllipse(QPointF(50, 50), 38, 42)
            p.drawLine(QPointF(36, 66), QPointF(64, 66))
            p.drawPoint(QPointF(36, 40))
            p.drawPoint(QPointF(64, 40))
        p.end()


# ----- pages ----------------------------------------------------------------------------------------------
class TravellerPage(QWidget):
    """The frame every page shares: progress and language button on top, pictogram, title, instruction,
    the page's own content, then "call an officer" and cancel."""

    language_chosen = Signal(str)
    call_officer = Signal()
    cancel = Signal()

    def __init__(self, page: Page, theme: Theme) -> None:
        super().__init__()
        self.page, self.theme = page, theme
        self.lang = "en"
        self.setObjectName("traveller")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        outer = QVBoxLayout(self)
        m = theme.px(32)
        outer.setContentsMargins(m, m, m, m)
        outer.setSpacing(theme.px(18))

        top = QHBoxLayout()
        self.progress = ProgressDots(theme)
        # the same words in every language: a traveller who cannot read the current one still finds it
        self.language_button = QPushButton(LANGUAGE_BUTTON)
        self.language_button.clicked.connect(self._toggle_languages)
        top.addWidget(self.progress, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addStretch(1)
        top.addWidget(self.language_button)
        outer.addLayout(top)
        self.languages = QWidget()
        strip = QHBoxLayout(self.languages)
        strip.setContentsMargins(0, 0, 0, 0)
        self._language_buttons: dict[str, QPushButton] = {}
        for lang in LANGUAGES:
            b = QPushButton(LANGUAGE_NAMES[lang])
            b.setFont(theme.font(lang, theme.body_px))
            b.clicked.connect(lambda _=False, code=lang: self.language_chosen.emit(code))
            strip.addWidget(b)
            self._language_buttons[lang] = b
        self.languages.setVisible(page is Page.WELCOME)
        outer.addWidget(self.languages)

        self.pictogram = Pictogram(page, theme)
        outer.addWidget(self.pictogram, 0, Qt.AlignmentFlag.AlignHCenter)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.title)
        self.instruction = QLabel()
        self.instruction.setWordWrap(True)
        self.instruction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.instruction)
        self.content = QVBoxLayout()
        outer.addLayout(self.content, 1)

        bottom = QHBoxLayout()
        self.officer_button = QPushButton()
        self.officer_button.clicked.connect(self.call_officer)
        self.cancel_button = QPushButton()
        self.cancel_button.clicked.connect(self.cancel)
        bottom.addWidget(self.officer_button)
        bottom.addStretch(1)
        bottom.addWidget(self.cancel_button)
        outer.addLayout(bottom)
        self.cancel_button.setVisible(False)

    def _toggle_languages(self) -> None:
        self.languages.setVisible(not self.languages.isVisible() or self.page is Page.WELCOME)

    # the words of a page: title and instruction of the widget's own (translated) strings
    def own_title(self) -> str:
        return ""

    def own_instruction(self) -> str:
        return ""

    def retranslate(self, lang: str) -> None:
        """Apply the language (Qt's translator for it is installed already): fonts, direction, strings."""
        self.lang = lang
        t = self.theme
        for widget in self.findChildren(QPushButton):
            if widget not in self._language_buttons.values():
                widget.setFont(t.font(lang, t.body_px, bold=isinstance(widget, PrimaryButton)))
        self.title.setFont(t.font(lang, t.title_px, bold=True))
        self.instruction.setFont(t.font(lang, t.body_px))
        self.officer_button.setText(translate("Traveller", "Call an officer"))
        self.cancel_button.setText(translate("Traveller", "Cancel"))
        self.languages.setVisible(self.page is Page.WELCOME)

    def show_screen(self, screen: TravellerScreen, core: CoreText) -> None:
        self.progress.set_step(screen.step, screen.steps)
        self.cancel_button.setVisible(screen.can_cancel)
        self.officer_button.setVisible(screen.can_call_officer)
        self.title.setText(self.own_title())
        own = self.own_instruction()
        self.instruction.setText(own if own else core(screen.instruction) if screen.instruction else "")
        self.instruction.setVisible(bool(self.instruction.text()))

    def spoken(self) -> str:
        """What speech output says for this page: the title and the instruction (and the coaching)."""
        parts = (w.text() for w in self._spoken_labels() if w.isVisibleTo(self) and w.text())
        return " ".join(p if p.rstrip().endswith((".", "?", "!", "؟")) else p + "." for p in parts)

    def _spoken_labels(self) -> list[QLabel]:
        return [self.title, self.instruction]

    def texts(self) -> list[str]:
        """Every string this page shows now (tests: nothing secret, nothing clipped)."""
        shown = [w.text() for w in self.findChildren(QLabel) if w.isVisibleTo(self) and w.text()]
        shown += [w.text() for w in self.findChildren(QPushButton) if w.isVisibleTo(self) and w.text()]
        return shown


class PrimaryButton(QPushButton):
    """The one action a page asks for (yellow, bold)."""

    def __init__(self) -> None:
        super().__init__()
        self.setProperty("primary", True)


class WelcomePage(TravellerPage):
    start = Signal()

    def __init__(self, theme: Theme) -> None:
        super().__init__(Page.WELCOME, theme)
        self.start_button = PrimaryButton()
        self.start_button.clicked.connect(self.start)
        self.content.addStretch(1)
        self.content.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self.language_button.setVisible(False)  # the language strip is the page itself

    def own_title(self) -> str:
        return translate("Traveller", "Welcome")

    def own_instruction(self) -> str:
        return translate("Traveller", "Choose your language, then touch Start.")

    def retranslate(self, lang: str) -> None:
        super().retranslate(lang)
        self.start_button.setText(translate("Traveller", "Start"))


class EligibilityPage(TravellerPage):
    confirmed = Signal()

    def __init__(self, theme: Theme, eligibility: Eligibility) -> None:
        super().__init__(Page.ELIGIBILITY, theme)
        self.eligibility = eligibility
        self.rules = QLabel()
        self.rules.setWordWrap(True)
        self.rules.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confirm_button = PrimaryButton()
        self.confirm_button.clicked.connect(self.confirmed)
        self.content.addWidget(self.rules)
        self.content.addStretch(1)
        self.content.addWidget(self.confirm_button, 0, Qt.AlignmentFlag.AlignHCenter)

    def own_title(self) -> str:
        return translate("Traveller", "Who can use this gate")

    def _spoken_labels(self) -> list[QLabel]:
        return [self.title, self.rules]

    def retranslate(self, lang: str) -> None:
        super().retranslate(lang)
        e = self.eligibility
        kinds = {
            "passport": translate("Traveller", "An electronic passport"),
            "id_card": translate("Traveller", "An electronic identity card"),
        }
        lines = [kinds.get(k, k) for k in e.document_kinds]
        lines.append(translate("Traveller", "Aged %1 or over").replace("%1", str(e.min_age)))
        lines.append(translate("Traveller", "At least %1 cm tall").replace("%1", str(e.min_height_cm)))
        self.rules.setFont(self.theme.font(lang, self.theme.body_px))
        self.rules.setText("\n".join(lines))
        self.confirm_button.setText(translate("Traveller", "I can use this gate"))


class DocumentPage(TravellerPage):
    def __init__(self, theme: Theme) -> None:
        super().__init__(Page.DOCUMENT, theme)
        self.content.addStretch(1)
        self._retry = False

    def own_title(self) -> str:
        return (
            translate("Traveller", "Place your document")
            if not self._retry
            else translate("Traveller", "Place your document again")
        )

    def own_instruction(self) -> str:
        if self._retry:  # the flow's words: the document could not be read
            return ""
        return translate("Traveller", "Open it at the photo page and lay it face down on the reader.")

    def show_screen(self, screen: TravellerScreen, core: CoreText) -> None:
        self._retry = screen.in_transaction  # only an unreadable document brings the flow back here
        super().show_screen(screen, core)


class WaitingPage(TravellerPage):
    """Reading, processing, cancelled: the flow's words as the title, nothing to touch but help."""

    def __init__(self, page: Page, theme: Theme) -> None:
        super().__init__(page, theme)
        self.content.addStretch(1)

    def show_screen(self, screen: TravellerScreen, core: CoreText) -> None:
        super().show_screen(screen, core)
        self.title.setText(self.instruction.text())
        self.instruction.setVisible(False)

    def _spoken_labels(self) -> list[QLabel]:
        return [self.title]


class CameraPage(TravellerPage):
    def __init__(self, theme: Theme, guide: FaceGuide | None = None) -> None:
        super().__init__(Page.CAMERA, theme)
        self.pictogram.setVisible(False)  # the camera picture is the page
        self.view = CameraView(theme, guide)
        self.coaching = QLabel()
        self.coaching.setWordWrap(True)
        self.coaching.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.coaching.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.coaching_pictogram = CoachingPictogram(theme)
        self.content.addWidget(self.view, 1)
        line = QHBoxLayout()  # one message at a time: its pictogram (when it has one) and its words
        line.addWidget(self.coaching_pictogram, 0, Qt.AlignmentFlag.AlignVCenter)
        line.addWidget(self.coaching, 1)
        self.content.addLayout(line)

    def own_title(self) -> str:
        return translate("Traveller", "Look at the camera")

    def _spoken_labels(self) -> list[QLabel]:
        return [self.coaching]  # the title says the same; the coaching changes, one message at a time

    def retranslate(self, lang: str) -> None:
        super().retranslate(lang)
        self.coaching.setFont(self.theme.font(lang, self.theme.title_px, bold=True))

    def show_screen(self, screen: TravellerScreen, core: CoreText) -> None:
        super().show_screen(screen, core)
        self.instruction.setVisible(False)  # the coaching line is the instruction here
        self.coaching.setText(core(screen.coaching) if screen.coaching else "")
        self.coaching_pictogram.set_code((screen.coaching or "").partition(".")[2])


class ResultPage(TravellerPage):
    def __init__(self, page: Page, theme: Theme) -> None:
        super().__init__(page, theme)
        self.content.addStretch(1)

    def own_title(self) -> str:
        return (
            translate("Traveller", "Please walk through")
            if self.page is Page.GATE_OPEN
            else translate("Traveller", "Please go to the officer")
        )


class TimeWarningPage(TravellerPage):
    more_time = Signal()

    def __init__(self, theme: Theme) -> None:
        super().__init__(Page.TIME_WARNING, theme)
        self.remaining = QProgressBar()
        self.remaining.setTextVisible(False)  # a draining bar, no number
        self.remaining.setFixedHeight(theme.px(16))
        self.more_button = PrimaryButton()
        self.more_button.clicked.connect(self.more_time)
        self.content.addWidget(self.remaining)
        self.content.addStretch(1)
        self.content.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self._full = 1.0

    def own_title(self) -> str:
        return translate("Traveller", "Do you need more time?")

    def own_instruction(self) -> str:
        return translate("Traveller", "Touch More time to continue.")

    def retranslate(self, lang: str) -> None:
        super().retranslate(lang)
        self.more_button.setText(translate("Traveller", "More time"))

    def show_screen(self, screen: TravellerScreen, core: CoreText) -> None:
        super().show_screen(screen, core)
        self._full = max(1.0, screen.countdown_s or 1.0)
        self.set_left(screen.countdown_s or 0.0)
        self.more_button.setEnabled(screen.extensions_left > 0)

    def set_left(self, seconds: float) -> None:
        self.remaining.setRange(0, 1000)
        self.remaining.setValue(int(1000 * max(0.0, min(1.0, seconds / self._full))))


class OutOfServicePage(TravellerPage):
    def __init__(self, theme: Theme) -> None:
        super().__init__(Page.OUT_OF_SERVICE, theme)
        self.content.addStretch(1)

    def own_title(self) -> str:
        return translate("Traveller", "This gate is closed")

    def own_instruction(self) -> str:
        return translate("Traveller", "Please use another gate or go to the officer.")


def build_pages(
    theme: Theme, eligibility: Eligibility, guide: FaceGuide | None = None
) -> dict[Page, TravellerPage]:
    """Every page, by the presenter's page names (``guide``: the policy's face guide, drawn on the camera)."""
    return {
        Page.WELCOME: WelcomePage(theme),
        Page.ELIGIBILITY: EligibilityPage(theme, eligibility),
        Page.DOCUMENT: DocumentPage(theme),
        Page.READING: WaitingPage(Page.READING, theme),
        Page.CAMERA: CameraPage(theme, guide),
        Page.PROCESSING: WaitingPage(Page.PROCESSING, theme),
        Page.GATE_OPEN: ResultPage(Page.GATE_OPEN, theme),
        Page.OFFICER: ResultPage(Page.OFFICER, theme),
        Page.TIME_WARNING: TimeWarningPage(theme),
        Page.CANCELLED: WaitingPage(Page.CANCELLED, theme),
        Page.OUT_OF_SERVICE: OutOfServicePage(theme),
    }

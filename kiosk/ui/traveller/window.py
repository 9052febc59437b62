"""The traveller's window: stacks the pages, shows what the presenter says, switches language, and turns the
traveller's touches into requests to the gate (signals the gate link carries to the worker process)."""

from __future__ import annotations

import time

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QStackedLayout, QWidget

from kiosk.ui.theme import Theme, direction
from kiosk.ui.traveller.language import Languages
from kiosk.ui.traveller.presenter import Page, TravellerPresenter, TravellerScreen
from kiosk.ui.traveller.screens import (
    CameraPage,
    Eligibility,
    EligibilityPage,
    TimeWarningPage,
    TravellerPage,
    WelcomePage,
    build_pages,
)
from matcher.quality import FaceGuide


class TravellerWindow(QWidget):
    cancel_requested = Signal()  # the flow cancels: the document is handed back, nothing is kept
    more_time_requested = Signal()
    officer_requested = Signal()
    screen_shown = Signal(object)  # the TravellerScreen now on show (tests, speech)

    def __init__(
        self,
        theme: Theme,
        languages: Languages,
        *,
        eligibility: Eligibility | None = None,
        presenter: TravellerPresenter | None = None,
        default_language: str = "en",
        guide: FaceGuide | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("e-gate")
        self.theme = theme
        self.languages = languages
        self.default_language = default_language
        self.presenter = presenter or TravellerPresenter()
        self.setStyleSheet(theme.stylesheet())
        self.pages = build_pages(theme, eligibility or Eligibility(), guide)
        self._stack = QStackedLayout(self)
        for page in self.pages.values():
            self._stack.addWidget(page)
            page.language_chosen.connect(self.set_language)
            page.call_officer.connect(self._officer)
            page.cancel.connect(self._cancel)
        welcome = self.pages[Page.WELCOME]
        assert isinstance(welcome, WelcomePage)
        welcome.start.connect(lambda: self.show_screen(self.presenter.start(time.monotonic())))
        eligibility_page = self.pages[Page.ELIGIBILITY]
        assert isinstance(eligibility_page, EligibilityPage)
        eligibility_page.confirmed.connect(
            lambda: self.show_screen(self.presenter.eligible(time.monotonic()))
        )
        warning = self.pages[Page.TIME_WARNING]
        assert isinstance(warning, TimeWarningPage)
        warning.more_time.connect(self.more_time_requested)
        self._countdown_end = 0.0
        self._countdown = QTimer(self)
        self._countdown.setInterval(200)
        self._countdown.timeout.connect(self._count_down)
        self._idle = QTimer(self)
        self._idle.setInterval(1000)
        self._idle.timeout.connect(self._idle_tick)
        self._idle.start()
        self._shown = Page.WELCOME
        app = QCoreApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.set_language(default_language)

    # ----- what the gate says ---------------------------------------------------------------------------
    @Slot(object)
    def on_event(self, event: object) -> None:
        self.show_screen(self.presenter.on_event(event))  # type: ignore[arg-type]

    @Slot(QImage)
    def on_preview(self, image: QImage) -> None:
        camera = self.pages[Page.CAMERA]
        assert isinstance(camera, CameraPage)
        if self._stack.currentWidget() is camera:
            camera.view.set_preview(image)

    @Slot(str)
    def on_fault(self, _code: str) -> None:
        """A device or the gate's worker failed: out of service (the gate stays closed)."""
        self.show_screen(self.presenter.out_of_service())

    @Slot()
    def on_restored(self) -> None:
        """The gate's worker was restarted and serves again: welcome, everything cleared."""
        self.show_screen(self.presenter.back_in_service())

    # ----- the traveller ------------------------------------------------------------------------------
    @Slot(str)
    def set_language(self, lang: str) -> None:
        self.languages.install(lang)
        self.setLayoutDirection(direction(lang))
        for page in self.pages.values():
            page.setLayoutDirection(direction(lang))
            page.retranslate(lang)
        self.show_screen(self.presenter.screen)

    def _officer(self) -> None:
        self.presenter.touched(time.monotonic())
        self.officer_requested.emit()

    def _cancel(self) -> None:
        if self.presenter.screen.in_transaction:
            self.cancel_requested.emit()
        else:
            self.show_screen(self.presenter.back(time.monotonic()))

    def _clear(self) -> None:
        """Back at welcome: nothing of it stays on screen, the next traveller starts in the default
        language."""
        camera = self.pages[Page.CAMERA]
        assert isinstance(camera, CameraPage)
        camera.view.clear()
        if self.languages.lang != self.default_language:
            self.set_language(self.default_language)

    def show_screen(self, screen: TravellerScreen) -> None:
        """Show ``screen`` (the presenter's output) on its page."""
        back_to_welcome = screen.page is Page.WELCOME and self._shown is not Page.WELCOME
        self._shown = screen.page
        if back_to_welcome:
            self._clear()
        page: TravellerPage = self.pages[screen.page]
        page.show_screen(screen, self.languages.core)
        self._stack.setCurrentWidget(page)
        if screen.page is Page.TIME_WARNING and screen.countdown_s is not None:
            self._countdown_end = time.monotonic() + screen.countdown_s
            self._countdown.start()
        else:
            self._countdown.stop()
        self.screen_shown.emit(screen)

    def _idle_tick(self) -> None:
        before = self.presenter.screen
        after = self.presenter.tick(time.monotonic())
        if after is not before:
            self.show_screen(after)

    def _count_down(self) -> None:
        warning = self.pages[Page.TIME_WARNING]
        assert isinstance(warning, TimeWarningPage)
        warning.set_left(self._countdown_end - time.monotonic())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # any touch keeps a local page alive
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin):
            self.presenter.touched(time.monotonic())
        return super().eventFilter(watched, event)

    @property
    def page(self) -> TravellerPage:
        widget = self._stack.currentWidget()
        assert isinstance(widget, TravellerPage)
        return widget

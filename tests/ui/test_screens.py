"""The traveller's pages on a real (offscreen) Qt window: every page in every language rendered to PNG with
the pinned Noto fonts, nothing clipped, right to left in Arabic (but never the camera picture), touch
targets and contrast, and nothing secret on the capture, processing and referral pages."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from kiosk.gate.events import Decided, State, StateChanged
from kiosk.texts import text
from kiosk.ui.camera_feed import to_qimage
from kiosk.ui.theme import COLOUR_PAIRS, LANGUAGES, MIN_TOUCH_CSS_PX, Theme, contrast_ratio
from kiosk.ui.traveller.language import PSEUDO, Languages
from kiosk.ui.traveller.presenter import DISCREET_PAGES, STEPS, Page, TravellerScreen
from kiosk.ui.traveller.window import TravellerWindow
from tests.ui.conftest import TS_DIR, qt_tool

SIZE = (1024, 1280)  # a 17-inch 5:4 kiosk screen, portrait
LANDSCAPE = (1280, 720)  # the smallest landscape output (Cage's headless default)
ALL_LANGUAGES = (*LANGUAGES, PSEUDO)
FLOW_CODES = {  # the flow's words each page shows
    Page.READING: "screen.document_presented",
    Page.DOCUMENT: "screen.document_retry",
    Page.CAMERA: "screen.face_capture",
    Page.PROCESSING: "screen.face_match",
    Page.GATE_OPEN: "screen.gate_open",
    Page.CANCELLED: "screen.cancelled",
    Page.OFFICER: "screen.referred",
}
# Words about scores, lists and checks, in every language the traveller may read.
SCORE_WORDS = re.compile(
    r"score|threshold|similar|match|liveness|watch ?list|confidence|probab|percent|%|"
    r"seuil|correspond|vivacit|liste|puntuaci|umbral|coincid|lista|"
    r"نتيجة|عتبة|تطابق|قائمة|درجة",
    re.IGNORECASE,
)


@pytest.fixture
def window(qtbot, qm_dir: Path) -> TravellerWindow:
    w = TravellerWindow(Theme(), Languages(qm_dir))
    qtbot.addWidget(w)
    w.resize(*SIZE)
    w.show()
    qtbot.waitExposed(w)
    return w


def screen_of(page: Page, **fields) -> TravellerScreen:
    steps = {Page.WELCOME: 1, Page.ELIGIBILITY: 1, Page.DOCUMENT: 2, Page.READING: 2, Page.CAMERA: 3}
    steps |= {Page.PROCESSING: 3, Page.TIME_WARNING: 3, Page.GATE_OPEN: STEPS, Page.OFFICER: STEPS}
    step = steps.get(page, 0)  # out of service, cancelled: no progress
    defaults = {
        "instruction": FLOW_CODES.get(page),
        "coaching": "coach.NO_FACE" if page is Page.CAMERA else None,
        "countdown_s": 20.0 if page is Page.TIME_WARNING else None,
        "extensions_left": 10,
        "can_cancel": page in (Page.DOCUMENT, Page.CAMERA, Page.TIME_WARNING),
        "can_call_officer": page not in (Page.GATE_OPEN, Page.OFFICER, Page.OUT_OF_SERVICE),
        "attempt": 2 if page is Page.DOCUMENT else 0,
        "in_transaction": page not in (Page.WELCOME, Page.ELIGIBILITY, Page.OUT_OF_SERVICE),
    }
    return TravellerScreen(page=page, step=step, **{**defaults, **fields})


def show(window: TravellerWindow, lang: str, screen: TravellerScreen, qtbot) -> QWidget:
    window.show_screen(TravellerScreen(page=Page.WELCOME, step=1))
    window.set_language(lang)
    window.show_screen(screen)
    qtbot.wait(1)  # let the layouts settle
    return window.page


def clipped(page: QWidget, window: QWidget) -> list[str]:
    """Labels and buttons whose text does not fit their box, or boxes outside the window."""
    problems = []
    bounds = window.rect()
    for w in [*page.findChildren(QLabel), *page.findChildren(QPushButton)]:
        if not w.isVisibleTo(page) or not w.text():
            continue
        top_left = w.mapTo(window, QPoint(0, 0))
        if not bounds.contains(top_left) or not bounds.contains(
            top_left + QPoint(w.width() - 1, w.height() - 1)
        ):
            problems.append(f"outside the window: {w.text()!r}")
        fm = w.fontMetrics()
        if isinstance(w, QLabel) and w.wordWrap():
            longest = max((fm.horizontalAdvance(word) for word in w.text().split()), default=0)
            if w.heightForWidth(w.width()) > w.height() or longest > w.width():
                problems.append(f"label clipped: {w.text()!r}")
        elif w.width() < w.sizeHint().width() or w.height() < w.sizeHint().height():
            problems.append(f"clipped: {w.text()!r} ({w.width()}x{w.height()} < {w.sizeHint().toTuple()})")
    return problems


@pytest.mark.parametrize("lang", ALL_LANGUAGES)
@pytest.mark.parametrize("size", [SIZE, LANDSCAPE], ids=["portrait", "landscape"])
def test_every_page_renders_unclipped(
    window, qtbot, lang: str, size: tuple[int, int], output_dir: Path
) -> None:
    window.resize(*size)
    problems = []
    for page in Page:
        shown = show(window, lang, screen_of(page), qtbot)
        assert shown.page is page
        # a page that needs more than the screen grows the window past it (a full-screen kiosk cuts it off)
        assert window.size().toTuple() == size, (page, window.size().toTuple())
        suffix = "" if size == SIZE else "-landscape"
        window.grab().save(str(output_dir / f"{lang}-{page.value}{suffix}.png"))
        problems += [f"{page}: {p}" for p in clipped(shown, window)]
        rtl = window.layoutDirection() == Qt.LayoutDirection.RightToLeft
        assert rtl == (lang == "ar")
        officer = shown.officer_button.isVisibleTo(shown)
        assert officer == (page not in (Page.GATE_OPEN, Page.OFFICER, Page.OUT_OF_SERVICE))  # EN 301 549 5.3
        assert shown.language_button.isVisibleTo(shown) or shown.languages.isVisibleTo(shown)
        if lang == "ar" and officer:  # right to left: the officer button sits on the right
            assert shown.officer_button.mapTo(window, QPoint(0, 0)).x() > size[0] / 2
        family = QFontInfo(shown.title.font()).family()
        assert family.startswith("Noto Sans"), family  # the pinned fonts are installed and used
    assert not problems, problems


def test_translations_are_finished_and_current(tmp_path: Path) -> None:
    """pyside6-lupdate over the sources finds no new, unfinished, vanished or obsolete string."""
    for ts in sorted(TS_DIR.glob("*.ts")):
        copy = tmp_path / ts.name
        copy.write_bytes(ts.read_bytes())
        sources = Path(__file__).resolve().parents[2] / "kiosk" / "ui" / "traveller" / "screens.py"
        subprocess.run(
            [qt_tool("lupdate"), str(sources), "-locations", "none", "-ts", str(copy)],
            check=True,
            capture_output=True,
        )
        states = [m.find("translation").get("type") for m in ET.parse(copy).iter("message")]
        bad = [s for s in states if s in ("unfinished", "vanished", "obsolete")]
        assert states and not bad, f"{ts.name}: {len(bad)} of {len(states)} strings are {set(bad)}"


def test_discreet_pages_show_no_digit_and_no_score_word(window, qtbot) -> None:
    coach_codes = sorted(k for k in _catalogue_keys() if k.startswith("coach."))
    assert coach_codes
    for lang in ALL_LANGUAGES:
        for page in sorted(DISCREET_PAGES):
            for coaching in coach_codes if page is Page.CAMERA else [None]:
                shown = show(window, lang, screen_of(page, coaching=coaching), qtbot)
                for words in shown.texts():
                    assert not re.search(r"\d", words), (lang, page, words)
                    assert not SCORE_WORDS.search(words.replace("[", "")), (lang, page, words)


def test_traveller_catalogues_hold_no_digit_and_no_score_word() -> None:
    keys = [k for k in _catalogue_keys() if k.startswith("coach.") or k.startswith("screen.")]
    for lang in LANGUAGES:
        for key in keys:
            words = text(key, lang)
            assert words != key, f"{lang}: no text for {key}"
            assert not re.search(r"\d", words), (lang, key, words)
            assert not SCORE_WORDS.search(words), (lang, key, words)


def test_the_referral_page_never_shows_a_reason(window, qtbot, demo_decision) -> None:
    reasons = ("WATCHLIST_HIT", "FACE_NO_MATCH", "DOC_EXPIRED")
    decided = Decided("REFER", reasons, "d1", 2.0, "t1", demo_decision)
    for lang in LANGUAGES:
        show(window, lang, TravellerScreen(page=Page.WELCOME, step=1), qtbot)
        window.on_event(StateChanged(State.DECISION, State.FACE_MATCH, 1.0, "t1"))
        window.on_event(decided)
        window.on_event(StateChanged(State.REFERRED, State.DECISION, 2.0, "t1"))
        assert window.page.page is Page.OFFICER
        shown = " ".join(window.page.texts())
        for code in reasons:
            assert code not in shown and text(f"reason.{code}", lang) not in shown


def test_camera_picture_is_a_mirror_image_in_every_direction(window, qtbot) -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (0, 0, 255)  # the camera sees red on its left (BGR)
    frame[:, 160:] = (255, 0, 0)  # and blue on its right
    grabs = []
    for lang in ("en", "ar"):
        page = show(window, lang, screen_of(Page.CAMERA), qtbot)
        page.view.set_frame(to_qimage(frame))
        image = page.view.grab().toImage()
        r = page.view.picture_rect()
        left = image.pixelColor(int(r.left() + 10), int(r.center().y()))
        assert (left.red(), left.blue()) == (0, 255), lang  # mirrored: the camera's right shows on the left
        grabs.append(image)
    assert grabs[0] == grabs[1]  # Arabic mirrors the layout, never the picture


def test_touch_targets_and_contrast() -> None:
    for dpi in (96.0, 160.0, 220.0):
        theme = Theme(dpi=dpi)
        assert theme.touch >= theme.px(MIN_TOUCH_CSS_PX) >= MIN_TOUCH_CSS_PX * dpi / 96
    for name, (fg, bg) in COLOUR_PAIRS.items():
        assert contrast_ratio(fg, bg) >= 4.5, name


def test_every_button_is_a_touch_target(window, qtbot) -> None:
    theme = window.theme
    for page in Page:
        shown = show(window, "en", screen_of(page), qtbot)
        for button in shown.findChildren(QPushButton):
            if button.isVisibleTo(shown):
                assert min(button.width(), button.height()) >= theme.px(MIN_TOUCH_CSS_PX), (
                    page,
                    button.text(),
                )


def _catalogue_keys() -> list[str]:
    import json

    import kiosk.texts

    return list(json.loads((Path(kiosk.texts.__file__).parent / "en.json").read_text()))


@pytest.fixture(scope="session")
def demo_decision():
    from kiosk.decision import Decision

    return Decision(kiosk_id="K", outcome="REFER", reason_codes=("WATCHLIST_HIT",), face_score=0.12)


NEW_COACHING = ("TOO_CLOSE", "MOVE_LEFT", "MOVE_RIGHT", "MOVE_UP", "MOVE_DOWN", "EYES_CLOSED", "MOUTH_OPEN")


def test_the_camera_page_shows_each_coaching_with_its_pictogram(
    window, qtbot, demo_setup, output_dir
) -> None:
    """Each message of the face guide, the eyes and the mouth, in English and Arabic, over a camera
    picture: rendered to PNG, nothing clipped, the words of the catalogue, and the pictogram drawn the same
    way in both directions (a right-to-left layout never turns an arrow round)."""
    frame = to_qimage(next(iter(demo_setup.frames.values()))[0])  # a real face, as the camera sees it
    for code in NEW_COACHING:
        drawn = {}
        for lang in ("en", "ar"):
            page = show(window, lang, screen_of(Page.CAMERA, coaching=f"coach.{code}"), qtbot)
            page.view.set_frame(frame)
            qtbot.wait(1)
            window.grab().save(str(output_dir / f"{lang}-camera-{code.lower()}.png"))
            assert page.coaching.text() == text(f"coach.{code}", lang)
            assert not clipped(page, window), (lang, code, clipped(page, window))
            assert page.coaching_pictogram.isVisibleTo(page) and page.coaching_pictogram.code == code
            drawn[lang] = page.coaching_pictogram.grab().toImage()
        assert drawn["en"] == drawn["ar"], code
        if code in ("MOVE_LEFT", "MOVE_RIGHT"):  # the arrow head is the heavier end of the drawing
            image = drawn["en"]

            ink = [
                sum(_guide_yellow(image, x, y) for y in range(image.height())) for x in range(image.width())
            ]
            half = len(ink) // 2
            towards_left = sum(ink[:half]) > sum(ink[half:])
            assert towards_left == (code == "MOVE_LEFT")  # the traveller's left is the mirror's left
    page = show(window, "en", screen_of(Page.CAMERA, coaching="coach.BLURRY"), qtbot)
    assert not page.coaching_pictogram.isVisibleTo(page)  # words alone for the others


def test_the_guide_drawn_is_the_guide_checked(qtbot) -> None:
    """The camera view draws the policy's face guide, mirrored with the picture."""
    from kiosk.ui.traveller.screens import CameraView
    from matcher.quality import FaceGuide

    guide = FaceGuide(centre_x=0.4, centre_y=0.45, width=0.5, height=0.6)
    view = CameraView(Theme(), guide)
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.set_frame(to_qimage(np.zeros((480, 640, 3), np.uint8)))
    r, g = view.picture_rect(), view.guide_rect()
    assert g.width() == pytest.approx(0.5 * r.height()) and g.height() == pytest.approx(0.6 * r.height())
    assert (g.center().x() - r.left()) / r.width() == pytest.approx(1 - 0.4)  # mirrored
    assert (g.center().y() - r.top()) / r.height() == pytest.approx(0.45)


def _guide_yellow(image, x: int, y: int) -> bool:
    """Whether a pixel is the face guide's yellow, whatever the background."""
    c = image.pixelColor(x, y)
    return c.red() > 200 and c.blue() < 140

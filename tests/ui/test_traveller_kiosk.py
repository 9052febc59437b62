"""Whole transactions through the real traveller kiosk (offscreen window, the gate in its worker process,
camera on its own thread): generated passports on a folder document reader, frame-folder cameras, the
real face engine, watchlist and decision log. What the worker process must be given (a fake clock, a
barrier the test can read) is in ``gate_helpers``."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import cv2
import pytest

from kiosk.config import CameraConfig, DocumentReaderConfig, UiConfig
from kiosk.devices.camera import FrameFolderCamera
from kiosk.gate.events import Decided
from kiosk.lab.demo import TRAVELLERS
from kiosk.texts import text
from kiosk.ui.traveller.presenter import Page
from tests.ui.gate_helpers import FailingBarrier, RecordingBarrier, SharedClock, open_gate_with_a_full_log

pytestmark = pytest.mark.slow

GENUINE, IMPOSTOR, EXPIRED, _, WANTED, UNUSABLE = (t.label for t in TRAVELLERS)
WAIT_MS = 60_000


class Run:
    """One kiosk under test: the pages it showed, the decisions it made."""

    def __init__(self, kiosk, tmp_path: Path, config, barrier) -> None:
        self.kiosk = kiosk
        self.tmp_path = tmp_path
        self.config = config
        self.barrier = barrier  # the worker's barrier, read back from its file
        self.pages: list[Page] = []
        self.decisions: list[Decided] = []
        kiosk.window.screen_shown.connect(lambda s: self.pages.append(s.page))
        kiosk.gate.event.connect(lambda e: self.decisions.append(e) if isinstance(e, Decided) else None)

    @property
    def window(self):
        return self.kiosk.window

    def place(self, demo_setup, label: str, name: str = "01-traveller") -> None:
        source = demo_setup.presentations[label].source
        staged = self.tmp_path / ".staged"
        shutil.copytree(source, staged)
        staged.rename(self.tmp_path / "reader" / name)

    def wait_page(self, qtbot, page: Page, timeout: int = WAIT_MS) -> None:
        """Until ``page`` is on show now."""
        try:
            qtbot.waitUntil(lambda: self.window.page.page is page, timeout=timeout)
        except Exception as exc:
            raise AssertionError(f"never reached {page}; pages shown: {self.seen()}") from exc

    def wait_seen(self, qtbot, page: Page, timeout: int = WAIT_MS) -> None:
        """Until ``page`` has been shown (it may be gone again)."""
        try:
            qtbot.waitUntil(lambda: page in self.pages, timeout=timeout)
        except Exception as exc:
            raise AssertionError(f"never showed {page}; pages shown: {self.seen()}") from exc

    def seen(self) -> list[Page]:
        """The pages shown, each change once."""
        return [p for i, p in enumerate(self.pages) if i == 0 or self.pages[i - 1] is not p]

    def click(self, qtbot, button) -> None:
        from PySide6.QtCore import Qt

        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def kiosk_run(qtbot, tmp_path: Path, demo_setup, qm_dir):
    from kiosk.gate.assemble import open_gate
    from kiosk.ui.app import TravellerKiosk

    made = []

    def make(
        frames_of: str,
        *,
        policy=None,
        clock=None,
        camera_dir: Path | None = None,
        fault_s: float = 3.0,
        barrier=None,
        opener=open_gate,
        speaker=None,
        frames=None,
        hang_s: float = 4.0,
    ):
        camera_dir = camera_dir or tmp_path / "camera"
        camera_dir.mkdir(exist_ok=True)
        for i, frame in enumerate(demo_setup.frames[frames_of] if frames is None else frames):
            cv2.imwrite(str(camera_dir / f"frame-{i:02d}.png"), frame)
        (tmp_path / "reader").mkdir()
        base = demo_setup.config
        config = dataclasses.replace(
            base,
            camera=CameraConfig(kind="folder", path=camera_dir, loop=True, fps=30.0),
            document_reader=DocumentReaderConfig(path=tmp_path / "reader", done_path=tmp_path / "done"),
            log_path=tmp_path / "decisions.sqlite",
            ui=UiConfig(mode="window", fullscreen=False, camera_fault_s=fault_s, speech=False),
            policy=policy or dataclasses.replace(base.policy, result_hold_s=0.3, capture_timeout_s=30.0),
        )
        barrier = barrier or RecordingBarrier(tmp_path / "barrier.txt")
        kiosk = TravellerKiosk(
            config,
            clock=clock,
            barrier=barrier,
            opener=opener,
            speaker=speaker,
            translations_dir=qm_dir,
            hang_s=hang_s,
        )
        made.append(kiosk)
        qtbot.addWidget(kiosk.window)
        kiosk.window.resize(1024, 1280)
        kiosk.window.show()
        run = Run(kiosk, tmp_path, config, barrier)
        kiosk.start()
        return run

    yield make
    for kiosk in made:
        kiosk.close()


def _outcome(run: Run, qtbot) -> Decided:
    qtbot.waitUntil(lambda: bool(run.decisions), timeout=WAIT_MS)
    return run.decisions[0]


def test_a_passing_traveller_goes_through(kiosk_run, demo_setup, qtbot, tmp_path: Path) -> None:
    from kiosk.ui.speech import Speaker

    speech = tmp_path / "speech"
    speech.mkdir()
    run = kiosk_run(GENUINE, speaker=Speaker(wav_dir=speech))
    run.click(qtbot, run.window.page._language_buttons["ar"])  # the traveller picks Arabic at welcome
    run.place(demo_setup, GENUINE)
    run.wait_seen(qtbot, Page.GATE_OPEN)
    run.wait_page(qtbot, Page.WELCOME)
    assert _outcome(run, qtbot).outcome == "PASS"
    assert run.seen() == [
        Page.WELCOME,
        Page.READING,
        Page.CAMERA,
        Page.PROCESSING,
        Page.GATE_OPEN,
        Page.WELCOME,
    ]
    assert run.barrier.opened == 1 and not run.barrier.is_open
    assert (run.tmp_path / "done" / "01-traveller").is_dir()  # the presentation is marked done
    said = (
        run.kiosk.speaker.said
    )  # every instruction spoken, in the traveller's language, then back to English
    assert [lang for lang, _ in said[:4]] == ["ar"] * 4 and said[-1][0] == "en"
    assert text("coach.NO_FACE", "ar") in [words for _, words in said]
    wavs = sorted(speech.glob("*.wav"))  # a new screen interrupts the last utterance: not all are complete
    assert wavs and all(w.read_bytes()[:4] == b"RIFF" for w in wavs if w.stat().st_size)


@pytest.mark.parametrize(
    ("label", "frames_of", "reason"),
    [
        (IMPOSTOR, IMPOSTOR, "FACE_NO_MATCH"),
        (WANTED, WANTED, "WATCHLIST_HIT"),
        (EXPIRED, EXPIRED, "DOC_EXPIRED"),
    ],
    ids=["face-mismatch", "watchlist-hit", "expired-document"],
)
def test_a_referred_traveller_sees_one_neutral_message(
    kiosk_run, demo_setup, qtbot, label: str, frames_of: str, reason: str
) -> None:
    run = kiosk_run(frames_of)
    run.place(demo_setup, label)
    run.wait_seen(qtbot, Page.OFFICER)
    decided = _outcome(run, qtbot)
    assert decided.outcome == "REFER" and reason in decided.reason_codes
    shown = " ".join(run.window.pages[Page.OFFICER].texts())
    for code in decided.reason_codes:
        assert code not in shown
    assert Page.CAMERA in run.pages  # the face was captured (and screened) in every case
    assert run.barrier.opened == 0


def test_a_cancelled_transaction_keeps_nothing(kiosk_run, demo_setup, qtbot) -> None:
    policy = dataclasses.replace(demo_setup.config.policy, max_capture_frames=100_000, capture_timeout_s=60.0)
    run = kiosk_run(UNUSABLE, policy=policy)
    run.place(demo_setup, GENUINE)
    run.wait_page(qtbot, Page.CAMERA)
    run.click(qtbot, run.window.page.cancel_button)
    run.wait_page(qtbot, Page.CANCELLED)  # take your document
    assert text("screen.cancelled") in run.window.page.texts()
    run.wait_page(qtbot, Page.WELCOME, timeout=10_000)
    qtbot.wait(300)
    assert run.decisions == []  # nothing decided, nothing logged
    assert (run.tmp_path / "done" / "01-traveller").is_dir()  # the document is handed back
    assert run.barrier.opened == 0


def test_a_time_out_with_more_time(kiosk_run, demo_setup, qtbot) -> None:
    clock = SharedClock()
    policy = dataclasses.replace(demo_setup.config.policy, max_capture_frames=100_000, capture_timeout_s=25.0)
    run = kiosk_run(UNUSABLE, policy=policy, clock=clock)
    run.place(demo_setup, GENUINE)
    run.wait_page(qtbot, Page.CAMERA)
    clock.advance(6.0)  # 19 s left: under policy.time_warning_s (20)
    run.wait_page(qtbot, Page.TIME_WARNING)
    assert run.window.page.more_button.isEnabled()
    run.click(qtbot, run.window.page.more_button)
    run.wait_page(qtbot, Page.CAMERA)  # one touch: back to the camera with more time
    clock.advance(30.0)
    run.wait_page(qtbot, Page.TIME_WARNING)
    clock.advance(30.0)  # no answer: the capture times out and the traveller is referred
    run.wait_seen(qtbot, Page.OFFICER)
    decided = _outcome(run, qtbot)
    assert decided.outcome == "REFER" and "QUALITY_TIMEOUT" in decided.reason_codes
    assert decided.decision.quality["attempts"]["extensions"] == 1  # the extension is on record (BSI)


def test_a_camera_fault_puts_the_gate_out_of_service(kiosk_run, demo_setup, qtbot, tmp_path: Path) -> None:
    policy = dataclasses.replace(demo_setup.config.policy, max_capture_frames=100_000, capture_timeout_s=60.0)
    camera_dir = tmp_path / "camera"
    run = kiosk_run(UNUSABLE, policy=policy, camera_dir=camera_dir, fault_s=0.5)
    run.place(demo_setup, GENUINE)
    run.wait_page(qtbot, Page.CAMERA)
    for frame in camera_dir.iterdir():  # unplugged: the camera delivers nothing any more
        frame.unlink()
    run.wait_page(qtbot, Page.OUT_OF_SERVICE, timeout=10_000)
    qtbot.wait(500)
    assert run.window.page.page is Page.OUT_OF_SERVICE
    assert run.kiosk.gate.out_of_service == "CAMERA_UNAVAILABLE"
    assert run.barrier.opened == 0
    assert run.decisions == []


def test_a_camera_that_does_not_open_puts_the_gate_out_of_service(qtbot, tmp_path, demo_setup, qm_dir):
    from kiosk.ui.app import TravellerKiosk

    (tmp_path / "reader").mkdir()
    config = dataclasses.replace(
        demo_setup.config,
        camera=CameraConfig(kind="folder", path=tmp_path / "no-camera"),
        document_reader=DocumentReaderConfig(path=tmp_path / "reader"),
        log_path=tmp_path / "decisions.sqlite",
    )
    no_camera = tmp_path / "none"
    kiosk = TravellerKiosk(config, translations_dir=qm_dir, camera=lambda: FrameFolderCamera(no_camera))
    qtbot.addWidget(kiosk.window)
    kiosk.start()
    try:
        qtbot.waitUntil(lambda: kiosk.window.page.page is Page.OUT_OF_SERVICE, timeout=10_000)
    finally:
        kiosk.close()


def test_a_barrier_that_fails_refers_then_closes_the_gate(kiosk_run, demo_setup, qtbot) -> None:
    run = kiosk_run(GENUINE, barrier=FailingBarrier())
    run.place(demo_setup, GENUINE)
    run.wait_seen(qtbot, Page.OFFICER)  # the traveller waits for an officer
    run.wait_page(qtbot, Page.OUT_OF_SERVICE)  # and nobody else is taken
    assert run.kiosk.gate.out_of_service == "BARRIER_FAILED"


def test_a_full_decision_log_refers_then_closes_the_gate(kiosk_run, demo_setup, qtbot) -> None:
    run = kiosk_run(WANTED, opener=open_gate_with_a_full_log)
    run.place(demo_setup, WANTED)  # a referral: its evidence (the live face, sealed) needs new pages
    run.wait_seen(qtbot, Page.OFFICER)
    decided = _outcome(run, qtbot)
    assert decided.outcome == "REFER" and "LOG_FAILED" in decided.reason_codes
    run.wait_page(qtbot, Page.OUT_OF_SERVICE)
    assert run.kiosk.gate.out_of_service == "LOG_FAILED"
    assert run.barrier.opened == 0


def _shifted(frame, dx: int):
    """The camera frame with the traveller ``dx`` pixels towards the picture's right (edge repeated)."""
    import numpy as np

    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(frame, m, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize(
    ("code", "lang"),
    [("MOVE_RIGHT", "en"), ("EYES_CLOSED", "ar")],
)
def test_the_capture_screen_coaches_position_and_eyes(
    kiosk_run, demo_setup, qtbot, lfw_dir: Path, code: str, lang: str
) -> None:
    """The real kiosk: a traveller standing off to their left (the face on the camera picture's right), or
    a real face with closed eyes (lfw-dev), is coached on the camera page, words and pictogram, until the
    capture ends; the gate never compares such a face."""
    if code == "MOVE_RIGHT":
        frames = [_shifted(f, 180) for f in demo_setup.frames[GENUINE]]
    else:
        closed = cv2.imread(str(lfw_dir / "images" / "Kim_Hong-up" / "Kim_Hong-up_0001.jpg"))
        frames = [cv2.copyMakeBorder(closed, 115, 115, 195, 195, cv2.BORDER_REPLICATE)]  # 480 x 640
    run = kiosk_run(GENUINE, frames=frames)
    run.click(qtbot, run.window.page._language_buttons[lang])
    run.place(demo_setup, GENUINE)
    run.wait_page(qtbot, Page.CAMERA)
    camera = run.window.pages[Page.CAMERA]
    qtbot.waitUntil(lambda: camera.coaching.text() == text(f"coach.{code}", lang), timeout=WAIT_MS)
    assert camera.coaching_pictogram.isVisibleTo(camera) and camera.coaching_pictogram.code == code
    assert not run.decisions  # no face good enough: nothing compared yet

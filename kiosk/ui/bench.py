"""``kiosk ui-bench``: is the traveller kiosk smooth while it matches? The real kiosk (the gate in its
worker process, camera on its own thread, window on the UI thread) runs generated travellers on simulated
devices: a folder document reader and a frame-folder camera (JPEG frames) paced at 30 fps. Measured:

- the preview: intervals between paints of a camera view fed by the camera thread, while a transaction runs
  (from the document placed to the result shown), as percentiles and frames per second;
- the time from a document placed on the reader to the result page shown (p50, p95).

Figures depend on the machine and its load; the benchmark prints them, it never asserts them."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication

from kiosk.config import CameraConfig, DocumentReaderConfig, UiConfig
from kiosk.ui.app import TravellerKiosk
from kiosk.ui.theme import Theme
from kiosk.ui.traveller.presenter import Page, TravellerScreen
from kiosk.ui.traveller.screens import CameraView

RESULT_PAGES = (Page.GATE_OPEN, Page.OFFICER)


class _PaintClock(QObject):
    """Time stamps of a widget's paint events, recorded while ``recording``."""

    def __init__(self) -> None:
        super().__init__()
        self.recording = False
        self.stamps: list[list[float]] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.recording and event.type() == QEvent.Type.Paint:
            self.stamps[-1].append(time.perf_counter())
        return False


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    if not values:
        return {f"p{p}": float("nan") for p in points}
    return {f"p{p}": round(float(np.percentile(values, p)), 2) for p in points}


def run_ui_bench(
    transactions: int = 20,
    *,
    workdir: Path | None = None,
    fps: float = 30.0,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``transactions`` genuine travellers through the traveller kiosk; returns the figures (and
    ``summary`` lines). A QApplication is created when none exists (use the offscreen platform without a
    screen)."""
    from kiosk.lab.demo import DEMO_POLICY, TRAVELLERS, build_demo
    from matcher import FaceEngine

    app = QApplication.instance() or QApplication(["kiosk-ui-bench"])
    temporary = workdir is None
    root = Path(tempfile.mkdtemp(prefix="egate-ui-bench-")) if workdir is None else workdir
    try:
        engine = FaceEngine.load(multiple_face_ratio=DEMO_POLICY.second_face_min_ratio, landmarks=True)
        setup = build_demo(root / "demo", engine)
        genuine = TRAVELLERS[0].label
        camera_dir, reader, done = root / "camera", root / "reader", root / "reader-done"
        for folder in (camera_dir, reader, done):
            folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(setup.frames[genuine]):
            # JPEG, as a USB camera's MJPEG stream arrives (a PNG took 4.4 ms to decode, twice as long)
            cv2.imwrite(str(camera_dir / f"frame-{i:02d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        config = dataclasses.replace(
            setup.config,
            camera=CameraConfig(kind="folder", path=camera_dir, loop=True, fps=fps),
            document_reader=DocumentReaderConfig(path=reader, done_path=done),
            ui=UiConfig(mode="window", fullscreen=False),
            policy=dataclasses.replace(setup.config.policy, result_hold_s=0.5),
        )
        kiosk = TravellerKiosk(config)  # its worker process loads its own engine
        preview = CameraView(Theme())  # the preview, kept on screen for the whole run
        preview.resize(640, 480)
        kiosk.feed.preview.connect(preview.set_preview)
        preview.resized.connect(lambda w, h: setattr(kiosk.feed, "preview_size", (w, h)))
        clock = _PaintClock()
        preview.installEventFilter(clock)
        delivered: list[float] = []  # when the camera thread emitted each preview (recorded on that thread)
        kiosk.feed.preview.connect(
            lambda _image: delivered.append(time.perf_counter()), Qt.ConnectionType.DirectConnection
        )
        shown: list[tuple[float, TravellerScreen]] = []
        kiosk.window.screen_shown.connect(lambda s: shown.append((time.perf_counter(), s)))
        kiosk.window.resize(1024, 1280)
        kiosk.window.show()
        preview.show()
        kiosk.start()
        source = setup.presentations[genuine].source
        assert source is not None
        placed_to_result: list[float] = []
        outcomes: list[str] = []
        try:
            _spin(app, 1.0)  # the camera starts
            for i in range(transactions):
                clock.stamps.append([])
                shown.clear()
                clock.recording = True
                t0 = time.perf_counter()
                staged = root / f".staged-{i:03d}"
                shutil.copytree(source, staged)
                staged.rename(reader / f"{i:03d}-traveller")  # placed: appears at once, complete
                result = _spin_until(app, lambda: next((x for x in shown if x[1].page in RESULT_PAGES), None))
                clock.recording = False
                placed_to_result.append((result[0] - t0) * 1000.0)
                outcomes.append(result[1].page.value)
                _spin_until(app, lambda: kiosk.window.page.page is Page.WELCOME)
                if echo:
                    echo(f"traveller {i + 1}: {result[1].page.value} after {placed_to_result[-1]:.0f} ms")
        finally:
            kiosk.close()
            preview.close()
            kiosk.window.close()
        intervals = [1000.0 * (b - a) for run in clock.stamps for a, b in itertools.pairwise(run)]
        frame_ms = percentiles(intervals)
        result_ms = percentiles(placed_to_result, (50, 95))
        fps_median = round(1000.0 / frame_ms["p50"], 1) if intervals else 0.0
        slow = sum(1 for v in intervals if v > 40.0)
        late_camera, latency = _slow_causes([p for run in clock.stamps for p in run], clock.stamps, delivered)
        summary = [
            f"preview while a transaction runs: {len(intervals)} frame intervals over {transactions} "
            f"transactions; p50 {frame_ms['p50']} ms ({fps_median} fps), p95 {frame_ms['p95']} ms, "
            f"p99 {frame_ms['p99']} ms; {slow} over 40 ms (under 25 fps); camera paced at {fps:g} fps",
            f"of those {slow}, {late_camera} came from the camera thread (its previews already over 40 ms "
            f"apart), {slow - late_camera} from the UI thread; preview emitted -> painted: p50 "
            f"{latency['p50']} ms, p95 {latency['p95']} ms",
            f"document placed -> result shown: p50 {result_ms['p50']:.0f} ms, p95 {result_ms['p95']:.0f} ms "
            f"({transactions} transactions, simulated devices; outcomes: {', '.join(sorted(set(outcomes)))})",
        ]
        return {
            "transactions": transactions,
            "camera_fps": fps,
            "frame_intervals": len(intervals),
            "frame_ms": frame_ms,
            "preview_fps_median": fps_median,
            "frames_over_40_ms": slow,
            "slow_from_camera_thread": late_camera,
            "emitted_to_painted_ms": latency,
            "placed_to_result_ms": result_ms,
            "outcomes": outcomes,
            "summary": summary,
        }
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def _slow_causes(
    paints: list[float], runs: list[list[float]], delivered: list[float]
) -> tuple[int, dict[str, float]]:
    """Of the paint intervals over 40 ms, how many had the camera thread's previews (the newest emitted
    before each paint) already more than 40 ms apart; and the delay from a preview's emission to its paint."""
    emitted = np.asarray(delivered)

    def newest(t: float) -> float:
        i = int(np.searchsorted(emitted, t, side="right")) - 1
        return float(emitted[i]) if i >= 0 else float("nan")

    late_camera = sum(
        1
        for run in runs
        for a, b in itertools.pairwise(run)
        if b - a > 0.040 and newest(b) - newest(a) > 0.040
    )
    delays = [1000.0 * (t - newest(t)) for t in paints if not np.isnan(newest(t))]
    return late_camera, percentiles(delays, (50, 95))


def _spin(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def _spin_until(app: QApplication, condition: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        app.processEvents()
        value = condition()
        if value:
            return value
        time.sleep(0.002)
    raise TimeoutError(f"the kiosk did not get there in {timeout_s:g} s")

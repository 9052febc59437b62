"""The supervisor view on the offscreen platform: statistics of a picked period equal ``kiosk stats``'s lines,
charts drawn, an export from the window verifies, an officer's session is refused; a screenshot is saved.
Statistics and exports run off the GUI thread: a timer keeps ticking while they run."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest
from export_helpers import World, make_world
from PySide6.QtCore import QTimer

from kiosk.export.stats import stats_lines
from kiosk.export.verify import verify_export
from kiosk.ui.supervisor.window import SupervisorWindow

SHOTS = Path(__file__).resolve().parents[2] / ".cache" / "screenshots"


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("window-world"), count=400)


def test_statistics_charts_and_export_from_the_window(qtbot, small_world: World, tmp_path: Path) -> None:
    window = SupervisorWindow(
        small_world.log, small_world.supervisor, signing_key=small_world.private_key, today=date(2026, 11, 1)
    )
    qtbot.addWidget(window)
    window.show()
    window.to_edit.setDate(window.to_edit.date().addDays(1))  # 2026-10-25 .. 2026-11-03: the whole log
    window.refresh_button.click()
    qtbot.waitUntil(lambda: window.stats is not None and not window.busy.isVisible(), timeout=60_000)
    stats = window.stats
    assert stats is not None and stats.transactions == 400
    period_line, *lines = stats_lines(stats)
    cells = [(window.table.item(r, 0).text(), window.table.item(r, 1).text()) for r in range(len(lines))]
    shown = [f"{name}: {value}".replace("\n", "; ") if value else name for name, value in cells]
    assert shown == lines and window.table.rowCount() == len(lines)  # the lines `kiosk stats` prints
    assert period_line in window.status.text()
    assert len(window.figure.axes) == 4  # over time (+ its rate axis), reasons, scores
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / "supervisor-window.png"))
    window.export_to(tmp_path / "from-window")
    qtbot.waitUntil(lambda: window.last_export is not None, timeout=60_000)
    assert "Exported 400 decisions" in window.status.text() and window.refresh_button.isEnabled()
    assert verify_export(tmp_path / "from-window").ok


def test_an_officer_session_is_refused_by_the_export_itself(
    qtbot, small_world: World, tmp_path: Path
) -> None:
    window = SupervisorWindow(small_world.log, small_world.officer, signing_key=small_world.private_key)
    qtbot.addWidget(window)
    assert not window.images_button.isEnabled()
    window.export_to(tmp_path / "x")
    qtbot.waitUntil(lambda: "not a supervisor" in window.status.text(), timeout=60_000)
    assert window.last_export is None and not (tmp_path / "x").exists() and not window.busy.isVisible()


def test_the_supervisor_command_refuses_an_officer_before_any_window(small_world: World) -> None:
    from export_helpers import kiosk

    result = kiosk("supervisor", "--log", str(small_world.log), "--account", "off-1")
    assert result.returncode == 2 and "not a supervisor" in result.stderr


def test_statistics_run_off_the_gui_thread(qtbot, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A QTimer on the GUI thread keeps ticking while the statistics of 1500 decisions are computed (three
    times over, so the computation lasts long enough to see); the busy bar shows meanwhile."""
    import kiosk.ui.supervisor.window as window_module

    spans: list[tuple[float, float, bool]] = []

    def timed_stats(*args, **kwargs):
        started = time.monotonic()
        for _ in range(2):
            window_module.period_stats.__wrapped__(*args, **kwargs)
        stats = window_module.period_stats.__wrapped__(*args, **kwargs)
        spans.append((started, time.monotonic(), threading.current_thread() is threading.main_thread()))
        return stats

    timed_stats.__wrapped__ = window_module.period_stats  # the real function, called three times
    monkeypatch.setattr(window_module, "period_stats", timed_stats)
    window = SupervisorWindow(world.log, world.supervisor, today=date(2026, 11, 1))
    qtbot.addWidget(window)
    window.show()
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    window.refresh_button.click()
    assert window.busy.isVisible() and not window.refresh_button.isEnabled()  # busy at once, not after
    qtbot.waitUntil(lambda: window.stats is not None, timeout=120_000)
    timer.stop()
    ((started, ended, on_gui_thread),) = spans
    assert not on_gui_thread
    during = [t for t in ticks if started <= t <= ended]
    gaps = [b - a for a, b in zip([started, *during], [*during, ended], strict=True)]
    assert ended - started > 0.2 and len(during) >= 5, (ended - started, len(during))
    assert max(gaps) < (ended - started) / 2  # the loop never waited for the whole computation
    assert window.stats.transactions == 1500 and not window.busy.isVisible()  # to 2026-11-02: day one

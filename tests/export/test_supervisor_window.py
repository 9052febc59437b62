"""The supervisor view on the offscreen platform: statistics of a picked period equal ``kiosk stats``'s lines,
charts drawn, an export from the window verifies, an officer's session is refused; a screenshot is saved."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from export_helpers import World, make_world

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
    stats = window.stats
    assert stats is not None and stats.transactions == 400
    period_line, *lines = stats_lines(stats)
    cells = [(window.table.item(r, 0).text(), window.table.item(r, 1).text()) for r in range(len(lines))]
    shown = [f"{name}: {value}" if value else name for name, value in cells]
    assert shown == lines and window.table.rowCount() == len(lines)  # the lines `kiosk stats` prints
    assert period_line in window.status.text()
    assert len(window.figure.axes) == 4  # over time (+ its rate axis), reasons, scores
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / "supervisor-window.png"))
    result = window.export_to(tmp_path / "from-window")
    assert result is not None and "Exported 400 decisions" in window.status.text()
    assert verify_export(tmp_path / "from-window").ok


def test_an_officer_session_is_refused_by_the_export_itself(
    qtbot, small_world: World, tmp_path: Path
) -> None:
    window = SupervisorWindow(small_world.log, small_world.officer, signing_key=small_world.private_key)
    qtbot.addWidget(window)
    assert not window.images_button.isEnabled()
    assert window.export_to(tmp_path / "x") is None
    assert "not a supervisor" in window.status.text() and not (tmp_path / "x").exists()


def test_the_supervisor_command_refuses_an_officer_before_any_window(small_world: World) -> None:
    from export_helpers import kiosk

    result = kiosk("supervisor", "--log", str(small_world.log), "--account", "off-1")
    assert result.returncode == 2 and "not a supervisor" in result.stderr

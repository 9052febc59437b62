"""``kiosk ui-bench`` runs the real kiosk and reports its figures (never asserting a speed)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_ui_bench_reports_preview_and_placed_to_result_figures(qapp, tmp_path) -> None:
    from kiosk.ui.bench import run_ui_bench

    lines: list[str] = []
    result = run_ui_bench(2, workdir=tmp_path, echo=lines.append)
    assert result["outcomes"] == ["gate_open", "gate_open"]
    assert result["frame_intervals"] > 0 and set(result["frame_ms"]) == {"p50", "p95", "p99"}
    assert set(result["placed_to_result_ms"]) == {"p50", "p95"} and result["placed_to_result_ms"]["p50"] > 0
    assert len(lines) == 2 and result["summary"][0].startswith("preview while a transaction runs")

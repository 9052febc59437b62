"""``matcher bench``: frames with a real face, per-stage statistics (figures are printed, never asserted)."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from matcher import FaceEngine
from matcher.cli import cli
from matcher.lab.bench import build_frame, run_bench


def test_bench_frames_hold_one_detectable_face(engine: FaceEngine) -> None:
    for width, height in ((640, 480), (1920, 1080)):
        frame = build_frame(width, height)
        assert frame.shape == (height, width, 3)
        assert len(engine.detect(frame)) == 1


def test_run_bench_reports_median_and_p95_per_stage() -> None:
    rows = run_bench(sizes=((640, 480),), threads=(1,), repeats=3)
    frame, compare = rows
    assert (frame.case, frame.threads, frame.repeats) == ("640x480", 1, 3)
    assert set(frame.median_ms) == {"decode", "detect", "align", "embed", "detect+align+embed"}
    for stage, median in frame.median_ms.items():
        assert 0 < median <= frame.p95_ms[stage]
    assert np.isclose(
        sum(frame.median_ms[s] for s in ("detect", "align", "embed")),
        frame.median_ms["detect+align+embed"],
        rtol=0.5,
    )
    assert compare.case.startswith("compare") and compare.median_ms["work"] > 0


def test_bench_command_help_and_bad_threads() -> None:
    runner = CliRunner()
    assert "median and p95" in runner.invoke(cli, ["bench", "--help"]).output.lower()
    result = runner.invoke(cli, ["bench", "--threads", "two"])
    assert result.exit_code != 0 and "--threads" in result.output

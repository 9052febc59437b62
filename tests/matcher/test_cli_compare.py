"""``matcher compare`` run as a real subprocess: JSON output, text output, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _matcher(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("matcher")
    command = (
        [str(script)] if script.exists() else [sys.executable, "-c", "from matcher.cli import main; main()"]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EGATE_MODELS_MANIFEST", None)
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray, grace_hopper: np.ndarray) -> Path:
    folder = tmp_path_factory.mktemp("compare")
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut)
    cv2.imwrite(str(folder / "astronaut_small_mirrored.png"), cv2.flip(cv2.resize(astronaut, (300, 300)), 1))
    cv2.imwrite(str(folder / "grace.jpg"), grace_hopper)
    cv2.imwrite(str(folder / "blank.png"), np.full((240, 320, 3), 127, dtype=np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_compare_json_reports_score_threshold_and_timings(images: Path) -> None:
    genuine = _matcher(
        "compare", str(images / "astronaut.jpg"), str(images / "astronaut_small_mirrored.png"), "--json"
    )
    assert genuine.returncode == 0, genuine.stderr
    result = json.loads(genuine.stdout)
    assert result["score"] > 0.5
    assert set(result["timings_ms"]) == {"decode", "detect", "align", "embed", "compare"}
    assert all(v >= 0 for v in result["timings_ms"].values())
    assert result["model_versions"]["embedder"].startswith("w600k_mbf@")
    if result["threshold"] is None:  # before calibration: said so, never invented
        assert result["match"] is None and "calibrat" in result["threshold_note"]
    else:
        assert result["match"] is True

    impostor = _matcher("compare", str(images / "astronaut.jpg"), str(images / "grace.jpg"), "--json")
    assert impostor.returncode == 0, impostor.stderr
    assert json.loads(impostor.stdout)["score"] < result["score"] - 0.3


def test_compare_text_output(images: Path) -> None:
    run = _matcher("compare", str(images / "astronaut.jpg"), str(images / "grace.jpg"), "--fmr", "1e-4")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("score ") and "threshold" in run.stdout and "timings ms" in run.stdout


@pytest.mark.parametrize(
    ("name", "message"),
    [("blank.png", "no face"), ("broken.jpg", "broken.jpg"), ("missing.jpg", "not found")],
)
def test_bad_input_gives_one_line_error_and_exit_2(images: Path, name: str, message: str) -> None:
    run = _matcher("compare", str(images / "astronaut.jpg"), str(images / name))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.stderr

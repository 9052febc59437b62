"""Every command-line failure is one ``error:`` line, usage errors included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name(tool)
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("kiosk", ["nonsense"], "error: No such command 'nonsense'. (see 'kiosk --help')"),
        (
            "kiosk",
            ["verify", "--document", "/nonexistent", "--live", "x"],
            "error: Invalid value for '--document'",
        ),
        ("kiosk", ["purge", "log.sqlite", "--now", "tomorrow"], "error: Invalid value for '--now'"),
        ("matcher", ["compare"], "error: Missing argument 'IMAGE_A'. (see 'matcher compare --help')"),
        ("matcher", ["watchlist", "search"], "error: Missing argument 'PROBE'."),
    ],
)
def test_usage_errors_are_one_line(tool: str, args: list[str], message: str, tmp_path: Path) -> None:
    result = _run(tool, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr


def test_an_unreadable_file_is_named_once_with_its_path(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    page.write_text("not an image")
    result = _run("kiosk", "document", "read", str(page))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: data page image {page}: not a recognised image format")
    assert result.stderr.count("page.png") == 1 and result.stderr.count("\n") == 1


def test_readme_mrz_example_runs_and_exits_0() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(
        ln.strip() for ln in readme.splitlines() if ln.strip().startswith("kiosk document read --mrz")
    )
    bin_dir = str(Path(sys.executable).parent)
    result = subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": bin_dir + ":/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"valid": true' in result.stdout


def test_commands_started_by_the_tests_write_no_cache_into_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}  # XDG_CACHE_HOME / MPLCONFIGDIR come from tests/conftest.py
    code = "from matcher import FaceEngine; FaceEngine.load(); import matplotlib.font_manager"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert list(home.iterdir()) == []


def test_os_errors_name_the_file_and_the_cause_without_errno_text(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "upstream.key"
    result = _run("matcher", "watchlist", "keygen", str(target), str(tmp_path / "upstream.pem"))
    assert result.returncode == 2
    assert result.stderr == f"error: {target}: No such file or directory\n"

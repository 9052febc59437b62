"""The kiosk session unit: Cage on tty1 running the traveller kiosk, restarted on a crash or a hang."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "egate-traveller.service"


def test_the_session_unit_is_valid_for_systemd() -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze (Debian package systemd) is needed"
    result = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_session_shows_one_full_screen_application_and_comes_back() -> None:
    unit = UNIT.read_text()
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start.startswith("ExecStart=/usr/bin/cage -d -- ") and " -s " not in start  # no VT switching
    assert start.endswith("kiosk run --config /etc/egate/kiosk.toml")
    for line in ("Restart=always", "RestartSec=1", "WatchdogSec=5", "NotifyAccess=all", "Type=notify"):
        assert line in unit.splitlines(), line
    assert "egate-kiosk.service" in next(line for line in unit.splitlines() if line.startswith("Conflicts="))

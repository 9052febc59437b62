"""``packaging/install.sh`` run into a test root (EGATE_ROOT): what the service finds there is usable."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from kiosk.config import load_config
from kiosk.store import KeyRing

REPO = Path(__file__).resolve().parents[1]


def _install(tmp_path: Path) -> Path:
    src = tmp_path / "src"  # the packaging folder alone: install.sh copies its whole repository
    shutil.copytree(REPO / "packaging", src / "packaging", dirs_exist_ok=True)
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    env = {
        **os.environ,
        "EGATE_ROOT": str(root),
        "EGATE_USER": user,
        "EGATE_GROUP": group,
        "EGATE_KIOSK": str(Path(sys.executable).with_name("kiosk")),
    }
    result = subprocess.run(
        ["bash", str(src / "packaging" / "install.sh")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return root


def test_installed_key_is_private_to_the_service_account_and_loads(tmp_path: Path) -> None:
    root = _install(tmp_path)
    key = root / "etc/egate/log.key"
    info = key.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.getuid()
    assert KeyRing.from_file(key).key_id  # the loader refuses group- or world-readable keys
    assert stat.S_IMODE((root / "etc/egate").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "var/lib/egate").stat().st_mode) == 0o750
    assert load_config(root / "etc/egate/kiosk.toml").kiosk_id  # the example configuration loads
    units = sorted(p.name for p in (root / "etc/systemd/system").iterdir())
    assert units == [
        "egate-kiosk.service",
        "egate-purge.service",
        "egate-purge.timer",
        "egate-traveller.service",
    ]
    assert (root / "etc/pam.d/egate-traveller").is_file()
    first = key.read_bytes()
    _install(tmp_path)  # a second run keeps the key (never a new one under an existing log)
    assert first == key.read_bytes()


def test_kiosk_unit_gives_up_instead_of_restarting_forever() -> None:
    unit = (REPO / "packaging/systemd/egate-kiosk.service").read_text()
    assert "Restart=always" in unit and "StartLimitBurst=" in unit and "StartLimitIntervalSec=" in unit

"""[policy.face_guide]: the oval the traveller's screen draws and the live capture checks, read, checked and
listed by ``kiosk config check`` with the other policy values."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kiosk.cli import cli
from kiosk.config import load_config
from matcher.quality import FaceGuide


def test_the_face_guide_comes_from_the_policy_table(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text("[policy.face_guide]\nwidth = 0.5\nmax_offset = 0.25\n")
    assert load_config(config).policy.face_guide == FaceGuide(width=0.5, max_offset=0.25)
    lines = CliRunner().invoke(cli, ["config", "check", str(config)]).output.splitlines()
    assert "  policy.face_guide.width = 0.5  (kiosk.toml)" in lines
    assert "  policy.face_guide.height = 0.62  (default)" in lines


def test_a_face_guide_off_the_picture_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[policy.face_guide]\nwidth = 5\nshape = "round"\n')
    output = CliRunner().invoke(cli, ["config", "check", str(config)]).output
    assert "unknown key(s) in [policy.face_guide]: shape" in output
    config.write_text("[policy.face_guide]\nwidth = 5\n")
    result = CliRunner().invoke(cli, ["config", "check", str(config)])
    assert (
        result.exit_code == 1
        and "[policy.face_guide]: face guide width must be in (0, 2], got 5.0" in result.output
    )

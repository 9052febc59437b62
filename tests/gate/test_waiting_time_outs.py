"""WCAG 2.2.1 in the configuration: a waiting state's time-out must leave room for the time warning, which
comes ``policy.time_warning_s`` (at least 20 s) before it; ``kiosk config check`` says so in one line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kiosk.cli import cli
from kiosk.config import load_config
from kiosk.lab.demo import DEMO_POLICY

EXAMPLE = Path(__file__).resolve().parents[2] / "packaging" / "kiosk.example.toml"


def test_config_check_refuses_a_wait_too_short_to_warn(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text("[policy]\ncapture_timeout_s = 10.0\n")
    result = CliRunner().invoke(cli, ["config", "check", str(config)])
    assert result.exit_code == 1
    assert (
        "policy.capture_timeout_s (10 s) must be longer than policy.time_warning_s (20 s): a shorter wait "
        "cannot warn the traveller 20 s before it ends (WCAG 2.2.1)" in result.output
    )
    config.write_text(
        "[policy]\ncapture_timeout_s = 90.0\ndocument_timeout_s = 60.0\ntime_warning_s = 60.0\n"
    )
    result = CliRunner().invoke(cli, ["config", "check", str(config)])
    assert result.exit_code == 1 and "policy.document_timeout_s (60 s) must be longer" in result.output


def test_the_shipped_configurations_give_the_warning_its_time() -> None:
    for policy in (load_config(EXAMPLE).policy, DEMO_POLICY):
        assert policy.capture_timeout_s > policy.time_warning_s >= 20
        assert policy.document_timeout_s > policy.time_warning_s

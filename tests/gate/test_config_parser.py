"""kiosk.config is the only parser of the configuration: it types every value of [policy] and [liveness]
with one rule, checks the quality-limit overrides, and the Policy holds the resolved limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import config_from_mapping
from kiosk.config_check import check_config
from kiosk.errors import ConfigError
from kiosk.liveness import LivenessConfig
from kiosk.policy import Policy
from matcher.quality import QualityLimits


def test_the_policy_holds_the_resolved_quality_limits() -> None:
    policy = config_from_mapping({"policy": {"quality": {"max_yaw_deg": 20}}}).policy
    assert policy.live_limits == QualityLimits(max_yaw_deg=20.0)
    assert policy.document_limits == QualityLimits.for_enrolment()
    assert Policy().live_limits == QualityLimits.for_live_capture()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"policy": {"fmr": "0.001"}}, r"policy.fmr has the wrong type \(str\): it must be a number"),
        ({"policy": {"refer_categories": [1]}}, "policy.refer_categories .* a list of strings"),
        (
            {"liveness": {"challenge": "yes"}},
            r"liveness.challenge has the wrong type \(str\): .* true or false",
        ),
        ({"policy": {"live_limits": {}}}, r"unknown key\(s\) in \[policy\]: live_limits"),
        ({"policy": {"document_quality": {"max_yaw_deg": True}}}, r"\[policy.document_quality\] values"),
    ],
)
def test_one_rule_types_every_value(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(data)


def test_the_parsing_lives_in_config_only() -> None:
    assert not hasattr(Policy, "from_mapping") and not hasattr(LivenessConfig, "from_mapping")


def test_config_check_reads_the_file_as_load_config_does(tmp_path: Path) -> None:
    bad = tmp_path / "kiosk.toml"
    bad.write_text("[policy\n")
    report = check_config(bad)
    assert len(report.problems) == 1 and f"{bad}: invalid TOML" in report.problems[0]
    with pytest.raises(ConfigError, match="configuration file not found"):
        check_config(tmp_path / "missing.toml")

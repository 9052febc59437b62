"""Configuration loading and policy interpretation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk.config import (
    _SCHEMA,
    CameraConfig,
    ChipReaderConfig,
    DocumentReaderConfig,
    KioskConfig,
    config_from_mapping,
    load_config,
)
from kiosk.documents.checks import Check
from kiosk.errors import ConfigError
from kiosk.liveness import LivenessConfig
from kiosk.policy import Policy, reason_for_check
from kiosk.texts import catalogue, reason_text

EXAMPLE = Path(__file__).resolve().parents[2] / "packaging" / "kiosk.example.toml"


def test_defaults_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg == KioskConfig()
    assert cfg.policy.fmr == 1e-3
    assert cfg.camera.kind == "opencv" and cfg.barrier.kind == "log"
    assert cfg.log_path is None and cfg.watchlist is None


def test_example_file_is_the_defaults() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.policy == Policy()
    assert cfg.liveness == LivenessConfig()
    assert cfg.kiosk_id == KioskConfig().kiosk_id
    assert cfg.camera == KioskConfig().camera


def _uncommented_example(tmp_path: Path) -> Path:
    """The example file with every commented-out ``# key = value`` line made live."""
    text = re.sub(r"(?m)^# ?([a-z_]+ *= *)", r"\1", EXAMPLE.read_text())
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    return path


def test_example_file_with_every_commented_key_loads(tmp_path: Path) -> None:
    cfg = load_config(_uncommented_example(tmp_path))
    assert cfg.camera.path == tmp_path / "frames"
    assert cfg.chip_reader.reader == "Virtual PCD 00 00"
    assert cfg.document_reader.done_path == tmp_path / "var/reader-done"
    assert cfg.watchlist == tmp_path / "var/watchlists" and cfg.watchlist_lists == ("interpol", "national")
    assert cfg.log_path == tmp_path / "var/decisions.sqlite" and cfg.key_file == Path("/etc/egate/log.key")
    assert cfg.policy.quality == {"min_inter_eye_px": 30.0}
    assert cfg.policy.document_quality == {"min_inter_eye_px": 20.0}


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    written = set(re.findall(r"(?m)^(?:# ?)?([a-z_]+) *=", text))
    tables = {"camera", "document_reader", "chip_reader", "barrier"}
    keys = {k for table in _SCHEMA.values() for k in table} - tables
    keys |= set(CameraConfig.__dataclass_fields__) | set(DocumentReaderConfig.__dataclass_fields__)
    keys |= set(ChipReaderConfig.__dataclass_fields__)
    keys -= {"quality", "document_quality", "face_guide"}  # tables of their own
    assert sorted(keys - written) == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"passive_threshold": 1.5}, "passive_threshold must be between 0 and 1"),
        ({"min_frames": 1}, "min_frames must be at least 2"),
        ({"min_frames": 5.0}, "min_frames has the wrong type"),
        ({"max_scale_change": 1.0}, "max_scale_change > 1"),
        ({"sensor": "nir"}, "liveness.sensor must be one of none, simulated, got 'nir'"),
        ({"sensor": 1}, "liveness.sensor has the wrong type"),
        ({"threshold": 0.3}, r"unknown key\(s\) in \[liveness\]: threshold"),
    ],
)
def test_liveness_table_refusals(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping({"liveness": table})


def test_liveness_table_values() -> None:
    cfg = config_from_mapping(
        {"liveness": {"passive_threshold": 0.35, "min_frames": 7, "sensor": "simulated"}}
    )
    assert cfg.liveness == LivenessConfig(passive_threshold=0.35, min_frames=7, sensor="simulated")


def test_unknown_quality_limit_is_refused_when_the_file_is_read() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[policy.quality\]: min_face_px \(known: "):
        config_from_mapping({"policy": {"quality": {"min_face_px": 80}}})


def test_values_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text(
        """
[kiosk]
id = "LHR-T5-07"
[devices.camera]
kind = "folder"
path = "frames"
[devices.chip_reader]
kind = "pcsc"
reader = "ACS ACR1252"
time_budget_s = 2.5
[store]
path = "var/log.sqlite"
synchronous = "normal"
[policy]
fmr = 0.0001
max_match_attempts = 3
blocking_checks = ["chip.pa.*"]
refer_categories = ["wanted", "missing*"]
liveness_required = true
[policy.quality]
max_yaw_deg = 20.0
"""
    )
    cfg = load_config(tmp_path / "kiosk.toml")
    assert cfg.kiosk_id == "LHR-T5-07"
    assert cfg.camera.path == tmp_path / "frames"
    assert cfg.chip_reader == ChipReaderConfig("pcsc", "ACS ACR1252", 2.5)
    assert cfg.chip_reader == ChipReaderConfig("pcsc", "ACS ACR1252", 2.5)
    assert cfg.log_path == tmp_path / "var" / "log.sqlite" and cfg.log_synchronous == "NORMAL"
    p = cfg.policy
    assert (p.fmr, p.max_match_attempts, p.liveness_required) == (1e-4, 3, True)
    assert p.blocking_checks == ("chip.pa.*",)
    assert p.quality == {"max_yaw_deg": 20.0}
    assert p.category_refers("missing-person") and not p.category_refers("info")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"polcy": {}}, "unknown key"),
        ({"policy": {"fmr": 2.0}}, "fmr"),
        ({"policy": {"fmrr": 0.001}}, "unknown key"),
        ({"policy": {"max_match_attempts": 0}}, "at least 1"),
        ({"policy": {"max_match_attempts": "2"}}, "integer"),
        ({"policy": {"liveness_required": 1}}, "true or false"),
        ({"policy": {"blocking_checks": "mrz.*"}}, "list of strings"),
        ({"devices": {"camera": {"kind": "webcam"}}}, "devices.camera.kind"),
        ({"devices": {"camera": {"kind": "video"}}}, "path is required"),
        ({"devices": {"barrier": {"kind": "relay"}}}, "barrier.kind"),
        ({"devices": {"chip_reader": {"kind": "nfc"}}}, "devices.chip_reader.kind"),
        ({"devices": {"chip_reader": {"time_budget_s": 0}}}, "time_budget_s must be more than 0"),
        ({"devices": {"chip_reader": {"reader": 1}}}, "devices.chip_reader.reader must be a string"),
        ({"kiosk": {"id": ""}}, "kiosk.id"),
        ({"store": {"synchronous": "OFF"}}, "store.synchronous"),
    ],
)
def test_invalid_configuration_is_a_named_error(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(data)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy\nfmr = ")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("check", "code"),
    [
        ("mrz.document_number.check_digit", "DOC_CHECKSUM"),
        ("mrz.composite.check_digit", "DOC_CHECKSUM"),
        ("doc.not_expired", "DOC_EXPIRED"),
        ("mrz.expiry_date.check_digit", "DOC_CHECKSUM"),
        ("mrz.expiry_date.valid_date", "DOC_CHECK_FAILED"),
        ("chip.dg1.document_number.check_digit", "DOC_CHECKSUM"),
        ("chip.pa.sod_signature", "CHIP_PA_FAILED"),
        ("chip.pa.dg2_hash", "CHIP_PA_FAILED"),
        ("doc.chip_matches_mrz", "CHIP_MRZ_MISMATCH"),
        ("chip.dg2.parse", "CHIP_UNREADABLE"),
        ("chip.present", "CHIP_ABSENT"),
        ("chip.access", "CHIP_ACCESS_DENIED"),
        ("chip.read", "CHIP_UNREADABLE"),
        ("mrz.issuing_state.known_code", "DOC_CHECK_FAILED"),
    ],
)
def test_failed_check_reason_codes(check: str, code: str) -> None:
    assert reason_for_check(check) == code
    assert f"reason.{code}" in catalogue("en")


def test_blocking_and_non_blocking_checks() -> None:
    policy = Policy(blocking_checks=("mrz.*", "chip.*"), non_blocking_checks=("chip.pa.crl",))
    checks = [
        Check("mrz.document_number.check_digit", False),
        Check("chip.pa.crl", False, "CRL out of date"),
        Check("chip.pa.dg2_hash", False),
        Check("chip.pa.sod_signature", False),
        Check("ocr.confidence", False),
        Check("mrz.format", True),
    ]
    assert policy.document_reasons(checks) == ["DOC_CHECKSUM", "CHIP_PA_FAILED"]


def test_every_reason_code_has_an_officer_text() -> None:
    reasons = {k.removeprefix("reason."): v for k, v in catalogue("en").items() if k.startswith("reason.")}
    for code, text in reasons.items():
        assert code.isupper() and len(text) > 20
    assert reason_text("UNKNOWN_CODE") == "UNKNOWN_CODE"

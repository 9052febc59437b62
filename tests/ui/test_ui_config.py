"""The [ui] table: typed, checked, defaulting to a screenless gate, and listed by `kiosk config check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import UiConfig, config_from_mapping, load_config
from kiosk.config_check import check_config
from kiosk.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "packaging" / "kiosk.example.toml"


def test_defaults_keep_the_gate_headless_and_the_example_is_the_defaults() -> None:
    assert config_from_mapping({}).ui == UiConfig() and UiConfig().mode == "headless"
    assert load_config(EXAMPLE).ui == UiConfig()


def test_values_are_read_and_checked() -> None:
    ui = config_from_mapping(
        {"ui": {"mode": "window", "language": "ar", "document_kinds": ["passport", "id_card"], "min_age": 12}}
    ).ui
    assert (ui.mode, ui.language, ui.document_kinds, ui.min_age) == (
        "window",
        "ar",
        ("passport", "id_card"),
        12,
    )
    for bad in (
        {"mode": "kiosk"},
        {"language": "de"},
        {"document_kinds": []},
        {"document_kinds": ["visa"]},
        {"idle_s": 0},
        {"speech": "yes"},
        {"colour": "red"},
    ):
        with pytest.raises(ConfigError, match="ui"):
            config_from_mapping({"ui": bad})


def test_config_check_lists_the_ui_values(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[ui]\nmode = "window"\n')
    values = {key: (value, origin) for key, value, origin in check_config(path).values}
    assert values["ui.mode"] == ("window", "file") and values["ui.speech"] == (True, "default")

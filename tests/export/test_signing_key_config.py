"""The export signing key from the kiosk's configuration (``[export] signing_key``): used by ``kiosk export``
(``--signing-key`` and ``EGATE_EXPORT_SIGNING_KEY`` override it), checked by ``kiosk config check``; a
missing or unusable key is one line, a non-zero exit, and nothing written (no folder, no log row)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from export_helpers import World, kiosk, make_world

from kiosk.config import load_config
from kiosk.errors import ConfigError
from matcher.signing import generate_signing_key, key_id, load_signing_key

DAY = ("--from", "2026-11-01", "--to", "2026-11-02")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("key-world"), count=200)


def _config(folder: Path, world: World, signing_key: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kiosk.toml"
    text = f'[store]\npath = "{world.log}"\n'
    if signing_key is not None:
        text += f'[export]\nsigning_key = "{signing_key}"\n'
    path.write_text(text)
    return path


def _counts(world: World) -> tuple[int, int]:
    """(rows of the decisions' chain, account events): what an export would add."""
    conn = sqlite3.connect(world.log)
    try:
        chained = sum(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("decisions", "resolutions", "exports")
        )
        return chained, conn.execute("SELECT count(*) FROM account_events").fetchone()[0]
    finally:
        conn.close()


def _export(config: Path, out: Path, *extra: str, env: dict[str, str] | None = None):
    return kiosk(
        "export", "--config", str(config), *DAY, "--out", str(out), "--account", "sup-1", *extra, env=env
    )


def test_the_configured_key_signs_and_the_command_line_overrides_it(small: World, tmp_path: Path) -> None:
    # a relative path is read against the configuration's folder
    (tmp_path / "keys").mkdir()
    generate_signing_key(tmp_path / "keys" / "agency.pem", tmp_path / "keys" / "agency.pub")
    config = _config(tmp_path, small, "keys/agency.pem")
    assert load_config(config).export_signing_key == tmp_path / "keys" / "agency.pem"
    result = _export(config, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    configured = key_id(load_signing_key(tmp_path / "keys" / "agency.pem").public_key())
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["signature"]["key_id"] == configured
    verified = kiosk(
        "verify-export", str(tmp_path / "out"), "--public-key", str(tmp_path / "keys" / "agency.pub")
    )
    assert verified.returncode == 0, verified.stdout
    given = key_id(load_signing_key(small.private_key).public_key())
    result = _export(config, tmp_path / "given", "--signing-key", str(small.private_key))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "given" / "manifest.json").read_text())["signature"]["key_id"] == given
    result = _export(config, tmp_path / "env", env={"EGATE_EXPORT_SIGNING_KEY": str(small.private_key)})
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "env" / "manifest.json").read_text())["signature"]["key_id"] == given


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("missing.pem", "missing.pem ([export] signing_key): No such file or directory"),
        ("not-a-key.pem", "not-a-key.pem ([export] signing_key): "),
        ("public.pub", "public.pub ([export] signing_key): "),
        (None, "no export signing key: give --signing-key, EGATE_EXPORT_SIGNING_KEY or [export] signing_key"),
    ],
)
def test_a_missing_or_unusable_key_writes_nothing(
    small: World, tmp_path: Path, key: str | None, message: str
):
    (tmp_path / "not-a-key.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    )
    generate_signing_key(tmp_path / "private.pem", tmp_path / "public.pub")
    config = _config(tmp_path, small, key)
    before = _counts(small)
    result = _export(config, tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    assert _counts(small) == before  # no sign-in, no export event: nothing logged
    if key is not None:  # the supervisor view refuses the same key before any window
        view = kiosk("supervisor", "--config", str(config), "--account", "sup-1")
        assert view.returncode == 2 and message in view.stderr


def test_config_check_validates_the_export_key(small: World, tmp_path: Path) -> None:
    generate_signing_key(tmp_path / "agency.pem", tmp_path / "agency.pub")
    good = kiosk(
        "config", "check", str(_config(tmp_path / "good", small, str(tmp_path / "agency.pem"))), "--json"
    )
    report = json.loads(good.stdout)
    assert not [p for p in report["problems"] if "export.signing_key" in p]
    assert {"key": "export.signing_key", "value": str(tmp_path / "agency.pem"), "from": "file"} in report[
        "values"
    ]
    bad = kiosk("config", "check", str(_config(tmp_path / "bad", small, str(tmp_path / "agency.pub"))))
    assert bad.returncode == 1
    assert f"export.signing_key: {tmp_path / 'agency.pub'}: " in bad.stdout
    missing = kiosk("config", "check", str(_config(tmp_path / "missing", small, "nowhere.pem")))
    assert (
        f"export.signing_key: {tmp_path / 'missing' / 'nowhere.pem'}: No such file or directory"
        in missing.stdout
    )
    (tmp_path / "typo.toml").write_text('[export]\nsigning_keys = "x.pem"\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[export\]: signing_keys"):
        load_config(tmp_path / "typo.toml")

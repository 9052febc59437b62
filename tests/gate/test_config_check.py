"""``kiosk config check``: every problem at once, the start-up checks, effective values and their origin."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kiosk.cli import cli


def _check(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    return result.exit_code, result.output.splitlines()


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        '[kiosk]\nid = ""\n[policy]\nfmr = 5\nmax_capture_frames = 0\n[policy.quality]\nmin_face_px = 3\n'
        '[watchlist]\npath = "wl"\n[devices.camera]\nkind = "video"\n'
    )
    code, lines = _check(config)
    assert code == 1 and lines[0] == f"{config}: 9 problem(s)"
    problems = "\n".join(lines[1:])
    for expected in (
        "kiosk.id must not be empty",
        "policy.fmr must be between 0 and 1",
        "policy.max_capture_frames must be at least 1",
        "unknown key(s) in [policy.quality]: min_face_px",
        "devices.camera.path is required for a 'video' camera",
        "store.path is not set",
        "devices.document_reader.path is required",
        f"watchlist.path: no watchlist store at {tmp_path / 'wl'}",
        "devices.camera names the camera by index only",  # the default camera, once the faulty kind is out
    ):
        assert expected in problems
    assert not (tmp_path / "wl").exists()


def test_a_working_configuration_shows_effective_values_and_origins(demo_setup, tmp_path: Path) -> None:
    cfg = demo_setup.config
    (tmp_path / "reader").mkdir()
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[devices.document_reader]\npath = "reader"\n[documents]\ntrust_store = "{cfg.trust_store}"\n'
        f'[watchlist]\npath = "{cfg.watchlist}"\n'
        f'[store]\npath = "decisions.sqlite"\nkey_file = "{cfg.key_file}"\n'
        "[policy]\nfmr = 0.0001\n"
        '[devices.camera]\nkind = "folder"\npath = "reader"\n'
    )
    code, lines = _check(config)
    assert code == 0 and lines[0] == f"{config}: ok"
    assert "  policy.fmr = 0.0001  (kiosk.toml)" in lines
    assert "  policy.max_match_attempts = 2  (default)" in lines
    assert f"  devices.document_reader.path = {tmp_path / 'reader'}  (kiosk.toml)" in lines
    assert not (tmp_path / "decisions.sqlite").exists()  # checking creates nothing


def test_a_missing_chip_reader_is_a_start_up_problem(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[devices.chip_reader]\nkind = "pcsc"\nreader = "No Such Reader 99"\n')
    code, lines = _check(config)
    problems = "\n".join(lines[1:])
    assert code == 1 and "devices.chip_reader: no PC/SC" in problems  # no service, or no such reader
    assert "  devices.chip_reader.reader = 'No Such Reader 99'  (kiosk.toml)" in lines


def test_a_missing_document_list_store_is_a_start_up_problem(tmp_path: Path) -> None:
    (tmp_path / "list.key").write_text(bytes(range(32)).hex())
    config = tmp_path / "kiosk.toml"
    config.write_text('[document_lists]\npath = "no-such-lists"\nkey_file = "list.key"\n')
    code, lines = _check(config)
    problems = "\n".join(lines[1:])
    assert code == 1 and "document_lists:" in problems and "no-such-lists" in problems
    assert f"  document_lists.path = {tmp_path / 'no-such-lists'}  (kiosk.toml)" in lines
    assert not (tmp_path / "no-such-lists").exists()  # checking creates nothing


def test_liveness_settings_show_their_effective_values(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text("[liveness]\nmin_frames = 7\n")
    _, lines = _check(config)
    assert "  liveness.min_frames = 7  (kiosk.toml)" in lines
    assert "  liveness.passive_threshold = 0.2  (default)" in lines

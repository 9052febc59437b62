"""``kiosk verify``, ``kiosk demo`` and ``kiosk run`` as subprocesses, on generated travellers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from run_setup import GENUINE, write_run_setup

from kiosk.lab.demo import TRAVELLERS, run_demo
from kiosk.store import DecisionLog

REPO = Path(__file__).resolve().parents[2]
IMPOSTOR = "impostor with Hopper's passport"


def kiosk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("kiosk")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from kiosk.cli import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.fixture(scope="module")
def gate_config(demo_setup, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TOML configuration naming the demo's trust store, watchlist and state code."""
    folder = tmp_path_factory.mktemp("config")
    cfg = demo_setup.config
    (folder / "kiosk.toml").write_text(
        f"""
[kiosk]
id = "TEST-KIOSK"
[documents]
trust_store = "{cfg.trust_store}"
extra_state_codes = ["UTO"]
[watchlist]
path = "{cfg.watchlist}"
"""
    )
    return folder / "kiosk.toml"


def _frame_file(demo_setup, label: str, folder: Path, index: int = 0) -> Path:
    path = folder / f"live-{index}.png"
    cv2.imwrite(str(path), demo_setup.frames[label][index])
    return path


def test_verify_genuine_json(demo_setup, gate_config: Path, tmp_path: Path) -> None:
    live = _frame_file(demo_setup, GENUINE, tmp_path)
    document = demo_setup.presentations[GENUINE].source
    result = kiosk(
        "verify", "--document", str(document), "--live", str(live), "--json", "--config", str(gate_config)
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["outcome"] == "PASS" and record["reason_codes"] == []
    assert record["kiosk_id"] == "TEST-KIOSK"
    assert record["face_score"] >= record["face_threshold"]
    assert record["liveness"]["assessed"] is False
    assert record["document_number_hash"] is None  # no log keys configured: the number is not kept at all


def test_verify_impostor_from_a_video_and_chip_folder(demo_setup, gate_config: Path, tmp_path: Path) -> None:
    video = tmp_path / "live.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for frame in demo_setup.frames[IMPOSTOR]:
        writer.write(frame)
    writer.release()
    chip = demo_setup.presentations[IMPOSTOR].chip
    result = kiosk("verify", "--document", str(chip), "--live", str(video), "--config", str(gate_config))
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("REFER") and "FACE_NO_MATCH" in result.stdout
    assert "does not match the document portrait" in result.stdout  # the officer's text


def _huge_png(path: Path) -> Path:
    """A small file whose header declares 9000 x 9000 pixels (81 million: over the decoder's limit)."""
    from PIL import Image

    Image.new("1", (9000, 9000)).save(path)
    return path


def test_verify_unreadable_input_is_an_error_naming_the_file(
    demo_setup, gate_config: Path, tmp_path: Path
) -> None:
    document = str(demo_setup.presentations[GENUINE].source)
    live = _frame_file(demo_setup, GENUINE, tmp_path)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(live.read_bytes()[:2000])
    bad = {
        "empty.jpg": b"",
        "notes.txt": b"not an image",
        "truncated.jpg": b"\xff\xd8\xff\xe0 truncated",
        "clip.mp4": b"\x00\x00\x00\x18ftypmp42 and then nothing",
    }
    cases = [(tmp_path / name, data) for name, data in bad.items()]
    for path, data in cases:
        path.write_bytes(data)
    cases_live = [p for p, _ in cases] + [truncated, _huge_png(tmp_path / "huge.png")]
    causes = (
        "zero bytes",
        "neither a video with a decodable frame nor an image",
        "Truncated File Read",
        "neither a video with a decodable frame nor an image",
    )
    for path, cause in zip(cases_live, (*causes, "truncated", "pixels, more than"), strict=True):
        result = kiosk("verify", "--document", document, "--live", str(path), "--config", str(gate_config))
        assert result.returncode == 2 and result.stdout == "", path
        assert result.stderr.startswith(f"error: live capture {path}: ") and cause in result.stderr, (
            result.stderr
        )
        assert result.stderr.count("\n") == 1

    for path in (tmp_path / "notes.txt", truncated):
        result = kiosk("verify", "--document", str(path), "--live", str(live))
        assert result.returncode == 2 and result.stderr.startswith(f"error: document page {path}: ")
        assert result.stderr.count("\n") == 1
    empty_folder = tmp_path / "presentation"
    empty_folder.mkdir()
    result = kiosk("verify", "--document", str(empty_folder), "--live", str(live))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: document {empty_folder}: holds neither a data-page image nor a chip folder\n"
    )


def test_verify_page_without_mrz_is_the_travellers_referral(demo_setup, tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    cv2.imwrite(str(page), demo_setup.frames[GENUINE][0])  # an image, but no document in it
    live = _frame_file(demo_setup, GENUINE, tmp_path)
    result = kiosk("verify", "--document", str(page), "--live", str(live), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["reason_codes"][0] == "DOC_UNREADABLE"


def test_verify_bad_config_is_one_line(demo_setup, tmp_path: Path) -> None:
    document = str(demo_setup.presentations[GENUINE].source)
    live = _frame_file(demo_setup, GENUINE, tmp_path)
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[policy]\nfmr = 5\n")
    result = kiosk("verify", "--document", document, "--live", str(live), "--config", str(bad_config))
    assert result.returncode == 2 and result.stderr.startswith("error:") and "fmr" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_decisions_are_logged_with_the_expected_reason_codes(engine, tmp_path: Path) -> None:
    results = run_demo(tmp_path / "demo", engine=engine)
    assert [r.label for r in results] == [t.label for t in TRAVELLERS]
    for traveller, result in zip(TRAVELLERS, results, strict=True):
        assert result.decision.reason_codes == traveller.expected, traveller.label
        assert result.decision.outcome == ("REFER" if traveller.expected else "PASS")
        assert result.as_expected
    with DecisionLog(tmp_path / "demo" / "decisions.sqlite", readonly=True) as log:
        assert log.verify().ok and log.head()[0] == len(TRAVELLERS)
        for result in results:
            row = log.decision(result.decision.id)
            assert row is not None and row.document_number_hash == result.decision.document_number_hash


def test_demo_command_prints_one_line_per_traveller() -> None:
    result = kiosk("demo", timeout=180)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "REFER"))]
    assert len(lines) == len(TRAVELLERS)
    for traveller, line in zip(TRAVELLERS, lines, strict=True):
        assert traveller.label in line
        assert line.startswith("REFER" if traveller.expected else "PASS")
        for code in traveller.expected:
            assert code in line


def test_run_headless_on_folder_devices(demo_setup, tmp_path: Path) -> None:
    config = write_run_setup(
        demo_setup, tmp_path, (GENUINE, "expired passport (Collins)"), kiosk_id="RUN-KIOSK"
    )
    result = kiosk("run", "--config", str(config), "--max-transactions", "2", timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "REFER"))]
    assert len(lines) == 2
    assert lines[0].startswith("PASS") and "DOC_EXPIRED" in lines[1]
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["01-collins", "03-collins"]
    assert (tmp_path / "var" / "decisions.sqlite").is_file()


def _kiosk_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    script = Path(sys.executable).with_name("kiosk")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from kiosk.cli import main; main()"]
    pythonpath = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": pythonpath, **(env or {})}
    return subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_sigterm_during_the_result_display_does_not_decide_twice(demo_setup, tmp_path: Path) -> None:
    config = write_run_setup(demo_setup, tmp_path, (GENUINE,), hold_s=60.0)
    proc = _kiosk_process("run", "--config", str(config))
    try:
        line = proc.stdout.readline()  # the decision line: committed, result on display for 60 s
        assert line.startswith("PASS"), line + proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert [p.name for p in (tmp_path / "done").iterdir()] == ["01-collins"]
    proc = _kiosk_process("run", "--config", str(config))  # restarted: nothing left to decide
    time.sleep(5)  # started and polling the empty reader (the signal handler is set before that)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == "" and "served 0 traveller(s)" in err
    with DecisionLog(tmp_path / "var" / "decisions.sqlite", readonly=True) as log:
        assert log.head()[0] == 1 and log.verify().ok


def test_demo_workdir_holds_a_working_configuration_and_says_what_to_try(engine, tmp_path: Path) -> None:
    from kiosk.config_check import check_config

    lines: list[str] = []
    run_demo(tmp_path / "demo", engine=engine, echo=lines.append)
    config = tmp_path / "demo" / "kiosk.toml"
    report = check_config(config)
    assert report.ok, report.problems
    assert lines[-6] == "next, try:" and lines[-5] == f"  kiosk config check {config}"
    verify_line = lines[-4].split()
    assert verify_line[:2] == ["kiosk", "verify"]
    result = kiosk(*verify_line[1:])  # the printed command works as printed
    assert result.returncode == 0 and result.stdout.startswith("PASS"), result.stderr


def test_run_tells_systemd_it_is_ready_and_pings_the_watchdog(demo_setup, tmp_path: Path) -> None:
    import socket

    config = write_run_setup(demo_setup, tmp_path, ())
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(60)
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}  # WatchdogSec=1: a ping every 0.5 s
        proc = _kiosk_process("run", "--config", str(config), env=env)
        try:
            messages = [sock.recv(4096).decode()]  # READY comes once models, log and devices are open
            messages += [sock.recv(4096).decode() for _ in range(3)]
            proc.send_signal(signal.SIGTERM)
            while messages[-1] != "STOPPING=1":
                messages.append(sock.recv(4096).decode())
            assert proc.wait(timeout=30) == 0
        finally:
            proc.kill()
            proc.wait()
    assert messages[0] == "READY=1\nSTATUS=kiosk KIOSK-01: serving"
    assert messages[1:4] == ["WATCHDOG=1"] * 3
    assert set(messages[4:-1]) <= {"WATCHDOG=1"}

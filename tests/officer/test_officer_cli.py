"""``kiosk officer add|list|show|resolve|unlock`` as subprocesses on a log filled by the gate; passwords on
standard input, never in argv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.officer.officer_helpers import GateLog

REPO = Path(__file__).resolve().parents[2]
SUP_PW, OFF_PW, OFF2_PW = "supervisor-cli-1", "officer-cli-11", "officer-cli-22"


def kiosk(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("kiosk")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from kiosk.cli import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [*cmd, *args], input=stdin, capture_output=True, text=True, timeout=120, env=env, cwd=REPO
    )


def test_officer_cli_twins(gate_log: GateLog) -> None:
    log = ["--log", str(gate_log.path), "--password-stdin"]
    empty = kiosk("officer", "--log", str(gate_log.path), "--key", str(gate_log.key_file))
    assert empty.returncode == 2 and "has no accounts" in empty.stderr and "kiosk officer add" in empty.stderr
    first = kiosk("officer", "add", "sup-1", "--role", "supervisor", *log, stdin=f"{SUP_PW}\n")
    assert first.returncode == 0, first.stderr
    assert "added supervisor sup-1 for gates *" in first.stdout
    refused = kiosk("officer", "add", "off-9", "--role", "officer", *log, stdin=f"{OFF_PW}\n")
    assert refused.returncode != 0 and "--as SUPERVISOR" in refused.stderr
    for account, password in (("off-1", OFF_PW), ("off-2", OFF2_PW)):
        added = kiosk(
            "officer",
            "add",
            account,
            "--role",
            "officer",
            "--gate",
            gate_log.kiosk_id,
            "--as",
            "sup-1",
            *log,
            stdin=f"{SUP_PW}\n{password}\n",
        )
        assert added.returncode == 0, added.stderr
    by_officer = kiosk(
        "officer", "add", "off-3", "--role", "officer", "--as", "off-1", *log, stdin=f"{OFF_PW}\n{OFF_PW}\n"
    )
    assert by_officer.returncode == 2 and "not a supervisor" in by_officer.stderr

    listed = kiosk("officer", "list", "--as", "off-1", "--json", *log, stdin=f"{OFF_PW}\n")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["id"] for row in rows] == list(reversed(gate_log.refer_ids))
    assert rows[0]["reason_codes"] == ["LIVENESS_FAILED"] and rows[0]["gate"] == gate_log.kiosk_id

    case = gate_log.liveness_case
    shown = kiosk(
        "officer", "show", case, "--as", "off-1", "--key", str(gate_log.key_file), *log, stdin=f"{OFF_PW}\n"
    )
    assert shown.returncode == 0, shown.stderr
    assert "number D2400123" in shown.stdout and "5 capture frame(s)" in shown.stdout
    assert "check chip.pa.dg2_hash: FAIL" in shown.stdout and "against threshold 0.358" in shown.stdout
    other = kiosk(
        "officer",
        "show",
        gate_log.other_gate_case,
        "--as",
        "off-1",
        "--key",
        str(gate_log.key_file),
        *log,
        stdin=f"{OFF_PW}\n",
    )
    assert other.returncode == 2 and "does not supervise" in other.stderr

    no_reason = kiosk("officer", "resolve", case, "admit", "--as", "off-1", *log, stdin=f"{OFF_PW}\n")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    resolved = kiosk(
        "officer",
        "resolve",
        case,
        "refuse",
        "--reason",
        "MANUAL_BOOTH",
        "--note",
        "sent to booth 2",
        "--as",
        "off-1",
        *log,
        stdin=f"{OFF_PW}\n",
    )
    assert resolved.returncode == 0, resolved.stderr
    assert f"{case}: REFUSED (MANUAL_BOOTH) by off-1" in resolved.stdout
    late = kiosk(
        "officer",
        "resolve",
        case,
        "admit",
        "--reason",
        "IDENTITY_CONFIRMED",
        "--as",
        "off-2",
        *log,
        stdin=f"{OFF2_PW}\n",
    )
    assert late.returncode == 2 and "already resolved by off-1" in late.stderr

    for _ in range(5):
        wrong = kiosk("officer", "list", "--as", "off-2", *log, stdin="not-the-password\n")
        assert wrong.returncode == 2
    assert "locked" in wrong.stderr
    listed = kiosk("officer", "accounts", "--as", "sup-1", *log, stdin=f"{SUP_PW}\n")
    assert (
        listed.returncode == 0
        and "off-2  officer  gates " + gate_log.kiosk_id + "  locked until" in listed.stdout
    )
    unlocked = kiosk("officer", "unlock", "off-2", "--as", "sup-1", *log, stdin=f"{SUP_PW}\n")
    assert unlocked.returncode == 0, unlocked.stderr
    assert kiosk("officer", "list", "--as", "off-2", *log, stdin=f"{OFF2_PW}\n").returncode == 0


def test_the_console_command_needs_a_log_and_the_cli_loads_no_qt() -> None:
    result = kiosk("officer")
    assert result.returncode == 2 and "--log" in result.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, kiosk.cli; print(sorted(m for m in sys.modules if 'PySide6' in m))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stderr

"""The headless kiosk (``run_kiosk``, as ``kiosk run``) holds a referred traveller at the closed exit, and an
officer's ``kiosk officer resolve ... admit`` in another process releases them: the barrier opens and the
gate chains that it did."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from run_setup import write_run_setup

from kiosk.config import load_config
from kiosk.gate.events import GateEvent, State, StateChanged
from kiosk.gate.loop import run_kiosk
from kiosk.store import DecisionLog
from kiosk.store.accounts import Accounts, Argon2Cost
from kiosk.store.records import EXIT_OPENED

IMPOSTOR = "impostor with Hopper's passport"
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "officer-run-pass-1"


def _kiosk(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("kiosk")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from kiosk.cli import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [*cmd, *args], input=stdin, capture_output=True, text=True, timeout=120, env=env, cwd=REPO
    )


def test_an_officers_admit_from_the_cli_releases_the_waiting_traveller(demo_setup, tmp_path: Path) -> None:
    policy = 'officer_release = "all"\nofficer_wait_s = 120.0\n'
    path = write_run_setup(
        demo_setup, tmp_path, (IMPOSTOR,), hold_s=0.2, kiosk_id="HELD-KIOSK", extra=policy, frames_of=IMPOSTOR
    )
    config = load_config(path)
    assert config.log_path is not None
    config.log_path.parent.mkdir()
    DecisionLog(config.log_path).close()  # the log exists before the kiosk: its accounts are added first
    with Accounts(config.log_path, cost=Argon2Cost(memory_kib=8192, iterations=1, lanes=1)) as accounts:
        accounts.add(None, "sup-1", "supervisor", "supervisor-run-1")
        supervisor = accounts.sign_in("sup-1", "supervisor-run-1")
        accounts.add(supervisor, "off-1", "officer", PASSWORD, gates=["HELD-KIOSK"])
    events: list[GateEvent] = []
    served: list[int] = []
    kiosk = threading.Thread(
        target=lambda: served.append(run_kiosk(config, on_event=events.append, max_transactions=1))
    )
    kiosk.start()
    try:
        deadline = time.monotonic() + 120
        while not any(isinstance(e, StateChanged) and e.state is State.AWAITING_OFFICER for e in events):
            assert kiosk.is_alive() and time.monotonic() < deadline, "the traveller was never held"
            time.sleep(0.05)
        case = next(e.transaction_id for e in events if isinstance(e, StateChanged))
        time.sleep(1.0)  # held: nothing opens on its own
        assert not any(isinstance(e, StateChanged) and e.state is State.GATE_OPEN for e in events)
        resolved = _kiosk(
            "officer",
            "resolve",
            str(case),
            "admit",
            "--reason",
            "IDENTITY_CONFIRMED",
            "--as",
            "off-1",
            "--log",
            str(config.log_path),
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert resolved.returncode == 0, resolved.stderr
    finally:
        kiosk.join(60)
    assert not kiosk.is_alive() and served == [1]
    opened = [e for e in events if isinstance(e, StateChanged) and e.state is State.GATE_OPEN]
    assert len(opened) == 1 and opened[0].resolution == "ADMITTED" and opened[0].transaction_id == case
    assert isinstance(events[-1], StateChanged) and events[-1].state is State.IDLE
    with DecisionLog(config.log_path, readonly=True) as log:
        assert [(r.resolution, r.officer) for r in log.resolutions(str(case))] == [
            ("ADMITTED", "off-1"),
            (EXIT_OPENED, "off-1"),
        ]
        assert log.verify().ok

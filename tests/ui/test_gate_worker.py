"""The traveller kiosk's gate worker process, failing: killed (SIGKILL) mid-transaction or during the result
display, hung (SIGSTOP), unable to start again. The traveller sees out of service, the gate stays closed,
the kiosk is back at welcome with a new worker, and every decision is logged exactly once. systemd's
watchdog (a real notify socket here) is pinged only while the worker answers or is being brought back."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from kiosk.store import DecisionLog
from kiosk.ui.traveller.presenter import Page
from tests.ui.gate_helpers import OpensOnce, process_gone
from tests.ui.test_traveller_kiosk import GENUINE, UNUSABLE, WAIT_MS
from tests.ui.test_traveller_kiosk import kiosk_run as kiosk_run  # the traveller tests' fixture

pytestmark = pytest.mark.slow


class Notify:
    """A notify socket standing in for systemd's (``NOTIFY_SOCKET``), its watchdog at 0.4 s, read on a thread
    as systemd reads it (unread, its queue of 10 datagrams would block the kiosk's next ping)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        address = str(tmp_path / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WatchdogSec=0.4: a ping every 0.2 s
        self._received: list[str] = []
        self._lock = threading.Lock()
        self._open = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while self._open:
            try:
                message = self.sock.recv(4096).decode()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._received.append(message)

    def messages(self) -> list[str]:
        """What came since the last call."""
        with self._lock:
            out, self._received = self._received, []
        return out

    def close(self) -> None:
        self._open = False
        self._reader.join()
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    listener = Notify(tmp_path, monkeypatch)
    yield listener
    listener.close()


def _decisions(run) -> list[str]:
    with DecisionLog(run.config.log_path, readonly=True) as log:
        assert log.verify().ok
        return [r.id for r in log.records() if r.kind == "decision"]


def _back_at_welcome(run, qtbot, pid: int) -> float:
    """After the worker ``pid`` was killed or stopped: out of service, then welcome with a new worker (which
    may go on at once with a document still on the reader); the seconds from now to welcome."""
    start = time.monotonic()
    shown: list[tuple[float, Page]] = []
    run.window.screen_shown.connect(lambda s: shown.append((time.monotonic(), s.page)))
    pages = lambda: [p for _, p in shown]  # noqa: E731
    qtbot.waitUntil(lambda: Page.OUT_OF_SERVICE in pages(), timeout=10_000)
    qtbot.waitUntil(lambda: Page.WELCOME in pages()[pages().index(Page.OUT_OF_SERVICE) :], timeout=30_000)
    back = next(t for t, p in shown if p is Page.WELCOME) - start
    assert run.kiosk.gate.pid not in (None, pid) and process_gone(pid) and run.kiosk.gate.out_of_service == ""
    return back


def test_a_worker_killed_mid_transaction_is_replaced_and_nothing_is_lost(
    kiosk_run, demo_setup, qtbot, tmp_path, notify
) -> None:
    """A first traveller decided and logged; the second one's worker killed during the face capture: out of
    service, welcome again with a new worker, which takes the document still on the reader; each traveller
    decided and logged once, the log intact, watchdog pings all along."""
    policy = dataclasses.replace(demo_setup.config.policy, max_capture_frames=100_000, capture_timeout_s=60.0)
    run = kiosk_run(UNUSABLE, policy=policy)  # no face ever good enough: the capture waits
    run.place(demo_setup, GENUINE, "01-first")
    run.wait_page(qtbot, Page.CAMERA)
    run.click(qtbot, run.window.page.officer_button)  # the first traveller asks for an officer: logged
    qtbot.waitUntil(lambda: len(run.decisions) == 1, timeout=WAIT_MS)
    run.wait_page(qtbot, Page.WELCOME)
    run.pages.clear()
    run.place(demo_setup, GENUINE, "02-second")
    run.wait_page(qtbot, Page.CAMERA)
    notify.messages()
    pid = run.kiosk.gate.pid
    os.kill(pid, signal.SIGKILL)
    back = _back_at_welcome(run, qtbot, pid)
    print(f"worker SIGKILL mid-capture -> welcome again {back:.1f} s")
    assert "WATCHDOG=1" in notify.messages()  # the kiosk brought its gate back: systemd need not
    run.wait_page(qtbot, Page.CAMERA)  # the new worker reads the document still on the reader
    run.click(qtbot, run.window.page.officer_button)
    qtbot.waitUntil(lambda: len(run.decisions) == 2, timeout=WAIT_MS)
    run.wait_page(qtbot, Page.WELCOME)
    qtbot.wait(500)
    logged = _decisions(run)
    assert logged == [d.decision_id for d in run.decisions]  # both, once each, in order
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["01-first", "02-second"]
    assert run.barrier.opened == 0


def test_a_worker_killed_during_the_result_display_leaves_the_gate_closed(
    kiosk_run, demo_setup, qtbot, tmp_path
) -> None:
    """Killed while the exit is open for a passing traveller: the new worker locks the barrier before it
    serves anyone, and the decision (logged, the document done) is not made again."""
    policy = dataclasses.replace(demo_setup.config.policy, result_hold_s=10.0)
    run = kiosk_run(GENUINE, policy=policy)
    run.place(demo_setup, GENUINE)
    run.wait_page(qtbot, Page.GATE_OPEN)
    assert run.barrier.is_open
    pid = run.kiosk.gate.pid
    os.kill(pid, signal.SIGKILL)
    back = _back_at_welcome(run, qtbot, pid)
    print(f"worker SIGKILL during the result display -> welcome again {back:.1f} s")
    assert not run.barrier.is_open and run.barrier.opened == 1
    qtbot.wait(1000)
    assert run.window.page.page is Page.WELCOME
    assert len(_decisions(run)) == 1 and len(run.decisions) == 1
    assert (tmp_path / "done" / "01-traveller").is_dir()


def test_a_hung_worker_is_killed_and_replaced(kiosk_run, demo_setup, qtbot, notify) -> None:
    """A worker that stops answering (stopped: SIGSTOP) for ``hang_s`` is killed and replaced. The worker
    runs nicer than the kiosk and has no Qt in it."""
    run = kiosk_run(GENUINE, hang_s=1.5)
    pid = run.kiosk.gate.pid
    assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + 5
    assert "Qt6" not in Path(f"/proc/{pid}/maps").read_text()
    qtbot.waitUntil(lambda: "WATCHDOG=1" in notify.messages(), timeout=5_000)
    os.kill(pid, signal.SIGSTOP)
    back = _back_at_welcome(run, qtbot, pid)
    print(f"worker SIGSTOP -> welcome again {back:.1f} s (hang_s 1.5)")
    run.place(demo_setup, GENUINE)  # the new worker serves
    run.wait_seen(qtbot, Page.GATE_OPEN)
    assert len(_decisions(run)) == 1


def test_a_worker_that_cannot_start_again_stops_the_watchdog(
    kiosk_run, demo_setup, qtbot, tmp_path, notify
) -> None:
    """The replacement of a killed worker fails to open the gate: the kiosk stays out of service and stops
    pinging systemd's watchdog, so systemd restarts it (and a start that fails is then seen)."""
    run = kiosk_run(GENUINE, opener=OpensOnce(tmp_path / "opened"))
    qtbot.waitUntil(lambda: "WATCHDOG=1" in notify.messages(), timeout=5_000)
    pid = run.kiosk.gate.pid
    os.kill(pid, signal.SIGKILL)
    run.wait_page(qtbot, Page.OUT_OF_SERVICE, timeout=10_000)
    qtbot.waitUntil(lambda: run.kiosk.gate.pid is None, timeout=30_000)  # given up
    notify.messages()
    qtbot.wait(1000)  # five ping periods
    assert "WATCHDOG=1" not in notify.messages()
    assert run.window.page.page is Page.OUT_OF_SERVICE and run.kiosk.gate.out_of_service


def test_a_held_up_ui_thread_does_not_take_the_worker_for_hung(kiosk_run, qtbot) -> None:
    """The UI thread busy longer than ``hang_s`` (the worker's heartbeats wait unread in the pipe): when it
    turns again it reads them before it judges, and keeps the worker."""
    run = kiosk_run(GENUINE, hang_s=1.0)
    qtbot.wait(500)
    pid = run.kiosk.gate.pid
    time.sleep(2.5)  # held up: no event is processed
    run.kiosk.gate._check()  # the watch's timer may turn before the pipe's notifier does
    qtbot.wait(500)
    assert run.kiosk.gate.pid == pid and run.kiosk.gate.restarts == 0
    assert run.window.page.page is Page.WELCOME

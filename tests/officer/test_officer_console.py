"""The Qt officer console (pytest-qt, offscreen) on a log filled by the gate: sign-in and lock-out, the case
view, a case arriving while the officer works another, every kind of resolution, two consoles on one case,
a resolution surviving a crash of the console. Every view is saved as PNG under var/test-output/officer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from kiosk.decision import Decision, WatchlistHit
from kiosk.officer import REASON_CODES
from kiosk.store import DecisionLog, KeyRing
from kiosk.store.accounts import Accounts
from tests.officer.officer_helpers import CHEAP, PASSWORDS, GateLog

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "var" / "test-output" / "officer"
WAIT_MS = 20000


def shot(widget, name: str) -> None:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    for _ in range(3):  # let the layouts settle (posted LayoutRequest events), as the event loop would
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


class Console:
    """One console window with its own connections to the log (as a second workstation would have)."""

    def __init__(self, qtbot, gate_log: GateLog, clock=None) -> None:
        from kiosk.ui.officer.app import open_window

        self.qtbot = qtbot
        self.log = DecisionLog(gate_log.path, KeyRing.from_file(gate_log.key_file), exclusive=False)
        self.accounts = Accounts(gate_log.path, cost=CHEAP, **({"clock": clock} if clock else {}))
        self.window = open_window(self.log, self.accounts, poll_ms=100)
        qtbot.addWidget(self.window)
        self.window.show()

    def sign_in(self, account: str, password: str | None = None, *, ok: bool = True):
        page = self.window.sign_in_page
        page.account.setText(account)
        page.password.setText(PASSWORDS[account] if password is None else password)
        wanted = self.window.queue_loaded if ok else self.window.sign_in_failed
        with self.qtbot.waitSignal(wanted, timeout=WAIT_MS) as blocker:
            page.button.click()
        return blocker.args[0]

    def open(self, case_id: str):
        with self.qtbot.waitSignal(self.window.case_shown, timeout=WAIT_MS) as blocker:
            self.window.open_case(case_id)
        return blocker.args[0]

    def resolve(self, action: str, reason: str, note: str = "", *, ok: bool = True):
        view = self.window.case_view
        view.choose(action, reason, note)
        assert view.confirm.isEnabled(), (
            view.case,
            view.action,
            view.reason.currentData(),
            view.status.text(),
        )
        outcomes: list[tuple[str, object]] = []
        self.window.resolved.connect(lambda resolution: outcomes.append(("resolved", resolution)))
        self.window.resolve_failed.connect(lambda message: outcomes.append(("failed", message)))
        view.confirm.click()
        self.qtbot.waitUntil(lambda: bool(outcomes), timeout=WAIT_MS)
        kind, value = outcomes[0]
        assert kind == ("resolved" if ok else "failed"), value
        return value

    def close(self) -> None:
        self.window.close()
        self.accounts.close()
        self.log.close()


@pytest.fixture
def console(qtbot, gate_log, accounts):
    opened = Console(qtbot, gate_log)
    yield opened
    opened.close()


def test_sign_in_and_lock_out(console: Console, accounts: Accounts) -> None:
    shot(console.window, "01-sign-in")
    for attempt in range(accounts.max_failures):
        message = console.sign_in("off-2", "not-the-password", ok=False)
        assert ("locked" if attempt == accounts.max_failures - 1 else "wrong account or password") in message
    assert console.window.stack.currentIndex() == 0
    message = console.sign_in("off-2", ok=False)  # the right password, but locked
    assert "locked" in message and "supervisor can unlock" in message
    shot(console.window, "02-sign-in-locked")
    cases = console.sign_in("off-1")
    assert console.window.stack.currentIndex() == 1 and len(cases) == console.window.model.rowCount()
    assert "off-1 (officer)" in console.window.who.text()
    shot(console.window, "03-queue")


def test_the_case_view_shows_everything_side_by_side(console: Console, gate_log: GateLog) -> None:
    cases = console.sign_in("off-1")
    view = console.window.case_view
    console.open(gate_log.liveness_case)
    assert view.live_image.pixmap() is not None and not view.live_image.pixmap().isNull()
    assert view.portrait_image.pixmap() is not None and not view.portrait_image.pixmap().isNull()
    assert view.frames.count() == 5 and view.frames_box.isVisibleTo(view)
    assert "D2400123" in view.document.text() and "sealed evidence" in view.document.text()
    assert "0.710 against threshold 0.358" in view.face.text()
    assert view.checks.rowCount() == 3 and view.checks.item(0, 1).text() == "FAIL"  # chip.pa.dg2_hash
    assert not view.confirm.isEnabled()  # no action and reason chosen yet
    shot(console.window, "04-case-liveness-alarm")
    by_reason = {case.decision.reason_codes[0]: case for case in cases}
    console.open(by_reason["WATCHLIST_HIT"].id)
    assert "on list demo-list, category wanted: score" in view.watchlist.text()
    assert "against list threshold" in view.watchlist.text() and not view.frames_box.isVisibleTo(view)
    assert view.live_image.pixmap() is not None and not view.live_image.pixmap().isNull()
    assert view.portrait_image.pixmap() is not None and not view.portrait_image.pixmap().isNull()
    assert "(from the sealed evidence)" in view.document.text()  # sealed by the gate
    shot(console.window, "05-case-watchlist-hit")
    console.open(by_reason["FACE_NO_MATCH"].id)
    assert "NO MATCH" in view.face.text()
    supervisor = Console(console.qtbot, gate_log)
    try:  # a case logged without evidence says what is missing
        supervisor.sign_in("sup-1")
        supervisor.open(gate_log.other_gate_case)
        other = supervisor.window.case_view
        assert "did not seal the document portrait" in other.portrait_image.text()
        assert "not sealed by the gate" in other.document.text()
    finally:
        supervisor.close()
    shot(console.window, "06-case-face-no-match")


def test_a_case_arriving_while_the_officer_works_another(console: Console, gate_log: GateLog) -> None:
    console.sign_in("off-1")
    working = console.open(gate_log.refer_ids[0])
    arriving = Decision(
        kiosk_id=gate_log.kiosk_id,
        outcome="REFER",
        reason_codes=("WATCHLIST_HIT", "MULTIPLE_FACES"),
        face_score=0.66,
        face_threshold=0.3581,
        watchlist_hits=(WatchlistHit("demo-list", "DEMO-0001", 0.58, 0.45, "wanted"),),
    )
    with (
        console.qtbot.waitSignal(console.window.alarm, timeout=WAIT_MS) as alarm,
        DecisionLog(gate_log.path, KeyRing.from_file(gate_log.key_file), exclusive=False) as gate,
    ):
        gate.append(arriving)
    kinds, case = alarm.args
    assert case.id == arriving.id
    assert kinds == ("NEW_REFERRAL", "WATCHLIST_HIT", "MORE_THAN_ONE_PERSON")
    assert console.window.banner.isVisible() and "WATCHLIST HIT" in console.window.banner.text.text()
    assert console.window.model.case_at(0).id == arriving.id  # newest first
    assert console.window.case_view.case.id == working.id  # the officer's case stays open
    shot(console.window, "07-alarm-while-working")
    console.window.banner.acknowledge.click()
    assert not console.window.banner.isVisible()


def test_resolving_each_kind(console: Console, gate_log: GateLog) -> None:
    console.sign_in("off-1")
    view = console.window.case_view
    for case_id, action in zip(gate_log.refer_ids, ("admit", "second_line", "refuse", "retry"), strict=False):
        console.open(case_id)
        view.action_buttons[action].setChecked(True)
        assert not view.confirm.isEnabled()  # a reason code is required
        resolution = console.resolve(action, REASON_CODES[action][1], f"{action} by console")
        assert (resolution.officer, resolution.decision_id) == ("off-1", case_id)
        assert resolution.reason_code == REASON_CODES[action][1]
        assert view.action is None and not view.confirm.isEnabled()  # no second click logs it twice
        shot(console.window, f"08-resolved-{action}")
    with DecisionLog(gate_log.path, readonly=True) as log:
        assert [r.resolution for case in gate_log.refer_ids[:4] for r in log.resolutions(case)] == [
            "ADMITTED",
            "ESCALATED",
            "REFUSED",
            "RETRY",
        ]
        assert log.verify().ok
    console.window.refresh()
    console.qtbot.waitUntil(lambda: console.window.model.rowCount() == len(gate_log.refer_ids) - 3)


def test_two_consoles_on_one_case(qtbot, gate_log: GateLog, accounts: Accounts, console: Console) -> None:
    second = Console(qtbot, gate_log)
    try:
        console.sign_in("off-1")
        second.sign_in("off-2")
        case = gate_log.refer_ids[0]
        console.open(case)
        second.open(case)
        console.resolve("admit", "IDENTITY_CONFIRMED")
        message = second.resolve("refuse", "MANUAL_BOOTH", ok=False)
        assert "already resolved by off-1" in message
        view = second.window.case_view
        assert "already resolved by off-1" in view.status.text()
        qtbot.waitUntil(lambda: view.case is not None and view.case.closed_by is not None, timeout=WAIT_MS)
        assert not view.panel.isEnabled()
        shot(second.window, "09-second-console-told")
    finally:
        second.close()


def test_an_expired_session_returns_to_sign_in(qtbot, gate_log: GateLog, accounts: Accounts) -> None:
    now = [accounts.clock()]
    console = Console(qtbot, gate_log, clock=lambda: now[0])
    try:
        console.sign_in("off-1")
        now[0] += console.accounts.session_idle + timedelta(minutes=1)
        qtbot.waitUntil(lambda: console.window.stack.currentIndex() == 0, timeout=WAIT_MS)
        assert "expired" in console.window.sign_in_page.message.text()
        assert console.window.model.rowCount() == 0 and console.window.case_view.case is None
        shot(console.window, "10-session-expired")
    finally:
        console.close()


def test_a_resolution_survives_a_crash_of_the_console(qtbot, gate_log: GateLog, accounts: Accounts) -> None:
    case = gate_log.refer_ids[1]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    driver = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("console_driver.py")), str(gate_log.path),
         str(gate_log.key_file), "off-1", case],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        driver.stdin.write(PASSWORDS["off-1"] + "\n")
        driver.stdin.close()
        line = driver.stdout.readline()
        assert line.startswith("RESOLVED "), driver.stderr.read()
    finally:
        driver.send_signal(signal.SIGKILL)  # the console dies with its window open
        driver.wait(timeout=30)
    resolution_id = line.split()[1]
    console = Console(qtbot, gate_log)
    try:
        cases = console.sign_in("off-1")
        assert case not in [c.id for c in cases]
        reopened = console.open(case)
        assert [r.id for r in reopened.resolutions] == [resolution_id]  # there, once
        assert reopened.closed_by.officer == "off-1" and not console.window.case_view.panel.isEnabled()
        shot(console.window, "11-after-crash")
    finally:
        console.close()
    with DecisionLog(gate_log.path, readonly=True) as log:
        assert len(log.resolutions(case)) == 1 and log.verify().ok


def test_the_gates_and_their_state(console: Console, gate_log: GateLog, accounts: Accounts) -> None:
    console.sign_in("off-1")
    assert console.window.gate_states == {gate_log.kiosk_id: "out_of_service"}  # no kiosk process
    with DecisionLog(gate_log.path, KeyRing.from_file(gate_log.key_file)):  # the kiosk starts
        console.qtbot.waitUntil(
            lambda: console.window.gate_states == {gate_log.kiosk_id: "waiting_for_officer"}, timeout=WAIT_MS
        )
        assert console.window.gates.item(0, 2).text() == "off-1"
        shot(console.window, "12-gates-waiting")
        supervisor = Console(console.qtbot, gate_log)
        try:
            supervisor.sign_in("sup-1")
            accounts.sign_out(accounts.sign_in("off-2", PASSWORDS["off-2"]))
            console.window.sign_out()  # the last officer leaves: the gate closes
            supervisor.qtbot.waitUntil(
                lambda: supervisor.window.gate_states.get(gate_log.kiosk_id) == "closed", timeout=WAIT_MS
            )
            shot(supervisor.window, "13-gate-closed")
        finally:
            supervisor.close()


def test_the_alarm_chime_is_a_playable_wav(tmp_path: Path) -> None:
    import wave

    from kiosk.ui.officer.sound import RATE, write_chime

    with wave.open(str(write_chime(tmp_path / "chime.wav")), "rb") as chime:
        assert (chime.getnchannels(), chime.getsampwidth(), chime.getframerate()) == (1, 2, RATE)
        samples = chime.readframes(chime.getnframes())
    assert chime.getnframes() == int(RATE * 0.8) and max(samples) > 0


def test_the_console_keeps_running_through_many_polls(qtbot, gate_log: GateLog, accounts: Accounts) -> None:
    """Hundreds of queue reloads, table resets and age updates in one process (PySide6 6.12.0 crashed a
    window after ~300 void calls: see pyproject.toml)."""
    from kiosk.ui.officer.app import open_window

    with (
        DecisionLog(gate_log.path, KeyRing.from_file(gate_log.key_file), exclusive=False) as log,
        Accounts(gate_log.path, cost=CHEAP) as own,
    ):
        window = open_window(log, own, poll_ms=5)
        qtbot.addWidget(window)
        window.show()
        loads: list[int] = []
        window.queue_loaded.connect(lambda cases: loads.append(len(cases)))
        window.sign_in_page.account.setText("off-1")
        window.sign_in_page.password.setText(PASSWORDS["off-1"])
        window.sign_in_page.button.click()
        qtbot.waitUntil(lambda: len(loads) >= 400, timeout=120_000)
        assert set(loads) == {len(gate_log.refer_ids)}
        window.close()


class _HeldTasks:
    """Keeps the console's background jobs until the test finishes them, in the order it chooses."""

    def __init__(self) -> None:
        self.jobs: list[tuple] = []

    def run(self, work, on_done, on_error) -> None:
        self.jobs.append((work, on_done, on_error))

    def finish(self, index: int) -> None:
        work, on_done, _ = self.jobs.pop(index)
        on_done(work())

    def wait(self) -> None:
        while self.jobs:
            self.finish(0)


def test_a_stale_case_load_never_replaces_the_case_opened_after_it(
    console: Console, gate_log: GateLog
) -> None:
    # the reload after a resolution may finish after the officer opened the next case: the view (and so
    # the resolve buttons) must stay on the case opened last
    console.sign_in("off-1")
    first, second = gate_log.refer_ids[:2]
    console.open(first)
    window = console.window
    held = _HeldTasks()
    window.tasks = held
    window.open_case(first, quiet=True)  # as after a resolution of the first case
    window.open_case(second)
    held.finish(1)  # the second case loads first...
    assert window.case_view.case is not None and window.case_view.case.id == second
    held.finish(0)  # ...then the stale reload of the first
    assert window.case_view.case.id == second

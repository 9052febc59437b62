"""Reliability of the decision log: SIGKILL at random points, two processes, full disk, read-only and
corrupted databases. Every failure must be a clear StoreError and lose nothing that was acknowledged."""

from __future__ import annotations

import base64
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store_helpers import REPO

from kiosk.decision import Decision
from kiosk.store import (
    DecisionLog,
    Evidence,
    KeyRing,
    StoreCorruptError,
    StoreFullError,
    StoreLockedError,
    StoreReadOnlyError,
)

APPENDER = Path(__file__).with_name("store_appender.py")
MASTER = bytes(range(32))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "EGATE_LOG_KEY": base64.b64encode(MASTER).decode()}


def _appender(db: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(APPENDER), str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
        **popen,  # type: ignore[arg-type]
    )


def _committed(lines: str) -> tuple[list[str], list[str]]:
    """Ids the appender acknowledged: complete lines only (a line cut by the kill was not printed)."""
    decisions, resolutions = [], []
    for line in lines.splitlines(keepends=True):
        if line.endswith("\n"):
            kind, record_id = line.split()
            (decisions if kind == "D" else resolutions).append(record_id)
    return decisions, resolutions


def _assert_consistent(db: Path, decisions: list[str], resolutions: list[str], *, kills: int = 1) -> None:
    """Acknowledged rows are there once; at most one unacknowledged row per kill (committed while its id
    was being printed); nothing half-written; the chain verifies."""
    with DecisionLog(db, KeyRing(MASTER), readonly=True) as log:
        result = log.verify()
        assert result.ok, result.problems
        conn = log._conn
        for table, ids in (("decisions", decisions), ("resolutions", resolutions)):
            stored = [row[0] for row in conn.execute(f"SELECT id FROM {table}")]
            assert len(stored) == len(set(stored))
            assert set(ids) <= set(stored), f"acknowledged {table} rows are missing"
            assert len(stored) - len(ids) <= kills
        # Nothing half-written: one outbox row per chained row, evidence only with a logged decision.
        chained = conn.execute("SELECT (SELECT count(*) FROM decisions) + (SELECT count(*) FROM resolutions)")
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == chained.fetchone()[0]
        assert result.rows == chained.execute("SELECT count(*) FROM outbox").fetchone()[0]
        orphans = "SELECT count(*) FROM evidence WHERE decision_id NOT IN (SELECT id FROM decisions)"
        assert conn.execute(orphans).fetchone()[0] == 0


def _kill_while_appending(db: Path, delay: float, *args: str) -> str:
    """Run the appender, SIGKILL it ``delay`` seconds after its first commit; returns everything it printed.
    Its output is drained all along, so it is never blocked on a full pipe when the kill comes."""
    proc = _appender(db, *args)
    assert proc.stdout is not None
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(proc.stdout.readline, "")))
    reader.start()
    deadline = time.monotonic() + 60
    while not chunks and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    return "".join(chunks)


def test_sigkill_at_random_points_loses_no_committed_decision(tmp_path: Path) -> None:
    db, rng = tmp_path / "crash.db", random.Random(20261123)
    decisions: list[str] = []
    resolutions: list[str] = []
    for kills in range(1, 9):
        # Half the rounds with synchronous=NORMAL: as safe against a process kill (the OS has every
        # write), and fast enough to reach thousands of transactions on a loaded machine.
        printed = _kill_while_appending(db, rng.uniform(0.05, 1.0), *(["--normal"] if kills % 2 else []))
        round_decisions, round_resolutions = _committed(printed)
        decisions += round_decisions
        resolutions += round_resolutions
        _assert_consistent(db, decisions, resolutions, kills=kills)
    assert len(decisions) > 200  # the rounds did real work (thousands on an idle machine)
    print(f"{len(decisions)} decisions, {len(resolutions)} resolutions acknowledged over 8 SIGKILL rounds")


def test_second_kiosk_process_refuses_with_a_clear_error(log_path: Path, keys: KeyRing) -> None:
    with DecisionLog(log_path, KeyRing(MASTER)):
        proc = _appender(log_path, "--count", "1")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and out == ""
        assert "LOG_LOCKED" in err and f"pid {os.getpid()}" in err and "already open by another kiosk" in err
        with pytest.raises(StoreLockedError):
            DecisionLog(log_path, keys)
    DecisionLog(log_path, KeyRing(MASTER)).close()  # released on close (and by the kernel on a crash)


def test_concurrent_writers_keep_one_valid_chain(log_path: Path, make_decision) -> None:
    """The kiosk and a second writer (officer console) append at the same time: BEGIN IMMEDIATE serialises
    them, the chain stays one sequence."""
    with DecisionLog(log_path, KeyRing(MASTER)) as kiosk:
        proc = _appender(log_path, "--shared", "--count", "150")
        ids = [kiosk.append(make_decision()) for _ in range(150)]
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        other_decisions, other_resolutions = _committed(out)
    _assert_consistent(log_path, ids + other_decisions, other_resolutions)


def test_database_full_is_a_clear_error_and_loses_nothing(log_path: Path, make_decision) -> None:
    keys = KeyRing(MASTER)
    acknowledged = []
    with DecisionLog(log_path, keys) as log:
        acknowledged.append(log.append(make_decision()))
        pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
        log._conn.execute(f"PRAGMA max_page_count = {pages + 40}")
        with pytest.raises(StoreFullError, match="full") as caught:
            for _ in range(500):
                decision = make_decision("REFER")
                log.append(decision, evidence=Evidence(live_face=os.urandom(12_000)))
                acknowledged.append(decision.id)
        assert caught.value.code == "LOG_DISK_FULL"
        assert log.decision(decision.id) is None  # the failed transaction left nothing behind
        log._conn.execute("PRAGMA max_page_count = 1073741823")  # space again: the log carries on
        acknowledged.append(log.append(make_decision()))
    _assert_consistent(log_path, acknowledged, [])


@pytest.fixture
def small_filesystem() -> Iterator[Path]:
    """A 2 MB tmpfs (needs root and mount rights; skipped elsewhere)."""
    mount_point = Path(tempfile.mkdtemp(prefix="egate-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


def test_full_filesystem_is_a_clear_error_and_loses_nothing(small_filesystem: Path, make_decision) -> None:
    db, filler = small_filesystem / "decisions.db", small_filesystem / "filler"
    acknowledged = []
    with DecisionLog(db, KeyRing(MASTER)) as log:
        acknowledged.append(log.append(make_decision()))
        free = shutil.disk_usage(small_filesystem).free
        filler.write_bytes(b"\0" * max(0, free - 300_000))
        with pytest.raises(StoreFullError, match="disk or database full"):
            for _ in range(500):
                decision = make_decision("REFER")
                log.append(decision, evidence=Evidence(live_face=os.urandom(20_000)))
                acknowledged.append(decision.id)
        assert log.decision(decision.id) is None
        filler.unlink()
        acknowledged.append(log.append(make_decision()))
    _assert_consistent(db, acknowledged, [])


def test_read_only_open_refuses_writes(log_path: Path, keys: KeyRing, make_decision) -> None:
    with DecisionLog(log_path, keys) as log:
        log.append(make_decision())
    with DecisionLog(log_path, keys, readonly=True) as reader:
        with pytest.raises(StoreReadOnlyError, match="read-only"):
            reader.append(make_decision())
        with pytest.raises(StoreReadOnlyError):
            reader.purge()
        assert reader.head()[0] == 1


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(writable folder, read-only bind mount of it): root ignores file modes, not a read-only mount."""
    source, view = tmp_path / "rw", tmp_path / "ro"
    source.mkdir()
    view.mkdir()
    for command in (["mount", "--bind", source, view], ["mount", "-o", "remount,ro,bind", view]):
        done = subprocess.run([str(part) for part in command], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(view)], capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount: {done.stderr.decode().strip()}")
    try:
        yield source, view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_read_only_filesystem_is_a_clear_error_and_still_readable(read_only_view, make_decision) -> None:
    source, view = read_only_view
    ids = _make_log(source / "decisions.db", make_decision, n=5)
    db = view / "decisions.db"
    for options in ({}, {"exclusive": False}):
        with pytest.raises(StoreReadOnlyError, match=r"read-only|not writable"):
            DecisionLog(db, KeyRing(MASTER), **options)
    proc = _appender(db, "--count", "3")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == "" and "error: LOG_READ_ONLY" in err, err
    with DecisionLog(db, readonly=True) as reader:  # audit and export still work from read-only media
        assert reader.verify().ok and reader.head()[0] == len(ids)
        with pytest.raises(StoreReadOnlyError):
            reader.append(make_decision())
    assert [(view / "decisions.db").read_bytes()] == [(source / "decisions.db").read_bytes()]


def _make_log(path: Path, make: Callable[..., Decision], n: int = 200) -> list[str]:
    with DecisionLog(path, KeyRing(MASTER)) as log:
        return [log.append(make()) for _ in range(n)]


def test_garbage_file_is_refused_and_never_recreated(log_path: Path, keys: KeyRing) -> None:
    log_path.write_bytes(os.urandom(16_384))
    before = log_path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(StoreCorruptError, match="not a SQLite database"):
            DecisionLog(log_path, keys, readonly=readonly)
    assert log_path.read_bytes() == before
    assert not log_path.with_name(log_path.name + "-wal").exists()


@pytest.mark.parametrize("damage", ["overwrite_pages", "data_page", "truncate"])
def test_damaged_database_is_reported_not_silently_accepted(log_path: Path, make_decision, damage: str):
    _make_log(log_path, make_decision)
    data = bytearray(log_path.read_bytes())
    page = 4096
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "data_page":  # schema intact: the damage shows only when the tables are read
        middle = len(data) // page // 2
        data[middle * page : (middle + 1) * page] = random.Random(3).randbytes(page)
    else:
        rng = random.Random(7)
        for number in (3, 5, 8):
            data[number * page : (number + 1) * page] = rng.randbytes(page)
    log_path.write_bytes(bytes(data))
    try:
        with DecisionLog(log_path, KeyRing(MASTER), readonly=True) as log:
            result = log.verify()
        assert not result.ok
        assert result.first_broken.kind == "database" and "integrity_check" in result.first_broken.reason
    except StoreCorruptError as exc:
        assert "corrupt" in str(exc)


def test_sqlite_level_errors_map_to_named_codes(log_path: Path, keys: KeyRing) -> None:
    DecisionLog(log_path, keys).close()
    os.truncate(log_path, 0)  # the log's content is lost: never silently replaced by a new empty log
    for readonly in (False, True):
        with pytest.raises(StoreCorruptError, match=r"is an empty file \(0 bytes\).*left untouched"):
            DecisionLog(log_path, keys, readonly=readonly)
    assert log_path.stat().st_size == 0

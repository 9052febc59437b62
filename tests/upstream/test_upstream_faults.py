"""Exactly once under faults: kiosks syncing through a fault-injecting proxy (drops, resets mid-batch, 500s,
answers slower than the time-out, acknowledgements lost after the commit, duplicated deliveries), the
service and the database restarted, a syncing kiosk killed with SIGKILL; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from upstream_helpers import Kiosk, Tls, new_kiosk

from kiosk.store import DecisionLog
from kiosk.sync.client import SyncClient, SyncWorker, start_worker
from kiosk.sync.settings import SyncConfig
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.server import ServiceThread

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _log_rows(kiosk: Kiosk) -> list[tuple[int, str]]:
    with DecisionLog(kiosk.log_path, readonly=True) as log:
        return [(record.seq, record.id) for record in log.records()]


def _assert_exactly_once(db: UpstreamDB, kiosks: list[Kiosk]) -> int:
    """Every record of every kiosk upstream once, in its chain, verified to the kiosk's head; every kiosk
    log verifying against the anchor it got back. Returns the number of records."""
    total = 0
    for kiosk in kiosks:
        rows = _log_rows(kiosk)
        upstream = db.record_ids(kiosk.id)
        assert [(seq, rid) for seq, rid, _ in upstream] == rows  # 0 lost, 0 duplicated, same order
        assert all(chained == 1 for _, _, chained in upstream)  # all linked into the verified chain
        with DecisionLog(kiosk.log_path, readonly=True) as log:
            assert db.head(kiosk.id) == log.head() == log.upstream_anchor()
            assert log.verify(expect_head=log.upstream_anchor()).ok
            assert log.outbox_backlog() == (0, None, 0)
        total += len(rows)
    assert db.problems() == []
    return total


def _wait_drained(workers: list[SyncWorker], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(w.status().waiting == 0 for w in workers):
            return
        time.sleep(0.2)
    raise AssertionError(f"outboxes not drained in {timeout_s} s: {[w.status() for w in workers]}")


def _restart_database(db: UpstreamDB, request: pytest.FixtureRequest) -> str:
    """PostgreSQL: restart the cluster when this session owns it, else terminate every backend of the
    database. SQLite has no server: nothing to restart."""
    if db.dialect != "postgresql":
        return "none (SQLite)"
    postgres = request.getfixturevalue("postgres")
    if postgres.cluster is not None:
        postgres.cluster.restart()
        return "cluster restarted"
    import psycopg

    with psycopg.connect(db.target, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    return "backends terminated"


@pytest.mark.slow
def test_ten_thousand_decisions_arrive_exactly_once_under_faults(
    db: UpstreamDB, tls: Tls, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    kiosks = [new_kiosk(db, tmp_path, f"gate-{n}") for n in range(4)]
    service = ServiceThread(db, tls.cert, tls.key).start()
    proxy = FaultProxy(service.port, tls.cert, tls.key, tls.ca, rate=0.2, delay_s=1.2)
    workers = [
        SyncWorker(k.log_path, k.id, k.sync_config(proxy.url, tls, timeout_s=1.0)).start() for k in kiosks
    ]
    try:
        for round_ in range(5):
            for kiosk in kiosks:
                kiosk.append(500)
            if round_ == 1:  # the service restarted (on the same port) while kiosks keep syncing
                service.stop()
                time.sleep(0.5)
                service = ServiceThread(db, tls.cert, tls.key, port=service.port).start()
            if round_ == 3:
                _restart_database(db, request)
        _wait_drained(workers, 150)
    finally:
        for worker in workers:
            worker.stop()
        proxy.close()
        service.stop()
    assert _assert_exactly_once(db, kiosks) == 10_000
    print(f"faults injected ({db.dialect}): {dict(proxy.injected)}")  # shown with pytest -s
    assert sum(proxy.injected.values()) >= 10, proxy.injected


def test_a_kiosk_killed_while_syncing_loses_and_repeats_nothing(
    db: UpstreamDB, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-kill")
    kiosk.append(1500)
    service = ServiceThread(db, tls.cert, tls.key).start()
    rng = random.Random(3)
    command = [
        sys.executable, str(HERE / "sync_runner.py"), str(kiosk.log_path), kiosk.id, service.url,
        str(kiosk.key_file), str(tls.ca),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        kills = 0
        for _ in range(6):
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.8, 1.6))  # start-up (imports) takes most of a second
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
        assert kills >= 3
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    finally:
        service.stop()
    assert _assert_exactly_once(db, [kiosk]) == 1500


def test_the_worker_backs_off_while_the_service_is_down_and_catches_up(
    db: UpstreamDB, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-down")
    service = ServiceThread(db, tls.cert, tls.key).start()
    port = service.port
    service.stop()  # down before the kiosk starts: the outbox grows
    worker = SyncWorker(kiosk.log_path, kiosk.id, kiosk.sync_config(f"https://127.0.0.1:{port}", tls)).start()
    try:
        kiosk.append(300)
        time.sleep(1.0)
        status = worker.status()
        assert status.waiting == 300 and status.oldest_age_s is not None and status.oldest_age_s > 0.5
        assert worker.last_error is not None and "unreachable" in worker.last_error
        service = ServiceThread(db, tls.cert, tls.key, port=port).start()
        _wait_drained([worker], 30)
    finally:
        worker.stop()
        service.stop()
    _assert_exactly_once(db, [kiosk])


def test_an_unknown_kiosk_keeps_its_records(db: UpstreamDB, tls: Tls, tmp_path: Path) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-new", enrol=False)
    kiosk.append(5)
    service = ServiceThread(db, tls.cert, tls.key).start()
    try:
        with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls)) as client:
            report = client.drain()
            state = client.backlog()
    finally:
        service.stop()
    assert report.sent == 0 and "401" in report.errors[0] and "unknown client" in report.errors[0]
    assert state.waiting == 5 and state.quarantined == 0  # nothing quarantined: the kiosk, not a record


def test_the_gate_logs_while_a_batch_hangs_on_the_network(db: UpstreamDB, tls: Tls, tmp_path: Path) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-busy")
    kiosk.append(10)
    service = ServiceThread(db, tls.cert, tls.key).start()
    proxy = FaultProxy(service.port, tls.cert, tls.key, tls.ca, rate=1.0, faults=("delay",), delay_s=4.0)
    worker = start_worker(kiosk.log_path, kiosk.id, kiosk.sync_config(proxy.url, tls, timeout_s=10.0))
    assert worker is not None
    try:
        deadline = time.monotonic() + 10
        while not proxy.injected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.injected["delay"] == 1  # a batch is on the wire, held by the proxy
        kiosk.append(100)  # the gate's appends go through meanwhile (no transaction spans the request)
        assert proxy.injected["delay"] == 1 and worker.last_success_utc is None  # still held
        assert worker.status().waiting == 110
    finally:
        worker.stop(timeout=15)
        proxy.close()
        service.stop()
    assert start_worker(kiosk.log_path, kiosk.id, SyncConfig()) is None  # no [sync] url: no worker

"""The sync's pieces: its configuration table, back-off with jitter, the privacy guard, outbox quarantine."""

from __future__ import annotations

import random
import secrets
import time
from pathlib import Path

import pytest
from upstream_helpers import Tls, new_kiosk

from kiosk.config import config_from_mapping
from kiosk.decision import Decision
from kiosk.errors import ConfigError
from kiosk.store import DecisionLog, KeyRing
from kiosk.sync.client import SyncClient, backoff_delay
from kiosk.sync.protocol import forbidden_keys
from kiosk.sync.settings import SyncConfig
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key


def test_sync_table_of_the_kiosk_configuration(tmp_path: Path) -> None:
    config = config_from_mapping(
        {"sync": {"url": "https://up.example:8443/", "key_file": "k.pem", "batch_size": 50}},
        base_dir=tmp_path,
    )
    assert config.sync.url == "https://up.example:8443" and config.sync.key_file == tmp_path / "k.pem"
    assert config.sync.batch_size == 50 and config.sync.enabled
    assert not config_from_mapping({}).sync.enabled  # no [sync]: the outbox only grows
    for bad, message in (
        ({"url": "http://up.example"}, "https://"),
        ({"url": "https://up.example"}, "key_file"),
        ({"batch_size": 0}, "1 to 1000"),
        ({"timeout_s": -1}, "positive"),
        ({"retries": 3}, "retries"),
        ({"batch_size": "50"}, "wrong type"),
    ):
        with pytest.raises(ConfigError, match=message):
            config_from_mapping({"sync": bad}, base_dir=tmp_path)


def test_backoff_grows_to_its_ceiling_with_jitter() -> None:
    rng = random.Random(1)
    for failures, ceiling in ((1, 1.0), (2, 2.0), (4, 8.0), (9, 60.0), (30, 60.0)):
        delays = [backoff_delay(failures, 1.0, 60.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # spread, so a fleet does not retry in step


def test_forbidden_keys_are_found_inside_json_text_fields() -> None:
    assert forbidden_keys({"extra": '{"gate": {"document_number": "X"}}', "quality": "{}"}) == {
        "document_number"
    }
    assert forbidden_keys({"quality": '{"yaw": 2}', "models": '{"embedder": "m"}'}) == set()
    # a count under a listed name is no image: real gate decisions log quality {"frames": 12}
    assert forbidden_keys({"quality": '{"frames": 12, "liveness": {"frames": 0}}'}) == set()
    assert forbidden_keys({"extra": '{"frames": ["/9j/4AAQ..."], "template": [0.1, 0.2]}'}) == {
        "frames",
        "template",
    }


def test_quarantine_takes_a_record_out_of_the_queue_and_keeps_it(tmp_path: Path) -> None:
    keys = KeyRing(secrets.token_bytes(32))
    with DecisionLog(tmp_path / "log.db", keys) as log:
        ids = [log.append(Decision(kiosk_id="k", outcome="PASS", reason_codes=())) for _ in range(3)]
        assert log.quarantine(ids[1], "BAD_HASH: test") and not log.quarantine(ids[1], "again")
        assert [item.record_id for item in log.outbox_pending()] == [ids[0], ids[2]]
        assert log.outbox_backlog()[0::2] == (2, 1)
        log.mark_sent([ids[0], ids[2]])
        assert log.outbox_backlog() == (0, None, 1) and log.verify().ok


def test_a_record_naming_a_document_number_never_leaves_the_kiosk(
    db: UpstreamDB, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path, "gate-p")
    kiosk.append(2)
    decision = Decision(kiosk_id="gate-p", outcome="PASS", reason_codes=())
    original = decision.as_dict
    object.__setattr__(decision, "as_dict", lambda: {**original(), "document_number": "L898902C3"})
    with DecisionLog(kiosk.log_path, kiosk.keys, exclusive=False) as log:
        leaking = log.append(decision)  # a wrongly built record: the field lands in "extra"
    kiosk.append(2)
    service = ServiceThread(db, tls.cert, tls.key).start()
    try:
        with SyncClient(kiosk.log_path, kiosk.id, kiosk.sync_config(service.url, tls)) as client:
            report = client.drain()
    finally:
        service.stop()
    assert report.quarantined == 1 and report.sent == 4
    assert leaking not in {rid for _, rid, _ in db.record_ids("gate-p")}
    with DecisionLog(kiosk.log_path, readonly=True) as log:
        assert log.outbox_backlog() == (0, None, 1)


def test_bench_runs_and_accounts_for_every_record(tmp_path: Path) -> None:
    from kiosk.lab.upstream_bench import run_bench

    result = run_bench(f"sqlite://{tmp_path / 'bench.db'}", kiosks=3, backlog=20, rate=15, seconds=1.0)
    assert result.backlog_records == 60 and result.online_records > 0  # every record acknowledged
    assert 0 < result.latency_p50_s <= result.latency_p99_s <= result.latency_max_s


def test_the_worker_warns_when_the_disk_runs_low(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from kiosk.sync.client import SyncWorker

    generate_signing_key(tmp_path / "k.key", tmp_path / "k.pub")
    DecisionLog(tmp_path / "log.db", KeyRing(secrets.token_bytes(32))).close()
    # an unreachable service and a threshold above any disk: every round fails, the disk counts as low
    config = SyncConfig(
        url="https://127.0.0.1:9", key_file=tmp_path / "k.key", interval_s=0.05, disk_warn_free_mb=1e12
    )
    with caplog.at_level("WARNING", logger="kiosk.sync"):
        worker = SyncWorker(tmp_path / "log.db", "k", config).start()
        time.sleep(0.5)
        worker.stop()
    assert sum("free beside the decision log" in r.message for r in caplog.records) == 1  # not every round


def test_backlog_summary_for_a_status_bar() -> None:
    from kiosk.sync.client import Backlog

    assert Backlog(0, None, 0, 1, 10**10, False, None).summary() == "upstream: up to date"
    assert (
        Backlog(42, 5400.0, 2, 1, 3 * 10**8, True, None).summary()
        == "upstream: 42 waiting, oldest 1.5 h; 2 quarantined; LOW DISK (300 MB free)"
    )
    assert Backlog(3, 125.0, 0, 1, 10**10, False, None).summary() == "upstream: 3 waiting, oldest 2 min"

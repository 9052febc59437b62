from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from store_helpers import raw_sql

from kiosk.cli import cli
from kiosk.store import DecisionLog, Evidence, KeyRing


def _log(path: Path, keys: KeyRing, make_decision) -> list[str]:
    with DecisionLog(path, keys) as log:
        refer = make_decision("REFER")
        past = datetime.now(UTC) - timedelta(days=1)
        log.append(refer, evidence=Evidence(live_face=b"face", retain_until=past))
        return [refer.id, log.append(make_decision()), log.resolve(refer.id, "officer-5", "REFUSED")]


def test_verify_log_ok_and_broken(log_path: Path, keys: KeyRing, make_decision) -> None:
    ids = _log(log_path, keys, make_decision)
    runner = CliRunner()
    result = runner.invoke(cli, ["verify-log", str(log_path)])
    assert result.exit_code == 0 and result.output.startswith("ok: 3 rows, head seq 3")
    with DecisionLog(log_path, readonly=True) as log:
        seq, digest = log.head()
    assert (
        runner.invoke(cli, ["verify-log", str(log_path), "--expect-head", f"{seq}:{digest}"]).exit_code == 0
    )

    raw_sql(log_path, "UPDATE decisions SET outcome = 'REFER' WHERE seq = 2")
    result = runner.invoke(cli, ["verify-log", str(log_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"BROKEN at seq 2 (decision {ids[1]})")
    data = json.loads(runner.invoke(cli, ["verify-log", str(log_path), "--json"]).output)
    assert data["ok"] is False and data["problems"][0]["seq"] == 2 and data["head_seq"] == 1


def test_verify_log_exit_codes_unreadable_is_broken_never_recreated(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    not_sqlite = tmp_path / "text.sqlite"
    not_sqlite.write_text("hello")
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    cases = {
        tmp_path / "missing.sqlite": "does not exist",
        empty: "is an empty file (0 bytes)",
        not_sqlite: "is not a SQLite database",
        corrupt: "corrupt",
    }
    for path, cause in cases.items():
        result = runner.invoke(cli, ["verify-log", str(path)])
        assert result.exit_code == 1, (path, result.output)
        assert result.output.startswith(f"BROKEN: decision log {path}") and cause in result.output
        assert "open it" not in result.output and result.output.count("\n") == 1
        data = json.loads(runner.invoke(cli, ["verify-log", str(path), "--json"]).output)
        assert data["ok"] is False and cause in data["error"]
    assert empty.stat().st_size == 0 and not (tmp_path / "missing.sqlite").exists()
    result = runner.invoke(cli, ["verify-log", str(empty), "--expect-head", "12"])
    assert result.exit_code == 2 and "SEQ:SHA256HEX" in result.output  # usage


def test_verify_log_wording_when_only_evidence_is_missing(
    log_path: Path, keys: KeyRing, make_decision
) -> None:
    with DecisionLog(log_path, keys) as log:
        log.append(make_decision())
        refer = make_decision("REFER")
        future = datetime.now(UTC) + timedelta(days=30)
        log.append(refer, evidence=Evidence(live_face=b"face", retain_until=future))
    raw_sql(log_path, "DELETE FROM evidence")
    result = CliRunner().invoke(cli, ["verify-log", str(log_path)])
    assert result.exit_code == 1
    first, last = result.output.splitlines()
    assert first.startswith(f"BROKEN at seq 2 (evidence {refer.id}): evidence live_face is missing before")
    assert last.startswith("the chain itself verifies through seq 2 (hash ") and "outside it" in last


def test_purge_refuses_a_future_time_and_takes_a_plain_date(log_path: Path, keys: KeyRing, make_decision):
    with DecisionLog(log_path, keys) as log:
        refer = make_decision("REFER")
        in_ten_days = datetime.now(UTC) + timedelta(days=10)
        log.append(refer, evidence=Evidence(live_face=b"face", retain_until=in_ten_days))
    runner = CliRunner()
    for when in ((datetime.now(UTC) + timedelta(days=20)).date().isoformat(), "2999-01-01T00:00:00+00:00"):
        result = runner.invoke(cli, ["purge", str(log_path), "--now", when])
        assert result.exit_code != 0 and "in the future" in str(result.exception)
    result = runner.invoke(cli, ["purge", str(log_path), "--now", datetime.now(UTC).date().isoformat()])
    assert result.exit_code == 0 and result.output.strip() == "purged 0 evidence item(s)"
    with DecisionLog(log_path, keys, readonly=True) as log:
        assert log.evidence(refer.id) == {"live_face": b"face"} and log.verify().ok


def test_purge_removes_expired_evidence_only(log_path: Path, keys: KeyRing, make_decision) -> None:
    ids = _log(log_path, keys, make_decision)
    result = CliRunner().invoke(cli, ["purge", str(log_path)])
    assert result.exit_code == 0 and result.output.strip() == "purged 1 evidence item(s)"
    with DecisionLog(log_path, keys, readonly=True) as log:
        assert log.evidence(ids[0]) == {} and log.verify().ok and log.decision(ids[0]) is not None


def test_keygen_writes_a_private_key_once(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.key"
    assert CliRunner().invoke(cli, ["keygen", str(path)]).exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and KeyRing.from_file(path).key_id
    again = CliRunner().invoke(cli, ["keygen", str(path)])
    assert again.exit_code != 0 and "already exists" in str(again.exception)


def test_bench_log_prints_latency_figures(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["bench-log", "--count", "20", "--dir", str(tmp_path), "--synchronous", "NORMAL"]
    )
    assert result.exit_code == 0, result.output
    assert "synchronous=NORMAL median" in result.output and "p99" in result.output
    assert list(tmp_path.iterdir()) == []  # temporary logs are removed


def test_purge_of_a_mistyped_path_creates_no_log(tmp_path: Path) -> None:
    typo = tmp_path / "decisons.sqlite"
    result = CliRunner().invoke(cli, ["purge", str(typo)])
    assert result.exit_code != 0 and "does not exist" in str(result.exception)
    assert list(tmp_path.iterdir()) == []

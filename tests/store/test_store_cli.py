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


def test_verify_log_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["verify-log", str(tmp_path / "missing.db")])
    assert result.exit_code != 0 and "does not exist" in str(result.exception)
    result = CliRunner().invoke(cli, ["verify-log", str(tmp_path / "x.db"), "--expect-head", "12"])
    assert result.exit_code == 2 and "SEQ:SHA256HEX" in result.output


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

"""Export of thousands of generated decisions in every format, read back; verify-export against every kind of
tampering; the empty period; roles; the export as a chained audit event; PDF figures equal ``kiosk stats``."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from export_helpers import EVIDENCE_OPENED, START, World, kiosk
from pypdf import PdfReader

from kiosk.export.build import export_period
from kiosk.export.select import Period
from kiosk.export.verify import verify_export
from kiosk.store.chain import canonical_json
from kiosk.store.errors import PermissionDeniedError
from kiosk.store.log import DecisionLog
from matcher.signing import generate_signing_key, load_trusted_keys

DAY1 = ("2026-11-01", "2026-11-02")
TRAVELLER = {"age_group", "sex", "nationality"}
RATE = re.compile(r"\d+/\d+ = \d+\.\d\d% \[\d+\.\d\d%, \d+\.\d\d%\]")


def _period(start: str, end: str, gates: tuple[str, ...] = ()) -> Period:
    return Period(
        datetime.fromisoformat(start + "T00:00:00+00:00"),
        datetime.fromisoformat(end + "T00:00:00+00:00"),
        gates,
    )


@pytest.fixture(scope="module")
def exported(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Day 1 of the generated log, exported by the CLI in every format."""
    out = tmp_path_factory.mktemp("exports") / "day1"
    result = kiosk(
        "export", "--log", str(world.log), "--from", DAY1[0], "--to", DAY1[1], "--format", "csv,jsonl,pdf",
        "--out", str(out), "--account", "sup-1", "--signing-key", str(world.private_key),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "export:" in result.stderr and "100%" in result.stderr  # progress on stderr
    assert f"exported to {out}" in result.stdout
    return out


def test_every_format_reads_back(world: World, exported: Path) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    lines = (exported / "records.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert all(canonical_json(record) == line for record, line in zip(records, lines, strict=True))
    decisions = [r for r in records if r["kind"] == "decision"]
    assert len(decisions) == manifest["counts"]["decision"] == 1500  # day 1 of 3000 over two days
    assert all(DAY1[0] <= d["time_utc"][:10] < DAY1[1] for d in decisions)
    assert manifest["counts"]["resolution"] == sum(r["kind"] == "resolution" for r in records) > 100
    first = decisions[0]
    for name in (
        "face_score",
        "face_threshold",
        "models",
        "reason_codes",
        "watchlist_hits",
        "document_checks",
    ):
        assert name in first  # the full record: scores, thresholds, model and watchlist versions, codes
    assert first["models"]["watchlist.interpol"] == "v42"
    assert first["quality"]["timeouts_s"]["capture"] == 15.0  # configured time-outs, as the gate records them
    assert re.fullmatch(r"[0-9a-f]{64}", first["document_number_hash"])  # keyed hash, never the number
    assert all(not str(r.get("document_number_hash", "")).startswith("X") for r in decisions)
    with (exported / "decisions.csv").open(newline="", encoding="utf-8") as handle:
        raw = handle.read()
    assert raw.count("\r\n") == len(decisions) + 1  # CRLF line ends (RFC 4180), no bare LF
    assert raw.count("\n") == raw.count("\r\n")
    rows = list(csv.DictReader(raw.splitlines()))
    assert [row["id"] for row in rows] == [d["id"] for d in decisions]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["time_utc"]) for row in rows)
    referred = [row for row in rows if row["outcome"] == "REFER"]
    assert referred and all(row["reason_codes"] for row in referred)
    with (exported / "resolutions.csv").open(newline="", encoding="utf-8") as handle:
        resolutions = list(csv.DictReader(handle))
    assert {row["officer"] for row in resolutions} <= {f"officer-{i}" for i in range(1, 6)}
    assert {"IDENTITY_CONFIRMED", "MANUAL_BOOTH"} <= {row["reason_code"] for row in resolutions}
    codes = {row["code"]: row for row in csv.DictReader((exported / "codes.csv").open(encoding="utf-8"))}
    assert codes["FACE_NO_MATCH"]["kind"] == "reason" and codes["LOG_CHAIN_BROKEN"]["kind"] == "error"
    assert {c for d in decisions for c in d["reason_codes"]} <= set(codes)
    assert codes["IDENTITY_CONFIRMED"]["kind"] == "resolution_reason"  # the officers' reasons are listed too
    assert {row["reason_code"] for row in resolutions} <= set(codes)
    assert not (exported / "images").exists()  # no biometric data by default
    text = "".join(page.extract_text() for page in PdfReader(exported / "report.pdf").pages)
    assert "Referred cases" in text and "Score distributions against thresholds" in text
    assert referred[0]["id"] in text
    # version-2 records carry the traveller's age group, sex and nationality and the flow's timings
    current = [d for d in decisions if d["extra"].get("record_version") == 2]
    assert len(current) == 1350 and all(set(d["extra"]["traveller"]) == TRAVELLER for d in current)
    assert all(d["extra"]["timings_ms"]["total"] > 0 and "attempts" in d["quality"] for d in current)
    assert all("traveller" not in d["extra"] for d in decisions if d not in current)  # version 1


def test_account_events_are_exported_without_secrets(world: World, exported: Path) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    events = [json.loads(line) for line in (exported / "accounts.jsonl").read_text().splitlines()]
    assert len(events) == manifest["counts"]["account_event"]
    actions = [e["action"] for e in events]
    assert actions.count("evidence_opened") == EVIDENCE_OPENED and "locked_out" in actions
    assert {"created", "signed_in", "sign_in_failed", "unlocked"} <= set(actions)
    assert all(DAY1[0] <= e["time_utc"][:10] < DAY1[1] for e in events)
    decision_ids = {json.loads(line)["id"] for line in (exported / "records.jsonl").read_text().splitlines()}
    opened = [e for e in events if e["action"] == "evidence_opened"]
    assert all(e["actor"] == "off-1" and e["detail"]["decision_id"] in decision_ids for e in opened)
    with (exported / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [e["id"] for e in events]
    # the account chain's head at export: today's sign-ins came after the period, as links only
    conn = sqlite3.connect(world.log)
    stored = conn.execute("SELECT seq, hash FROM account_events ORDER BY seq").fetchall()
    secrets_ = [row[0] for row in conn.execute("SELECT password_hash FROM accounts")]
    secrets_ += [row[0] for row in conn.execute("SELECT token_hash FROM sessions")]
    conn.close()
    head = manifest["account_chain"]["head"]
    assert (head["seq"], head["hash"]) in stored and head["seq"] > len(events)
    assert manifest["account_chain"]["links_file_records"] == head["seq"] - len(events) > 0
    everything = b"".join(p.read_bytes() for p in exported.iterdir())
    assert secrets_ and not any(secret.encode() in everything for secret in secrets_)
    assert b"argon2" not in everything
    stats = json.loads((exported / "stats.json").read_text())
    assert stats["account_events"]["evidence_opened"] == {"off-1": EVIDENCE_OPENED}


def test_pdf_figures_equal_kiosk_stats(world: World, exported: Path, tmp_path: Path) -> None:
    stats = kiosk("stats", "--log", str(world.log), "--from", DAY1[0], "--to", DAY1[1])
    assert stats.returncode == 0, stats.stderr
    figures = RATE.findall(stats.stdout)
    assert len(figures) > 20 and "FNMR (officer-confirmed genuine)" in stats.stdout
    pdf_text = " ".join(page.extract_text() for page in PdfReader(exported / "report.pdf").pages)
    assert RATE.findall(" ".join(pdf_text.split()))[: len(figures)] == figures
    as_json = json.loads(
        kiosk("stats", "--log", str(world.log), "--from", DAY1[0], "--to", DAY1[1], "--json").stdout
    )
    assert as_json == json.loads((exported / "stats.json").read_text())
    pages = subprocess.run(
        ["pdftoppm", "-r", "50", "-png", str(exported / "report.pdf"), str(tmp_path / "page")], check=True
    )
    assert pages.returncode == 0
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == len(PdfReader(exported / "report.pdf").pages) >= 3
    assert all(p.stat().st_size > 5000 for p in rendered)  # pages with content, not blank


def test_verify_export_accepts_the_export(world: World, exported: Path) -> None:
    result = kiosk("verify-export", str(exported), "--public-key", str(world.public_key))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: 1500 decisions") and "signed by the given key" in result.stdout


def _copy(exported: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(exported, target)
    return target


def _edit_lines(path: Path, edit) -> None:
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(edit(lines)))


def _alter_score(lines: list[bytes]) -> list[bytes]:
    i = next(i for i, line in enumerate(lines) if b'"face_score":0.' in line)
    lines[i] = re.sub(
        rb'"face_score":0\.(\d)',
        lambda m: b'"face_score":0.' + bytes([48 + (int(m[1]) + 1) % 10]),
        lines[i],
        count=1,
    )
    return lines


TAMPERING = {
    "record altered": (
        "records.jsonl",
        _alter_score,
        ["records.jsonl: content differs", "content does not match its hash"],
    ),
    "record removed": (
        "records.jsonl",
        lambda ls: ls[:10] + ls[11:],
        ["records.jsonl: content differs", "seq"],
    ),
    "records reordered": (
        "records.jsonl",
        lambda ls: [ls[1], ls[0], *ls[2:]],
        ["records.jsonl: content differs", "out of order"],
    ),
    "record added": (
        "records.jsonl",
        lambda ls: [*ls[:5], ls[5], *ls[5:]],
        ["records.jsonl: content differs", "repeated"],
    ),
    "last record removed": ("records.jsonl", lambda ls: [*ls[:-2], b""], ["records.jsonl: content differs"]),
    "chain link removed": ("chain.jsonl", lambda ls: ls[1:], ["chain.jsonl: content differs"]),
    "csv cell altered": (
        "decisions.csv",
        lambda ls: [ls[0], ls[1].replace(b",PASS,", b",REFER,", 1), *ls[2:]],
        ["decisions.csv: content differs"],
    ),
    "csv row removed": (
        "decisions.csv",
        lambda ls: [ls[0], *ls[2:]],
        ["decisions.csv: content differs", "decisions.csv line 2"],
    ),
    "code list altered": ("codes.csv", lambda ls: [*ls[:3], *ls[4:]], ["codes.csv: content differs"]),
    "account event altered": (
        "accounts.jsonl",
        lambda ls: [ls[0], ls[1].replace(b'"action":"signed_in"', b'"action":"signed_out"'), *ls[2:]],
        ["accounts.jsonl: content differs", "(account_event", "content does not match its hash"],
    ),
    "account event removed": (
        "accounts.jsonl",
        lambda ls: ls[:2] + ls[3:],
        ["accounts.jsonl: content differs", "seq 3 was expected here"],
    ),
    "account events reordered": (
        "accounts.jsonl",
        lambda ls: [ls[1], ls[0], *ls[2:]],
        ["accounts.jsonl: content differs", "out of order"],
    ),
    "account event added": (
        "accounts.jsonl",
        lambda ls: [*ls[:4], ls[3], *ls[4:]],
        ["accounts.jsonl: content differs", "repeated"],
    ),
    "last account event removed": (
        "accounts.jsonl",
        lambda ls: [*ls[:-2], b""],
        ["accounts.jsonl: content differs", "account_event records, the manifest says"],
    ),
    "account chain link removed": (
        "account_chain.jsonl",
        lambda ls: ls[1:],
        ["account_chain.jsonl: content differs", "account_chain.jsonl holds"],
    ),
    "account csv row altered": (
        "accounts.csv",
        lambda ls: [ls[0], ls[1].replace(b"sup-1", b"sup-2", 1), *ls[2:]],
        ["accounts.csv: content differs", "accounts.csv line 2"],
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_detected_and_named(world: World, exported: Path, tmp_path: Path, case: str) -> None:
    name, edit, expected = TAMPERING[case]
    folder = _copy(exported, tmp_path)
    _edit_lines(folder / name, edit)
    check = verify_export(folder, next(iter(load_trusted_keys([world.public_key]).values())))
    assert not check.ok
    for fragment in expected:
        assert any(fragment in problem for problem in check.problems), (fragment, check.problems[:5])


def test_one_byte_anywhere_is_detected(exported: Path, tmp_path: Path) -> None:
    folder = _copy(exported, tmp_path)
    pdf = folder / "report.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    assert verify_export(folder).problems == [
        next(p for p in verify_export(folder).problems if p.startswith("report.pdf"))
    ]


def test_added_or_missing_files_and_a_forged_manifest_are_detected(
    world: World, exported: Path, tmp_path: Path
) -> None:
    folder = _copy(exported, tmp_path)
    (folder / "extra.csv").write_text("smuggled\r\n")
    (folder / "stats.json").unlink()
    problems = verify_export(folder).problems
    assert any("extra.csv: not in the manifest" in p for p in problems)
    assert any("stats.json: missing" in p for p in problems)
    # a forger updates the manifest's hash of an edited file: the signature no longer holds
    folder = _copy(exported, tmp_path / "forged")
    _edit_lines(folder / "records.jsonl", _alter_score)
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["name"] == "records.jsonl")
    entry["sha256"] = hashlib.sha256((folder / "records.jsonl").read_bytes()).hexdigest()
    entry["bytes"] = (folder / "records.jsonl").stat().st_size
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = kiosk("verify-export", str(folder), "--public-key", str(world.public_key))
    assert result.returncode == 1
    assert "MISMATCH: manifest signature does not verify" in result.stdout
    assert "content does not match its hash (the record was edited)" in result.stdout
    # re-signed with another key: the auditor's public key says it is not the agency's
    other = tmp_path / "other.pem"
    generate_signing_key(other, tmp_path / "other.pub")
    from kiosk.export.manifest import manifest_text, sign_manifest
    from matcher.signing import load_signing_key

    (folder / "manifest.json").write_text(manifest_text(sign_manifest(manifest, load_signing_key(other))))
    result = kiosk("verify-export", str(folder), "--public-key", str(world.public_key))
    assert result.returncode == 1 and "not by the given public key" in result.stdout
    assert kiosk("verify-export", str(tmp_path / "nowhere")).returncode == 2  # usage error


def test_empty_period_gives_a_valid_empty_export(world: World, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    result = export_period(
        world.log,
        _period("2025-01-01", "2025-01-02"),
        out,
        session=world.supervisor,
        signing_key=world.private_key,
    )
    assert result.manifest["counts"] == {"decision": 0, "resolution": 0, "export": 0, "account_event": 0}
    check = verify_export(out)
    assert check.ok, check.problems
    assert (out / "records.jsonl").read_bytes() == b""
    assert (out / "decisions.csv").read_bytes().count(b"\r\n") == 1  # the header only
    text = " ".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    assert "transactions: 0" in text and "no referred cases in the period" in text


def test_an_officer_cannot_export(world: World, tmp_path: Path) -> None:
    with DecisionLog(world.log, readonly=True) as log:
        head = log.head()
    with pytest.raises(PermissionDeniedError, match="not a supervisor"):
        export_period(
            world.log, _period(*DAY1), tmp_path / "x", session=world.officer, signing_key=world.private_key
        )
    result = kiosk(
        "export", "--log", str(world.log), "--from", DAY1[0], "--to", DAY1[1], "--out", str(tmp_path / "y"),
        "--account", "off-1", "--signing-key", str(world.private_key),
    )  # fmt: skip
    assert result.returncode == 2 and "not a supervisor" in result.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert not list(tmp_path.iterdir())  # no partial folder left either
    with DecisionLog(world.log, readonly=True) as log:
        assert log.head() == head  # nothing logged


def test_a_supervisor_exports_only_the_gates_the_account_covers(world: World, tmp_path: Path) -> None:
    from kiosk.store.accounts import Accounts

    with Accounts(world.log) as accounts:
        north = accounts.sign_in("sup-north", "correct horse battery staple")
    with pytest.raises(PermissionDeniedError, match="gate-02"):
        export_period(
            world.log,
            _period(*DAY1, ("gate-02",)),
            tmp_path / "x",
            session=north,
            signing_key=world.private_key,
        )
    result = export_period(
        world.log,
        _period(*DAY1),
        tmp_path / "north",
        session=north,
        signing_key=world.private_key,
        formats=("jsonl",),
    )
    records = [json.loads(line) for line in (tmp_path / "north" / "records.jsonl").read_text().splitlines()]
    assert {r["kiosk_id"] for r in records if r["kind"] == "decision"} == {"gate-01"}
    assert result.manifest["period"]["gates"] == ["gate-01"]
    assert verify_export(tmp_path / "north").ok


def test_every_export_is_a_chained_event_and_images_only_when_asked(world: World, tmp_path: Path) -> None:
    out = tmp_path / "with-images"
    period = _period(*DAY1)
    result = export_period(
        world.log,
        period,
        out,
        session=world.supervisor,
        signing_key=world.private_key,
        formats=("jsonl",),
        include_images=True,
        keys=world.keys,
    )
    images = sorted((out / "images").iterdir())
    assert images and result.manifest["images"] == len(images)
    assert all(p.name.endswith("_live_face.jpg") and p.read_bytes()[:2] == b"\xff\xd8" for p in images)
    assert verify_export(out).ok
    with DecisionLog(world.log, readonly=True) as log:
        assert log.verify().ok
        event = next(r for r in log.records(result.event_seq - 1))
    assert event.kind == "export" and event.actor == "sup-1" and event.role == "supervisor"
    assert event.detail["includes_images"] is True
    assert event.detail["manifest_sha256"] == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert event.detail["period"] == period.as_dict()
    # an export of a period holding that event carries it, verifiably
    now = datetime.now(START.tzinfo)
    later = Period(now - timedelta(hours=1), now + timedelta(hours=1))
    again = export_period(
        world.log,
        later,
        tmp_path / "events",
        session=world.supervisor,
        signing_key=world.private_key,
        formats=("csv",),
    )
    assert again.manifest["counts"]["export"] >= 1 and again.manifest["counts"]["decision"] == 0
    with (tmp_path / "events" / "exports.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert event.id in {row["id"] for row in rows}
    assert verify_export(tmp_path / "events").ok
    with pytest.raises(Exception, match="key file"):
        export_period(
            world.log,
            period,
            tmp_path / "z",
            session=world.supervisor,
            signing_key=world.private_key,
            include_images=True,
        )


def test_export_while_the_kiosk_keeps_appending(tmp_path: Path) -> None:
    """The export reads one snapshot while the kiosk process holds the log and appends; the export event
    is chained after whatever the kiosk wrote meanwhile, and the export still verifies."""
    import threading

    from export_helpers import make_world

    from kiosk.decision import Decision

    small = make_world(tmp_path / "busy", count=300)
    stop = threading.Event()
    appended = []

    def kiosk_appending() -> None:
        with DecisionLog(small.log, small.keys) as log:  # the kiosk's exclusive writer
            while not stop.is_set():
                now = datetime.now(START.tzinfo).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                appended.append(log.append(Decision("gate-01", "PASS", (), time_utc=now)))

    writer = threading.Thread(target=kiosk_appending)
    writer.start()
    try:
        while len(appended) < 20:
            threading.Event().wait(0.01)
        result = export_period(
            small.log, _period("2026-11-01", "2026-11-03"), tmp_path / "out", session=small.supervisor,
            signing_key=small.private_key, formats=("jsonl",),
        )  # fmt: skip
    finally:
        stop.set()
        writer.join()
    assert verify_export(tmp_path / "out").ok
    assert result.manifest["counts"]["decision"] == 300
    assert result.event_seq > result.manifest["chain"]["head"]["seq"]
    with DecisionLog(small.log, readonly=True) as log:
        assert log.verify().ok


def test_a_format_1_export_still_verifies_and_format_2_needs_the_account_chain(
    world: World, exported: Path, tmp_path: Path
) -> None:
    from kiosk.export.manifest import manifest_text, sign_manifest
    from matcher.signing import load_signing_key

    key = load_signing_key(world.private_key)
    account_files = {"accounts.jsonl", "accounts.csv", "account_chain.jsonl"}
    old = _copy(exported, tmp_path / "format-1")
    manifest = json.loads((old / "manifest.json").read_text())
    for name in account_files:
        (old / name).unlink()
    manifest = {k: v for k, v in manifest.items() if k not in ("signature", "account_chain")}
    manifest["format"] = "egate-audit-export/1"
    manifest["files"] = [f for f in manifest["files"] if f["name"] not in account_files]
    manifest["counts"].pop("account_event")
    (old / "manifest.json").write_text(manifest_text(sign_manifest(manifest, key)))
    assert verify_export(old).ok, verify_export(old).problems
    manifest["format"] = "egate-audit-export/2"  # claims the account chain but states none
    (old / "manifest.json").write_text(manifest_text(sign_manifest(manifest, key)))
    assert verify_export(old).ok  # no account files listed: nothing to follow
    new = _copy(exported, tmp_path / "format-2")
    manifest = json.loads((new / "manifest.json").read_text())
    manifest = {k: v for k, v in manifest.items() if k not in ("signature", "account_chain")}
    (new / "manifest.json").write_text(manifest_text(sign_manifest(manifest, key)))
    assert "manifest states no account_chain" in " ".join(verify_export(new).problems)

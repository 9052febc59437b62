"""``export_period``: a signed, verifiable audit export of a period of the decision log.

One streaming pass over the log's snapshot (``select.period_rows``, the chain verified as it goes) writes the
record files, feeds the statistics and the referral list, and, when asked and allowed, the referred cases'
images; a second pass does the same for the account chain (``select.account_rows``: officers' sign-ins,
failures, lock-outs, account changes, evidence openings); then the code list, ``stats.json``, the PDF
report and the signed manifest (both chains' heads). The export is logged as a chained ``export`` event
(who, period, formats, images or not, the manifest's sha256) *before* the folder is published: an export
that could not be logged is not handed out. Memory stays bounded whatever the period (counters, fixed
histograms, one entry per referral awaiting its resolution, the first 1000 referrals for the report).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.export.codes import CODES_FILE, code_list, codes_csv
from kiosk.export.manifest import FORMAT, MANIFEST_FILE, file_digest, manifest_text, sign_manifest
from kiosk.export.pdf import PDF_FILE, ReferralList, report_header, write_report
from kiosk.export.select import Head, Period, account_rows, period_rows
from kiosk.export.stats import DEFAULT_MIN_CELL, StatsBuilder
from kiosk.export.writers import ACCOUNT_FILES, DECISION_FILES, RecordWriters
from kiosk.store.accounts import ACCOUNT_CHAIN, ALL_GATES, Accounts, Session
from kiosk.store.chain import canonical_json, genesis_hash
from kiosk.store.errors import PermissionDeniedError, StoreError
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog
from kiosk.store.records import LoggedDecision
from matcher.errors import MatcherError
from matcher.signing import load_signing_key
from matcher.utc import iso_utc, utc_now

FORMATS = ("csv", "jsonl", "pdf")
STATS_FILE = "stats.json"
IMAGES_DIR = "images"
IMAGE_KINDS = {"live_face": ".jpg", "document_portrait": ".jpg", "capture_frames": ".zip"}

Progress = Callable[[int, int], None]  # (rows read, rows in the snapshot)


class ExportError(StoreError):
    """The export cannot be made as asked (nothing was published)."""

    code = "EXPORT_REFUSED"


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    manifest: dict[str, Any]
    event_seq: int  # the export's own event in the chain


def authorize_export(log_path: Path, session: Session, period: Period) -> tuple[Session, Period]:
    """The session as it stands (checked against the log's accounts: signed in, not locked, a supervisor)
    and the period narrowed to the gates the account covers; PermissionDeniedError otherwise. The export
    enforces this itself, whatever a console or command line shows."""
    with Accounts(log_path) as accounts:
        current = accounts.authorize(session, "supervisor")
    if ALL_GATES in current.gates:
        return current, period
    outside = [gate for gate in period.gates if gate not in current.gates]
    if outside:
        raise PermissionDeniedError(
            f"account {current.account_id} does not cover gate(s) {', '.join(outside)}"
        )
    return current, dataclasses.replace(period, gates=period.gates or current.gates)


def signing_key_file(given: Path | None, configured: Path | None) -> Path:
    """The export signing key's file: ``given`` (``--signing-key`` or ``EGATE_EXPORT_SIGNING_KEY``), else the
    configuration's ``[export] signing_key``; ExportError when there is none or it cannot be loaded as an
    Ed25519 private key (checked before anything is signed in, logged or written)."""
    path = given or configured
    if path is None:
        raise ExportError(
            "no export signing key: give --signing-key, EGATE_EXPORT_SIGNING_KEY or [export] signing_key "
            "in the kiosk's configuration (--config)"
        )
    source = "--signing-key" if given else "[export] signing_key"
    try:
        load_signing_key(path)
    except OSError as exc:
        raise ExportError(f"export signing key {path} ({source}): {exc.strerror or exc}") from None
    except MatcherError as exc:
        raise ExportError(f"export signing key {path} ({source}): {exc}") from None
    return path


def export_period(
    log_path: str | Path,
    period: Period,
    out: str | Path,
    *,
    session: Session,
    signing_key: str | Path,
    formats: tuple[str, ...] = FORMATS,
    include_images: bool = False,
    keys: KeyRing | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``period`` of the log at ``log_path`` into the new folder ``out``, signed with the Ed25519
    private key file ``signing_key``; ``include_images`` (supervisors only, needs the log's ``keys``) adds
    the referred cases' evidence images. ExportError (nothing published) when not allowed or not possible."""
    log_path, out = Path(log_path), Path(out)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ExportError(f"formats must be among {', '.join(FORMATS)}, not {', '.join(unknown) or 'none'}")
    if not log_path.is_file():
        raise ExportError(f"decision log {log_path} does not exist")
    exporter, period = authorize_export(log_path, session, period)
    if include_images and keys is None:
        raise ExportError("exporting images needs the log's key file (the evidence is sealed)")
    if out.exists():
        raise ExportError(f"{out} exists: an export goes into a new folder")
    private_key = load_signing_key(Path(signing_key))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        manifest = _write(log_path, period, work, exporter, formats, include_images, keys, min_cell, progress)
        manifest = sign_manifest(manifest, private_key)
        text = manifest_text(manifest)
        (work / MANIFEST_FILE).write_text(text, encoding="utf-8")
        event_seq = _log_export(log_path, exporter, manifest, hashlib.sha256(text.encode()).hexdigest())
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportResult(out, manifest, event_seq)


def _write(
    log_path: Path,
    period: Period,
    work: Path,
    exporter: Session,
    formats: tuple[str, ...],
    include_images: bool,
    keys: KeyRing | None,
    min_cell: int,
    progress: Progress | None,
) -> dict[str, Any]:
    writers = RecordWriters(work, formats)
    account_writers = RecordWriters(work, formats, ACCOUNT_FILES)
    stats = StatsBuilder(period, min_cell=min_cell)
    referrals = ReferralList()
    counts = {"decision": 0, "resolution": 0, "export": 0, "account_event": 0}
    images = 0
    head, account_head = Head(0, ""), Head(0, "")
    with DecisionLog(log_path, keys, readonly=True) as log:
        total, _ = log.head()
        last_report = 0.0
        for done, item in enumerate(period_rows(log, period, head), start=1):
            record, stored = item.record, item.record.stored
            if item.selected:
                writers.record(record.kind, stored)
                counts[record.kind] += 1
                if include_images and isinstance(record, LoggedDecision) and record.outcome == "REFER":
                    images += _write_images(log, record.id, work)
            else:
                writers.skipped(record.kind, stored)
            stats.add(item)
            referrals.add(item)
            now = time.monotonic()
            if progress is not None and (now - last_report > 1.0 or done == total):
                progress(done, max(total, done))
                last_report = now
        for event in account_rows(log, period, account_head):
            if event.selected:
                account_writers.record("account_event", event.row)
                counts["account_event"] += 1
            else:
                account_writers.skipped("account_event", event.row)
            stats.add_account_event(event)
        log_id, genesis = log.log_id, log.genesis
    file_stats = {
        f.name: {"bytes": f.bytes, "sha256": f.sha256, "records": f.records}
        for f in (*writers.close(), *account_writers.close())
    }
    result = stats.result()
    (work / CODES_FILE).write_text(codes_csv(code_list()), encoding="utf-8", newline="")
    (work / STATS_FILE).write_text(canonical_json(result.as_dict()) + "\n", encoding="utf-8")
    meta: dict[str, Any] = {
        "format": FORMAT,
        "log_id": log_id,
        "period": period.as_dict(),
        "exported_utc": iso_utc(utc_now()),
        "exported_by": {"account_id": exporter.account_id, "role": exporter.role},
        "includes_images": include_images,
        "formats": sorted(formats),
        "counts": counts,
        "images": images,
        "chain": _chain_section(genesis, head, writers, file_stats[DECISION_FILES.links]["records"]),
        "account_chain": _chain_section(
            genesis_hash(log_id, ACCOUNT_CHAIN),
            account_head,
            account_writers,
            file_stats[ACCOUNT_FILES.links]["records"],
        ),
    }
    if "pdf" in formats:
        write_report(work / PDF_FILE, result, referrals, report_header(meta))
    files = []
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        digest, size = file_digest(path)
        name = path.relative_to(work).as_posix()
        records = file_stats.get(name, {}).get("records")
        files.append(
            {
                "name": name,
                "bytes": size,
                "sha256": digest,
                **({"records": records} if records is not None else {}),
            }
        )
    return {**meta, "files": files}


def _chain_section(genesis: str, head: Head, writers: RecordWriters, links: int) -> dict[str, Any]:
    """What the manifest states of one chain: its genesis and head at export, where the export joins it."""
    return {
        "genesis": genesis,
        "head": {"seq": head.seq, "hash": head.hash},
        "first_seq": writers.first_seq,
        "first_prev_hash": writers.first_prev_hash,
        "links_file_records": links,
    }


def _write_images(log: DecisionLog, decision_id: str, work: Path) -> int:
    written = 0
    for kind, blob in sorted(log.evidence(decision_id).items()):
        if kind not in IMAGE_KINDS:  # templates are not images
            continue
        path = work / IMAGES_DIR / f"{decision_id}_{kind}{IMAGE_KINDS[kind]}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(blob)
        written += 1
    return written


def _log_export(log_path: Path, exporter: Session, manifest: dict[str, Any], manifest_sha256: str) -> int:
    """The export's chained audit event; returns its seq."""
    detail = {
        "period": manifest["period"],
        "formats": manifest["formats"],
        "includes_images": manifest["includes_images"],
        "counts": manifest["counts"],
        "head": manifest["chain"]["head"],
        "account_head": manifest["account_chain"]["head"],
        "manifest_sha256": manifest_sha256,
        "signing_key_id": manifest["signature"]["key_id"],
    }
    with DecisionLog(log_path, exclusive=False) as log:
        return log.log_export(exporter.account_id, exporter.role, detail)

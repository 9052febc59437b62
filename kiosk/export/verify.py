"""``verify_export``: check an export folder as an auditor would, naming everything that does not match.

1. The manifest's Ed25519 signature (against the agency's public key when given).
2. Every file: listed in the manifest with its size and sha256, and nothing unlisted beside them.
3. The records (``records.jsonl``) with the links of the rows left out (``chain.jsonl``), merged by seq: each
   record's hash recomputed from its content with the chain's own functions, seq contiguous, each prev_hash
   the hash before it, from the first exported record to the chain head the manifest states; decisions in
   the stated period; counts as stated. The same for the account chain (format 2: ``accounts.jsonl`` with
   ``account_chain.jsonl`` against the stated account head; events in the period).
4. Every CSV row rebuilt into its record and its hash recomputed, rows in the order of the JSON Lines records.

Any altered, removed, reordered or added record or byte shows up in 2 (the file's hash) and, for records,
in 3 or 4 naming the record. Memory stays bounded: files are streamed.
"""

from __future__ import annotations

import csv
import heapq
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk.export.manifest import FORMAT, MANIFEST_FILE, file_digest, read_manifest, signature_problems
from kiosk.export.writers import (
    ACCOUNT_FILES,
    DECISION_FILES,
    JSON_COLUMNS,
    LINK_FIELDS,
    ChainFiles,
    RecordFormatError,
    csv_columns,
    stored_row,
)
from kiosk.store.chain import link_hash

_NULLABLE = {
    "document_type",
    "issuing_state",
    "document_number_hash",
    "face_score",
    "face_threshold",
    "reason_code",
}
_FLOATS = {"face_score", "face_threshold"}


@dataclass
class ExportCheck:
    folder: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    trusted_key: bool = False  # the signature was checked against a given public key

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_export(folder: str | Path, public_key: Ed25519PublicKey | None = None) -> ExportCheck:
    """Check the export in ``folder`` (see the module docstring); ``public_key`` pins the signer."""
    check = ExportCheck(Path(folder), trusted_key=public_key is not None)
    try:
        check.manifest = read_manifest(check.folder)
    except ValueError as exc:
        check.problems.append(str(exc))
        return check
    check.problems += signature_problems(check.manifest, public_key)
    check.problems += _file_problems(check.folder, check.manifest)
    listed = {entry.get("name") for entry in check.manifest.get("files", [])}
    chains = [(DECISION_FILES, "chain")]
    if check.manifest.get("format") == FORMAT:  # format 1 exports carry no account chain
        chains.append((ACCOUNT_FILES, "account_chain"))
    for files, section in chains:
        if files.records in listed and (check.folder / files.records).is_file():
            check.problems += _chain_problems(check.folder, check.manifest, files, section)
            for kind, name in files.csv.items():
                if name in listed and (check.folder / name).is_file():
                    check.problems += _csv_problems(check.folder, name, kind, files.records)
    return check


def _file_problems(folder: Path, manifest: dict[str, Any]) -> list[str]:
    problems, seen = [], set()
    for entry in manifest.get("files", []):
        name = str(entry.get("name", ""))
        path = folder / name
        if not name or name.startswith("/") or ".." in Path(name).parts or name in seen:
            problems.append(f"manifest lists an unusable or repeated file name {name!r}")
            continue
        seen.add(name)
        if not path.is_file():
            problems.append(f"{name}: missing (listed in the manifest)")
            continue
        digest, size = file_digest(path)
        if size != entry.get("bytes") or digest != entry.get("sha256"):
            problems.append(
                f"{name}: content differs from the manifest ({size} bytes, sha256 {digest[:16]}..., "
                f"manifest {entry.get('bytes')} bytes, {str(entry.get('sha256'))[:16]}...)"
            )
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name != MANIFEST_FILE and name not in seen:
            problems.append(f"{name}: not in the manifest (added after the export)")
    return problems


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, parsed object or None, error) of a JSON Lines file."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not JSON ({exc.msg})"
                continue
            yield (number, value, "") if isinstance(value, dict) else (number, None, "not a JSON object")


def _entries(path: Path, source: str) -> Iterator[tuple[int, str, int, dict[str, Any] | None, str]]:
    """(seq, source, line, object, error) in file order; unparsable lines get seq -1 (reported first)."""
    for number, value, error in _lines(path):
        seq = value.get("seq") if value is not None else None
        if not isinstance(seq, int):
            yield -1, source, number, None, error or "has no integer seq"
        else:
            yield seq, source, number, value, ""


def _chain_problems(folder: Path, manifest: dict[str, Any], files: ChainFiles, section: str) -> list[str]:
    """One chain's records and links (``files``) against the manifest's ``section`` of it."""
    chain = manifest.get(section)
    if not isinstance(chain, dict):
        return [f"manifest states no {section} (its head and where the export joins it)"]
    head = chain.get("head", {})
    period = manifest.get("period", {})
    problems: list[str] = []
    counts: Counter[str] = Counter()
    links = 0
    expected_seq, prev_hash = chain.get("first_seq") or 0, chain.get("first_prev_hash")
    merged = heapq.merge(
        _entries(folder / files.records, files.records),
        _entries(folder / files.links, files.links) if (folder / files.links).is_file() else iter(()),
        key=lambda entry: entry[0],
    )
    for seq, source, number, value, error in merged:
        where = f"{source} line {number}"
        if value is None:
            problems.append(f"{where}: {error}")
            continue
        label = f"seq {seq} ({value.get('kind')} {value.get('id')}, {where})"
        if source == files.records:
            try:
                kind, row = stored_row(value)
                if kind not in files.csv:
                    raise RecordFormatError(f"a {kind} record does not belong to {files.records}")
                if link_hash(kind, row) != row["hash"]:
                    problems.append(f"{label}: content does not match its hash (the record was edited)")
            except (RecordFormatError, ValueError, TypeError) as exc:
                problems.append(f"{label}: not an exported record ({exc})")
                continue
            counts[kind] += 1
            if kind in ("decision", "account_event") and not (
                period.get("from", "") <= row["time_utc"] < period.get("to", "")
            ):
                problems.append(f"{label}: {kind} time {row['time_utc']} is outside the exported period")
        else:
            if sorted(value) != sorted(LINK_FIELDS):
                problems.append(f"{label}: not a chain link")
                continue
            links += 1
        if seq != expected_seq:
            what = "missing (removed) or out of order" if seq > expected_seq else "repeated or out of order"
            problems.append(f"{label}: seq {expected_seq} was expected here: rows {what}")
        elif value.get("prev_hash") != prev_hash:
            problems.append(
                f"{label}: prev_hash does not link to the row before (a row was changed or moved)"
            )
        expected_seq, prev_hash = seq + 1, value.get("hash")
    if chain.get("first_seq") and (expected_seq - 1, prev_hash) != (head.get("seq"), head.get("hash")):
        problems.append(
            f"{files.records}: the records end at seq {expected_seq - 1} (hash {str(prev_hash)[:16]}...), "
            f"not at the stated {section} head seq {head.get('seq')} (hash {str(head.get('hash'))[:16]}...): "
            "rows removed or added at the end"
        )
    for kind, count in manifest.get("counts", {}).items():
        if kind in files.csv and counts[kind] != count:
            problems.append(f"{files.records} holds {counts[kind]} {kind} records, the manifest says {count}")
    if links != chain.get("links_file_records", 0):
        problems.append(
            f"{files.links} holds {links} links, the manifest says {chain.get('links_file_records')}"
        )
    return problems


def _csv_value(name: str, kind: str, cell: str) -> Any:
    if name == "seq":
        return int(cell)
    if name in _NULLABLE and cell == "":
        return None
    if name in _FLOATS:
        return float(cell)
    if name == "reason_codes":
        return cell.split(";") if cell else []
    if name in JSON_COLUMNS[kind]:
        return json.loads(cell)
    return cell


def _csv_problems(folder: Path, name: str, kind: str, records_file: str) -> list[str]:
    """Each CSV row rebuilt and hashed, in the order of the JSON Lines records of its kind."""
    problems = []
    records = (v for _, v, _ in _lines(folder / records_file) if v is not None and v.get("kind") == kind)
    columns = csv_columns(kind)
    with (folder / name).open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if tuple(header or ()) != columns:
            return [f"{name}: header is not {', '.join(columns)}"]
        for number, cells in enumerate(rows, start=2):
            expected = next(records, None)
            where = f"{name} line {number}"
            try:
                record = {
                    "kind": kind,
                    **{c: _csv_value(c, kind, v) for c, v in zip(columns, cells, strict=True)},
                }
                _, row = stored_row(record)
                if link_hash(kind, row) != row["hash"]:
                    problems.append(
                        f"{where} (seq {record['seq']}): content does not match its hash (edited)"
                    )
            except (ValueError, TypeError, RecordFormatError) as exc:
                problems.append(f"{where}: not an exported {kind} row ({exc})")
                continue
            if expected is None or (expected.get("seq"), expected.get("hash")) != (
                record["seq"],
                record["hash"],
            ):
                problems.append(
                    f"{where} (seq {record['seq']}): not the {kind} record of {records_file} at this place"
                )
        if next(records, None) is not None:
            problems.append(f"{name}: fewer rows than {records_file} has {kind} records (rows removed)")
    return problems

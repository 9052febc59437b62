"""The export's record files: JSON Lines with every chained record in full, and CSV views of them.

``records.jsonl``: one chained record per line (decisions, resolutions, export events of the period, in
chain order), every field the chain hashes, JSON columns as JSON values, plus ``kind`` and ``hash``.
``stored_row`` turns a line back into the row exactly as the log stored it (the log writes its JSON columns
as canonical JSON, so parsing and re-serialising is exact), so ``kiosk.store.chain.link_hash`` recomputes
every hash: the file proves itself against the chain head in the signed manifest.

CSV (RFC 4180: comma, double-quote escaping, CRLF line ends; UTF-8 without BOM; times ISO 8601 UTC as the
log stores them): ``decisions.csv``, ``resolutions.csv``, ``exports.csv``, one row per record of that kind in
chain order, nested values as canonical JSON in their cell, lists of codes joined with ``;``.

``chain.jsonl``: the links (``seq``, ``kind``, ``id``, ``prev_hash``, ``hash``) of the rows between the first
exported record and the head that the period does not select, so the exported records can be followed link by
link to the head without disclosing anything else.

The account chain (its own sequence) has the same three files of its own (``ACCOUNT_FILES``):
``accounts.jsonl``, ``accounts.csv`` and ``account_chain.jsonl``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.store.chain import FIELDS, OPTIONAL_FIELDS, canonical_json

RECORDS_FILE = "records.jsonl"
CHAIN_FILE = "chain.jsonl"
CSV_FILES = {"decision": "decisions.csv", "resolution": "resolutions.csv", "export": "exports.csv"}


@dataclass(frozen=True)
class ChainFiles:
    """The files one hash chain is exported to: its records in full, the links left out, a CSV per kind."""

    records: str
    links: str
    csv: dict[str, str] = field(default_factory=dict)  # kind -> CSV file name


DECISION_FILES = ChainFiles(RECORDS_FILE, CHAIN_FILE, CSV_FILES)
ACCOUNT_FILES = ChainFiles("accounts.jsonl", "account_chain.jsonl", {"account_event": "accounts.csv"})
JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "decision": (
        "reason_codes",
        "document_checks",
        "quality",
        "liveness",
        "watchlist_hits",
        "models",
        "extra",
        "evidence",
    ),
    "resolution": (),
    "export": ("detail",),
    "account_event": ("detail",),
}
LINK_FIELDS = ("seq", "kind", "id", "prev_hash", "hash")
_CODE_LISTS = ("reason_codes",)


class RecordFormatError(ValueError):
    """An exported line is not a record this program wrote."""


def stored_row(record: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(kind, row as the log stored it)`` from an exported record; RecordFormatError if it is not one."""
    kind = record.get("kind")
    if kind not in JSON_COLUMNS:
        raise RecordFormatError(f"unknown record kind {kind!r}")
    missing = [name for name in (*FIELDS[kind], "hash") if name not in record]
    if missing:
        raise RecordFormatError(f"{kind} record lacks {', '.join(missing)}")
    row = {name: value for name, value in record.items() if name != "kind"}
    for name in JSON_COLUMNS[kind]:
        if row.get(name) is not None:
            row[name] = canonical_json(row[name])
    return kind, row


def link(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The chain link of a row the export does not carry."""
    return {name: kind if name == "kind" else row[name] for name in LINK_FIELDS}


def csv_columns(kind: str) -> tuple[str, ...]:
    """The CSV header of a kind: the chain's fields in their order, the optional ones a later schema added
    (a resolution's reason code), then ``hash``."""
    return (*FIELDS[kind], *OPTIONAL_FIELDS.get(kind, ()), "hash")


_SCALAR = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # one encoder: json.dumps builds one per call


def _dumps(value: Any) -> str:
    """One JSON scalar as canonical JSON writes it."""
    return _SCALAR.encode(value)


@dataclass
class FileStat:
    name: str
    records: int
    bytes: int
    sha256: str


class HashingWriter:
    """A text file written as UTF-8 whose sha256 and size are computed while it is written."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self._handle = path.open("wb")
        self._digest = hashlib.sha256()
        self._bytes = 0
        self.records = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self._handle.write(data)
        self._digest.update(data)
        self._bytes += len(data)

    def close(self) -> FileStat:
        self._handle.close()
        return FileStat(self.name, self.records, self._bytes, self._digest.hexdigest())


class RecordWriters:
    """Streams one chain's records into the files of the chosen formats (``jsonl`` and/or ``csv``) and its
    link file (``files``: the decisions' chain by default)."""

    def __init__(self, folder: Path, formats: tuple[str, ...], files: ChainFiles = DECISION_FILES) -> None:
        # the records in full whenever records are exported: the file verify-export follows the chain in
        records = "jsonl" in formats or "csv" in formats
        self.jsonl = HashingWriter(folder / files.records, files.records) if records else None
        self.chain = HashingWriter(folder / files.links, files.links)
        self.csv: dict[str, tuple[HashingWriter, Any, io.StringIO]] = {}
        self.first_prev_hash: str | None = None
        if "csv" in formats:
            for kind, name in files.csv.items():
                writer = HashingWriter(folder / name, name)
                buffer = io.StringIO()
                rows = csv.writer(buffer, lineterminator="\r\n")
                rows.writerow(csv_columns(kind))
                self._flush(writer, buffer)
                self.csv[kind] = (writer, rows, buffer)
        self.first_seq = 0

    @staticmethod
    def _flush(writer: HashingWriter, buffer: io.StringIO) -> None:
        writer.write(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()

    def record(self, kind: str, row: Mapping[str, Any]) -> None:
        """A selected record (as stored), into every format. The JSON columns' stored text is canonical JSON
        already (the log writes nothing else) and goes in as it is, unparsed: the line is exactly
        the canonical JSON of the record with its JSON columns parsed, made without re-serialising them."""
        if not self.first_seq:
            self.first_seq, self.first_prev_hash = row["seq"], row["prev_hash"]
        json_columns = JSON_COLUMNS[kind]
        if self.jsonl is not None:
            fields = {"kind": _dumps(kind)}
            for name, value in row.items():
                fields[name] = value if name in json_columns and value is not None else _dumps(value)
            self.jsonl.write("{" + ",".join(f"{_dumps(n)}:{fields[n]}" for n in sorted(fields)) + "}\n")
            self.jsonl.records += 1
        if kind in self.csv:
            writer, rows, buffer = self.csv[kind]
            cells = []
            for name in csv_columns(kind):
                value = row.get(name)
                if name in _CODE_LISTS:
                    cells.append(";".join(json.loads(value)))
                elif name in json_columns or value is None:
                    cells.append(value or "")
                else:
                    cells.append(repr(value) if isinstance(value, float) else str(value))
            rows.writerow(cells)
            self._flush(writer, buffer)
            writer.records += 1

    def skipped(self, kind: str, row: Mapping[str, Any]) -> None:
        """A row the period does not select: its link, once the export has begun."""
        if self.first_seq:
            self.chain.write(canonical_json(link(kind, row)) + "\n")
            self.chain.records += 1

    def close(self) -> list[FileStat]:
        writers = [w for w in (self.jsonl, self.chain) if w is not None]
        writers += [writer for writer, _, _ in self.csv.values()]
        return [w.close() for w in writers]

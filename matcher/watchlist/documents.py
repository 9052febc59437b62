"""Document-number lists (lost and stolen documents, national alerts), checked on every gate transaction.

No document number is kept in clear: an entry is ``HMAC-SHA256(list key, "STATE|TYPE|NUMBER")``, where the
issuing state and the document type (the first letter of the MRZ document code: P, I, A, C, V) are empty when
the source does not give them. The gate hashes the presented document the four ways (state and type each
given or not) and looks them up. The list key is a 32-byte secret shared by the list's publisher and the
kiosks, never in a bundle (without it a hash says nothing; with it a number can be checked); a list records
its key's id, and a store refuses a list or bundle hashed under another key, since it would never match.

A store is a folder with one ``<list_id>.doclist.json`` per list, replaced atomically at every change.
Lists travel as Ed25519-signed bundles with the face lists' signing code (:mod:`matcher.watchlist.bundle`)
and the same import rules: unsigned, tampered, untrusted and older bundles are refused; the content the list
already holds again is no change.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from matcher.atomic import replace_file
from matcher.errors import MatcherError
from matcher.signing import key_id as signing_key_id
from matcher.utc import iso_utc, utc_now
from matcher.watchlist.bundle import BundleError, BundleInfo, signed_file, verify_signed_file
from matcher.watchlist.search import to_epoch

MAGIC = b"EGATE-DOCLIST-BUNDLE\x001"
FORMAT = 1
SUFFIX = ".doclist.json"
CSV_COLUMNS = ("document_number", "issuing_state", "document_type", "category", "reference")
_LIST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NUMBER = re.compile(r"[A-Z0-9]{1,30}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class DocumentListError(MatcherError):
    """A document list or store is missing, malformed, or hashed under another list key."""

    code = "DOCLIST_INVALID"


@dataclass(frozen=True)
class DocumentRecord:
    """One listed document as the source gives it (the number in clear; hashed before it is stored)."""

    document_number: str
    issuing_state: str = ""
    document_type: str = ""
    category: str = ""  # e.g. "lost", "stolen", "national_alert"
    reference: str = ""  # the source's record id, shown to the officer (never the number)


@dataclass(frozen=True)
class DocumentEntry:
    digest: str  # hex HMAC-SHA256 of "STATE|TYPE|NUMBER"
    category: str = ""
    reference: str = ""


@dataclass(frozen=True)
class DocumentHit:
    list_id: str
    category: str
    reference: str


@dataclass(frozen=True)
class DocumentListInfo:
    list_id: str
    key_id: str
    version: int
    entry_count: int
    content_hash: str
    updated_at: str
    bundle_issued_at: str | None
    owner: str
    description: str


def normalise_number(number: str) -> str:
    """The document number as the MRZ holds it: upper case, no ``<`` fillers or spaces. ValueError (never
    quoting the number) when anything but A-Z and 0-9 remains, or nothing."""
    value = re.sub(r"[\s<]", "", number).upper()
    if not _NUMBER.fullmatch(value):
        raise ValueError("a document number is 1 to 30 letters A-Z and digits (fillers and spaces aside)")
    return value


def normalise_state(state: str) -> str:
    value = state.strip().strip("<").upper()
    if value and not (value.isascii() and value.isalpha() and len(value) <= 3):
        raise ValueError(f"issuing state must be a 1-3 letter code, got {state!r}")
    return value


def normalise_type(document_type: str) -> str:
    """The document type: the first letter of the MRZ document code (``P``, ``PO`` -> ``P``)."""
    value = document_type.strip().strip("<").upper()[:1]
    if value and not (value.isascii() and value.isalpha()):
        raise ValueError(f"document type must start with a letter, got {document_type!r}")
    return value


def key_id(key: bytes) -> str:
    """Short public id of a list key (which key a list was hashed under), from which the key cannot be had."""
    return hmac.new(key, b"egate document list key id", hashlib.sha256).hexdigest()[:16]


def digest(key: bytes, number: str, issuing_state: str = "", document_type: str = "") -> str:
    """The keyed hash of one document (normalised first)."""
    text = f"{normalise_state(issuing_state)}|{normalise_type(document_type)}|{normalise_number(number)}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def lookup_digests(key: bytes, number: str, issuing_state: str, document_type: str) -> set[str]:
    """The digests a presented document matches: its state and type each as given and left out."""
    return {digest(key, number, s, t) for s in {issuing_state, ""} for t in {document_type, ""}}


def records_from_csv(path: Path) -> list[DocumentRecord]:
    """Rows of a CSV with a header naming ``document_number`` and any of issuing_state, document_type,
    category, reference. ValueError naming the line (never the number) for a bad row or unknown column."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        if "document_number" not in columns:
            raise ValueError(f"{path}: the header must name a document_number column")
        unknown = sorted(set(columns) - set(CSV_COLUMNS))
        if unknown:
            known = ", ".join(CSV_COLUMNS)
            raise ValueError(f"{path}: unknown column(s) {', '.join(unknown)} (known: {known})")
        records = []
        for row in reader:
            try:
                if None in row:
                    raise ValueError("more cells than the header names")
                record = DocumentRecord(**{k: (v or "").strip() for k, v in row.items() if k in CSV_COLUMNS})
                normalise_number(record.document_number)
                normalise_state(record.issuing_state)
                normalise_type(record.document_type)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path} line {reader.line_num}: {exc}") from None
            records.append(record)
    return records


class DocumentListStore:
    """A folder of document lists. ``key`` (32 bytes) is needed to create, add, import and check; info and
    export work without it. Only ``create=True`` makes the folder: a missing store is an error."""

    def __init__(self, path: str | Path, key: bytes | None = None, *, create: bool = False) -> None:
        self.path = Path(path)
        if key is not None and len(key) != 32:
            raise ValueError("a document list key is 32 bytes")
        self._key = key
        if not self.path.is_dir():
            if not create:
                raise DocumentListError(
                    f"document list store {self.path} does not exist (make it with `matcher doclist create`)"
                )
            self.path.mkdir(parents=True)

    @property
    def key_id(self) -> str | None:
        return key_id(self._key) if self._key is not None else None

    def _file(self, list_id: str) -> Path:
        if not _LIST_ID.fullmatch(list_id):
            raise DocumentListError(f"invalid document list id {list_id!r} (letters, digits, . _ -)")
        return self.path / f"{list_id}{SUFFIX}"

    def _need_key(self) -> bytes:
        if self._key is None:
            raise DocumentListError("this needs the document list key (--key-file)")
        return self._key

    def list_ids(self) -> list[str]:
        return sorted(p.name[: -len(SUFFIX)] for p in self.path.glob(f"*{SUFFIX}"))

    def _read(self, list_id: str) -> dict:
        path = self._file(list_id)
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise DocumentListError(f"no document list {list_id!r} in {self.path}") from None
        except ValueError as exc:
            raise DocumentListError(f"{path} is not a document list: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("list_id") != list_id:
            raise DocumentListError(f"{path} is not a document list of format {FORMAT} named {list_id!r}")
        missing = sorted({"key_id", "version", "entries", "content_hash", "updated_at"} - set(data))
        if missing:
            raise DocumentListError(f"{path} is not a complete document list: no {', '.join(missing)}")
        return data

    def _write(self, data: dict) -> DocumentListInfo:
        data["content_hash"] = content_hash(_entries(data))
        data["updated_at"] = _now()
        replace_file(self._file(data["list_id"]), json.dumps(data, indent=1).encode())
        return _info(data)

    def create_list(self, list_id: str, *, owner: str = "", description: str = "") -> DocumentListInfo:
        """An empty list hashed under this store's key."""
        if self._file(list_id).exists():
            raise DocumentListError(f"document list {list_id!r} already exists in {self.path}")
        data = {
            "format": FORMAT,
            "list_id": list_id,
            "key_id": key_id(self._need_key()),
            "owner": owner,
            "description": description,
            "version": 1,
            "bundle_issued_at": None,
            "entries": [],
        }
        return self._write(data)

    def info(self, list_id: str) -> DocumentListInfo:
        return _info(self._read(list_id))

    def lists(self) -> list[DocumentListInfo]:
        return [self.info(i) for i in self.list_ids()]

    def load(self, list_id: str) -> dict[str, DocumentEntry]:
        """The list's entries by digest, for lookups; refuses a list hashed under another key."""
        data = self._read(list_id)
        if data["key_id"] != key_id(self._need_key()):
            raise DocumentListError(
                f"document list {list_id!r} is hashed under key {data['key_id']}, not this store's key "
                f"{self.key_id}: it would never match"
            )
        return {e.digest: e for e in _entries(data)}

    def add(self, list_id: str, records: Iterable[DocumentRecord]) -> tuple[int, DocumentListInfo]:
        """Hash and add records as one new version; a document listed already is counted once.
        Returns (entries added, the list's info)."""
        key = self._need_key()
        current = self.load(list_id)
        added = 0
        for r in records:
            d = digest(key, r.document_number, r.issuing_state, r.document_type)
            if d not in current:
                current[d] = DocumentEntry(d, r.category, r.reference)
                added += 1
        data = self._read(list_id)
        data["entries"] = [asdict(e) for e in current.values()]
        data["version"] += 1
        return added, self._write(data)

    def match(
        self, list_id: str, number: str, issuing_state: str = "", document_type: str = ""
    ) -> list[DocumentEntry]:
        """The entries of one list a document matches."""
        entries = self.load(list_id)
        wanted = lookup_digests(self._need_key(), number, issuing_state, document_type)
        return [entries[d] for d in sorted(wanted & entries.keys())]

    def replace(self, list_id: str, data: dict, issued_at: str) -> DocumentListInfo:
        """Make a list (created when missing) hold exactly a bundle's content, as one new version."""
        old = self._read(list_id) if self._file(list_id).exists() else {"version": 0}
        new = {
            "format": FORMAT,
            "list_id": list_id,
            "key_id": data["key_id"],
            "owner": data.get("owner", ""),
            "description": data.get("description", ""),
            "version": old["version"] + 1,
            "bundle_issued_at": issued_at,
            "entries": data["entries"],
        }
        return self._write(new)


def content_hash(entries: Iterable[DocumentEntry]) -> str:
    """Hash of a list's content, independent of entry order."""
    rows = sorted(json.dumps(asdict(e), sort_keys=True) for e in entries)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _entries(data: dict) -> list[DocumentEntry]:
    try:
        entries = [
            DocumentEntry(str(e["digest"]), str(e.get("category", "")), str(e.get("reference", "")))
            for e in data["entries"]
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise DocumentListError(f"document list {data.get('list_id')!r}: malformed entries ({exc})") from None
    if not all(_DIGEST.fullmatch(e.digest) for e in entries):
        raise DocumentListError(f"document list {data.get('list_id')!r}: a digest is not 64 hex digits")
    return entries


def _info(data: dict) -> DocumentListInfo:
    return DocumentListInfo(
        list_id=data["list_id"],
        key_id=data["key_id"],
        version=int(data["version"]),
        entry_count=len(data["entries"]),
        content_hash=data["content_hash"],
        updated_at=data["updated_at"],
        bundle_issued_at=data.get("bundle_issued_at"),
        owner=data.get("owner", ""),
        description=data.get("description", ""),
    )


def _now() -> str:
    # microseconds: issued_at is compared as text with the last imported list's (see matcher.utc)
    return iso_utc(utc_now(), "microseconds")


def export_document_bundle(
    store: DocumentListStore,
    list_id: str,
    out: Path,
    signing_key: Ed25519PrivateKey,
    *,
    issued_at: str | None = None,
) -> BundleInfo:
    """Write a document list (its keyed hashes, never the key) as one signed bundle file."""
    data = store._read(list_id)
    entries = _entries(data)
    header = {
        "format": FORMAT,
        "issued_at": issued_at or _now(),
        "list_id": list_id,
        "key_id": data["key_id"],
        "owner": data.get("owner", ""),
        "description": data.get("description", ""),
        "content_hash": content_hash(entries),
        "entries": [asdict(e) for e in entries],
    }
    payload = json.dumps(header).encode()
    file = signed_file(MAGIC, payload, signing_key)
    replace_file(out, file)
    return _bundle_info(header, signing_key_id(signing_key.public_key()), file)


def import_document_bundle(
    store: DocumentListStore,
    path: Path,
    trusted_keys: dict[str, Ed25519PublicKey],
    *,
    allow_older: bool = False,
) -> tuple[DocumentListInfo, BundleInfo, bool]:
    """Verify a signed document-list bundle and make its list match it: (info, bundle, changed).

    Refused (BundleError, nothing changed): unsigned, untrusted or tampered; hashed under a list key other
    than the store's; issued no later than the last bundle imported for that list (unless ``allow_older``),
    except that such a bundle with the content the list already holds is no change and no error."""
    payload, kid, file = verify_signed_file(path, MAGIC, trusted_keys, "a document list bundle")
    try:
        header = json.loads(payload)
        if header.get("format") != FORMAT:
            raise BundleError(f"{path}: unsupported document list bundle format {header.get('format')!r}")
        list_id, issued_at = str(header["list_id"]), str(header["issued_at"])
        entries = _entries(header)
        to_epoch(issued_at)
    except (ValueError, KeyError, TypeError, DocumentListError) as exc:
        raise BundleError(f"{path}: malformed document list bundle: {exc}") from None
    binfo = _bundle_info(header, kid, file)
    if header["key_id"] != key_id(store._need_key()):
        raise BundleError(
            f"{path}: list {list_id!r} is hashed under key {header['key_id']}, not this store's key "
            f"{store.key_id}: it would never match"
        )
    exists = store._file(list_id).exists()
    last = store.info(list_id).bundle_issued_at if exists else None
    if last is not None and to_epoch(issued_at) <= to_epoch(last):
        current = store.info(list_id)
        wanted = (header.get("owner", ""), header.get("description", ""), content_hash(entries))
        if (current.owner, current.description, current.content_hash) == wanted:
            return current, binfo, False  # the same content again (a retried sync): up to date
        if not allow_older:
            raise BundleError(
                f"bundle for document list {list_id!r} was issued at {issued_at}, not after the last one "
                f"imported ({last}): refusing a rollback"
            )
    return store.replace(list_id, header, issued_at), binfo, True


def _bundle_info(header: dict, kid: str, file: bytes) -> BundleInfo:
    return BundleInfo(
        list_id=str(header["list_id"]),
        model_id="",
        entry_count=len(header["entries"]),
        issued_at=str(header["issued_at"]),
        key_id=kid,
        sha256=hashlib.sha256(file).hexdigest(),
    )

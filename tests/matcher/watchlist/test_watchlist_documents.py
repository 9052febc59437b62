"""Document-number lists: keyed hashes at rest, matching with and without state and type, signed bundles with
the face lists' refusal rules, and ``matcher doclist`` as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from matcher.signing import generate_signing_key, load_signing_key, load_trusted_keys
from matcher.watchlist.bundle import BundleError
from matcher.watchlist.documents import (
    MAGIC,
    DocumentListError,
    DocumentListStore,
    DocumentRecord,
    digest,
    export_document_bundle,
    import_document_bundle,
    records_from_csv,
)

ROOT = Path(__file__).resolve().parents[3]
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
RECORDS = [
    DocumentRecord("L898902C3", "UTO", "P", "stolen", "SLTD-1"),
    DocumentRecord("X1234567", "", "", "lost", "SLTD-2"),  # no state, no type: matches any
    DocumentRecord("C01X00T47", "D<<", "", "national_alert", "NAT-9"),
]


@pytest.fixture
def issuer(tmp_path: Path) -> DocumentListStore:
    store = DocumentListStore(tmp_path / "upstream", KEY, create=True)
    store.create_list("sltd", owner="interpol")
    store.add("sltd", RECORDS)
    return store


@pytest.fixture
def signing(tmp_path: Path):
    generate_signing_key(tmp_path / "up.key", tmp_path / "up.pem")
    generate_signing_key(tmp_path / "rogue.key", tmp_path / "rogue.pem")
    return load_signing_key(tmp_path / "up.key"), load_trusted_keys([tmp_path / "up.pem"])


@pytest.fixture
def kiosk(tmp_path: Path) -> DocumentListStore:
    return DocumentListStore(tmp_path / "kiosk", KEY, create=True)


def test_numbers_are_stored_only_as_keyed_hashes(issuer: DocumentListStore) -> None:
    blob = (issuer.path / "sltd.doclist.json").read_bytes()
    for r in RECORDS:
        assert r.document_number.encode() not in blob
    assert digest(KEY, "L898902C3", "UTO", "P").encode() in blob
    assert digest(KEY, "L898902C3", "UTO", "P") != digest(OTHER_KEY, "L898902C3", "UTO", "P")


def test_match_uses_state_and_type_where_the_list_gives_them(issuer: DocumentListStore) -> None:
    def refs(number: str, state: str, code: str) -> list[str]:
        return [e.reference for e in issuer.match("sltd", number, state, code)]

    assert refs("L898902C3", "UTO", "P") == ["SLTD-1"]
    assert refs("l898902c3<<", "UTO", "PO") == ["SLTD-1"]  # MRZ fillers, case, the type's first letter
    assert refs("L898902C3", "D", "P") == []  # another state's document with that number
    assert refs("L898902C3", "UTO", "I") == []
    assert refs("X1234567", "FRA", "I") == refs("X1234567", "UTO", "P") == ["SLTD-2"]
    assert refs("C01X00T47", "D", "I") == ["NAT-9"]  # "D<<" normalised to "D"
    assert refs("C01X00T48", "D", "I") == []


def test_adding_again_adds_nothing_and_versions_count(issuer: DocumentListStore) -> None:
    added, info = issuer.add("sltd", RECORDS[:2])
    assert added == 0 and info.entry_count == 3 and info.version == 3


def test_another_key_is_refused_not_silently_unmatched(issuer: DocumentListStore) -> None:
    with pytest.raises(DocumentListError, match=r"hashed under key .* it would never match"):
        DocumentListStore(issuer.path, OTHER_KEY).load("sltd")


def test_a_damaged_list_file_is_one_clear_error(issuer: DocumentListStore) -> None:
    path = issuer.path / "sltd.doclist.json"
    data = json.loads(path.read_text())
    del data["key_id"]
    path.write_text(json.dumps(data))
    with pytest.raises(DocumentListError, match="not a complete document list: no key_id"):
        issuer.lists()
    path.write_text("{")
    with pytest.raises(DocumentListError, match="is not a document list"):
        issuer.info("sltd")


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(DocumentListError, match="does not exist"):
        DocumentListStore(tmp_path / "nowhere", KEY)
    assert not (tmp_path / "nowhere").exists()


def test_csv_rows_are_checked_without_quoting_the_number(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("document_number,issuing_state,document_type,category\nAB 12345<,utO,P,lost\n")
    assert records_from_csv(good) == [DocumentRecord("AB 12345<", "utO", "P", "lost")]
    bad = tmp_path / "bad.csv"
    bad.write_text("document_number,issuing_state\nAB12345,UTO\nSECRET-99,UTO\n")
    with pytest.raises(ValueError, match="line 3: a document number is") as exc:
        records_from_csv(bad)
    assert "SECRET" not in str(exc.value)
    long = tmp_path / "long.csv"
    long.write_text("document_number\nAB1,extra\n")
    with pytest.raises(ValueError, match="line 2: more cells than the header"):
        records_from_csv(long)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("document_number,colour\nAB1,red\n")
    with pytest.raises(ValueError, match="unknown column"):
        records_from_csv(unknown)


def test_bundle_round_trip_then_same_content_is_up_to_date(issuer, signing, kiosk, tmp_path) -> None:
    path = tmp_path / "sltd.bundle"
    export_document_bundle(issuer, "sltd", path, signing[0])
    assert b"L898902C3" not in path.read_bytes()
    info, binfo, changed = import_document_bundle(kiosk, path, signing[1])
    assert changed and info.entry_count == 3 and binfo.entry_count == 3
    assert info.content_hash == issuer.info("sltd").content_hash
    assert [e.reference for e in kiosk.match("sltd", "L898902C3", "UTO", "P")] == ["SLTD-1"]
    again, _, changed = import_document_bundle(kiosk, path, signing[1])
    assert not changed and again.version == info.version


def test_older_tampered_unsigned_untrusted_and_foreign_bundles_are_refused(
    issuer, signing, kiosk, tmp_path
) -> None:
    old, new = tmp_path / "old.bundle", tmp_path / "new.bundle"
    export_document_bundle(issuer, "sltd", old, signing[0], issued_at="2026-01-01T00:00:00Z")
    issuer.add("sltd", [DocumentRecord("NEW0001")])
    export_document_bundle(issuer, "sltd", new, signing[0], issued_at="2026-02-01T00:00:00Z")
    import_document_bundle(kiosk, new, signing[1])
    before = (kiosk.path / "sltd.doclist.json").read_bytes()

    with pytest.raises(BundleError, match="refusing a rollback"):
        import_document_bundle(kiosk, old, signing[1])
    data = new.read_bytes()
    tampered = tmp_path / "tampered.bundle"
    tampered.write_bytes(data.replace(b"SLTD-1", b"SLTD-X"))
    with pytest.raises(BundleError, match="does not verify"):
        import_document_bundle(kiosk, tampered, signing[1])
    unsigned = tmp_path / "unsigned.bundle"
    m = len(MAGIC)
    unsigned.write_bytes(data[: m + 8 + int.from_bytes(data[m : m + 8], "little")])
    with pytest.raises(BundleError, match="not signed"):
        import_document_bundle(kiosk, unsigned, signing[1])
    rogue = tmp_path / "rogue.bundle"
    export_document_bundle(issuer, "sltd", rogue, load_signing_key(tmp_path / "rogue.key"))
    with pytest.raises(BundleError, match="not among the trusted keys"):
        import_document_bundle(kiosk, rogue, signing[1])
    with pytest.raises(BundleError, match="hashed under key"):
        import_document_bundle(DocumentListStore(kiosk.path, OTHER_KEY), new, signing[1])
    face = tmp_path / "face.bundle"
    face.write_bytes(b"EGATE-WATCHLIST-BUNDLE\x001" + data[m:])
    with pytest.raises(BundleError, match="not a document list bundle"):
        import_document_bundle(kiosk, face, signing[1])
    assert (kiosk.path / "sltd.doclist.json").read_bytes() == before  # nothing changed
    info, _, changed = import_document_bundle(kiosk, old, signing[1], allow_older=True)
    assert changed and info.entry_count == 3


def _matcher(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("matcher")
    fallback = [sys.executable, "-c", "from matcher.cli import main; main()"]
    command = [str(script)] if script.exists() else fallback
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def test_cli_create_add_info_export_import(tmp_path: Path) -> None:
    run = lambda *a: _matcher(*a, cwd=tmp_path)  # noqa: E731
    assert run("doclist", "keygen", "list.key").returncode == 0
    assert run("watchlist", "keygen", "sign.key", "sign.pem").returncode == 0
    r = run("doclist", "--store", "up", "create", "lost")
    assert r.returncode != 0 and "needs the list key" in r.stderr and not (tmp_path / "up").exists()
    up = ["doclist", "--store", "up", "--key-file", "list.key"]
    (tmp_path / "lost.csv").write_text("document_number,issuing_state,category\nL898902C3,UTO,lost\n")
    assert run(*up, "create", "lost", "--owner", "police").returncode == 0
    r = run(*up, "add", "lost", "lost.csv")
    assert r.returncode == 0 and "1 added" in r.stdout and "version 2" in r.stdout
    (tmp_path / "bad.csv").write_text("document_number\nNO-GOOD-7\n")
    r = run(*up, "add", "lost", "bad.csv")
    assert r.returncode != 0 and "line 2" in r.stderr and "NO-GOOD" not in r.stderr + r.stdout
    r = run(*up, "info", "--json")
    assert json.loads(r.stdout)[0]["entry_count"] == 1
    assert run(*up, "export", "lost", "lost.bundle", "--sign-key", "sign.key").returncode == 0
    kiosk = ["doclist", "--store", "kiosk", "--key-file", "list.key"]
    r = run(*kiosk, "import", "lost.bundle", "--trusted-key", "sign.pem")
    assert r.returncode != 0 and "does not exist" in r.stderr  # only create makes a store
    (tmp_path / "kiosk").mkdir()
    r = run(*kiosk, "import", "lost.bundle", "--trusted-key", "sign.pem")
    assert r.returncode == 0 and r.stdout.startswith("imported lost: 1 entries")
    r = run(*kiosk, "import", "lost.bundle", "--trusted-key", "sign.pem")
    assert r.returncode == 0 and "already up to date" in r.stdout
    r = run(*kiosk, "import", "lost.bundle", "--trusted-key", "list.key")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".csv":
            assert b"L898902C3" not in path.read_bytes()

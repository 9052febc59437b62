from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

import pytest

from kiosk.store import EvidenceError, KeyRing, KeyRingError, generate_key_file
from kiosk.store.keys import KEY_ENV, KEY_FILE_ENV


def test_generated_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = generate_key_file(tmp_path / "log.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = KeyRing.from_file(path)
    assert KeyRing.from_file(path).key_id == ring.key_id
    before = path.read_bytes()
    with pytest.raises(KeyRingError, match="already exists"):
        generate_key_file(path)
    assert path.read_bytes() == before


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = generate_key_file(tmp_path / "log.key")
    os.chmod(path, 0o644)
    with pytest.raises(KeyRingError, match="chmod 600"):
        KeyRing.from_file(path)


@pytest.mark.parametrize("text", ["not base64!", base64.b64encode(b"short").decode()])
def test_bad_key_material_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(KeyRingError, match=r"bad\.key"):
        KeyRing.from_file(path)
    with pytest.raises(KeyRingError, match="does not exist"):
        KeyRing.from_file(tmp_path / "missing.key")


def test_key_from_environment(tmp_path: Path) -> None:
    master = secrets.token_bytes(32)
    ring = KeyRing.from_env({KEY_ENV: base64.b64encode(master).decode()})
    assert ring.key_id == KeyRing(master).key_id
    path = generate_key_file(tmp_path / "k")
    assert KeyRing.from_env({KEY_FILE_ENV: str(path)}).key_id == KeyRing.from_file(path).key_id
    with pytest.raises(KeyRingError, match=KEY_ENV):
        KeyRing.from_env({})


def test_document_number_hash_is_keyed_and_normalised() -> None:
    ring, other = KeyRing(secrets.token_bytes(32)), KeyRing(secrets.token_bytes(32))
    digest = ring.hash_document_number("L898902C3", "UTO")
    assert len(digest) == 64 and "L898902C3" not in digest
    assert ring.hash_document_number(" l898902c3<< ", "uto") == digest  # OCR/chip spellings agree
    assert ring.hash_document_number("L898902C3", "D") != digest  # state is part of the identity
    assert other.hash_document_number("L898902C3", "UTO") != digest  # keyed: no offline dictionary
    with pytest.raises(ValueError, match="empty"):
        ring.hash_document_number("<<<", "UTO")


def test_derived_keys_are_separate_and_not_shown() -> None:
    master = secrets.token_bytes(32)
    ring = KeyRing(master)
    assert master.hex() not in repr(ring) and ring.key_id in repr(ring)
    assert ring._document_key != master
    blob = ring.encrypt(b"template", b"ctx")
    assert ring.decrypt(blob, b"ctx") == b"template"
    with pytest.raises(EvidenceError, match="authentication"):
        ring.decrypt(blob, b"other ctx")
    with pytest.raises(EvidenceError):
        KeyRing(secrets.token_bytes(32)).decrypt(blob, b"ctx")

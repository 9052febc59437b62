"""matcher.signing: Ed25519 key files, key ids and detached signature blocks."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from matcher.signing import (
    SignatureError,
    generate_signing_key,
    key_id,
    load_signing_key,
    load_trusted_keys,
    sign,
    verify,
)


def test_a_signature_verifies_only_unaltered_and_under_a_trusted_key(tmp_path: Path) -> None:
    kid = generate_signing_key(tmp_path / "a.key", tmp_path / "a.pem")
    generate_signing_key(tmp_path / "b.key", tmp_path / "b.pem")
    assert stat.S_IMODE((tmp_path / "a.key").stat().st_mode) == 0o600
    key = load_signing_key(tmp_path / "a.key")
    assert key_id(key.public_key()) == kid
    block = sign(b"manifest bytes", key)
    assert block["alg"] == "Ed25519" and block["key_id"] == kid
    trusted = load_trusted_keys([tmp_path / "a.pem"])
    assert verify(b"manifest bytes", block, trusted, name="m.json") == kid
    with pytest.raises(SignatureError, match="does not verify"):
        verify(b"manifest byteZ", block, trusted, name="m.json")
    with pytest.raises(SignatureError, match="not among the trusted keys"):
        verify(b"manifest bytes", block, load_trusted_keys([tmp_path / "b.pem"]), name="m.json")
    with pytest.raises(SignatureError, match="malformed"):
        verify(b"manifest bytes", {"key_id": kid}, trusted, name="m.json")
    with pytest.raises(SignatureError, match=r"not an Ed25519 private key|not a PEM private key"):
        load_signing_key(tmp_path / "a.pem")

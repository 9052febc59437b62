"""Enrolling clients of the upstream service by their Ed25519 public keys (the operator's commands)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.errors import UpstreamConfigError
from matcher.signing import SignatureError, load_trusted_keys


def enrol(
    db: UpstreamDB, client_id: str, role: str, public_key_file: Path, gates: Sequence[str] = ("*",)
) -> str:
    """Enrol ``client_id`` (a kiosk, or an officer / supervisor reader of ``gates``) with the Ed25519 public
    key in ``public_key_file`` (PEM); returns the key id. Requests signed by any other key are refused."""
    if not public_key_file.is_file():
        raise UpstreamConfigError(f"public key file {public_key_file} does not exist")
    try:
        ((key_id, key),) = load_trusted_keys([public_key_file]).items()
    except SignatureError as exc:
        raise UpstreamConfigError(str(exc)) from None
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    db.add_client(client_id, role, key_id, pem.decode("ascii"), gates)
    return key_id

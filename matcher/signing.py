"""Ed25519 signing, the house's one way: key files (PEM; the private file mode 0600), key ids and detached
signatures carried as a small JSON block ``{"alg": "Ed25519", "key_id": ..., "signature": base64}``.

Watchlist and document-list bundles (``matcher.watchlist.bundle``) sign with it; so do the export manifest
and the sync of lists and records."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from matcher.errors import MatcherError

ALGORITHM = "Ed25519"


class SignatureError(MatcherError):
    """A key file is not an Ed25519 key, or a signature is malformed, by an untrusted key or wrong."""

    code = "SIGNATURE_INVALID"


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short stable id of a public key: sha256 of its raw 32 bytes, first 16 hex digits."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_signing_key(private_path: Path, public_path: Path) -> str:
    """Write a new Ed25519 key pair (PEM; the private file mode 0600, never overwritten) and return its key
    id."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_bytes(pem)
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_id(private.public_key())


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path``."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise SignatureError(f"{path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an Ed25519 private key")
    return key


def load_trusted_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """Trusted Ed25519 public keys (PEM) by key id, from files and folders (every ``*.pem`` / ``*.pub``)."""
    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.pem")) + sorted(p.glob("*.pub")) if p.is_dir() else [p]
    keys: dict[str, Ed25519PublicKey] = {}
    for f in files:
        try:
            key = serialization.load_pem_public_key(f.read_bytes())
        except ValueError as exc:
            raise SignatureError(f"trusted key {f} is not a PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError(f"trusted key {f} is not an Ed25519 key")
        keys[key_id(key)] = key
    return keys


def sign(data: bytes, signing_key: Ed25519PrivateKey) -> dict[str, str]:
    """The detached signature block of ``data``: algorithm, signing key id, base64 signature."""
    return {
        "alg": ALGORITHM,
        "key_id": key_id(signing_key.public_key()),
        "signature": base64.b64encode(signing_key.sign(data)).decode(),
    }


def verify(
    data: bytes,
    block: Mapping[str, Any],
    trusted_keys: Mapping[str, Ed25519PublicKey],
    *,
    name: str,
    what: str = "file",
) -> str:
    """The key id of ``block`` once its signature over ``data`` verifies against one of ``trusted_keys``;
    SignatureError (naming ``name``, the signed ``what``) otherwise."""
    try:
        signature = base64.b64decode(block["signature"], validate=True)
        kid = str(block["key_id"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"{name} has a malformed signature block: {exc}") from None
    if not trusted_keys:
        raise SignatureError(f"no trusted keys configured: cannot verify the {what}")
    key = trusted_keys.get(kid)
    if key is None:
        raise SignatureError(f"{name} is signed by key {kid}, which is not among the trusted keys")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise SignatureError(f"{name}: signature does not verify ({what} tampered with or corrupt)") from None
    return kid

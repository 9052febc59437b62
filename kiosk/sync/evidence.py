"""Referral evidence for the officer service: sealed on the kiosk to the officer service's X25519 key.

Evidence (live face, templates, capture frames of referred cases) leaves a kiosk only when the configuration
names the officer service's public key (``[sync] evidence_key``). Each item is decrypted from the log's own
sealing and sealed anew to that key: an ephemeral X25519 key agreement, HKDF-SHA256, AES-256-GCM with the
decision id and item kind as associated data (an item cannot be passed off as another case's). The upstream
service stores and serves the sealed items but cannot open them; only the holder of the officer service's
private key can (:func:`open_for_officer`).

Sealed item: ``MAGIC | ephemeral public key (32) | nonce (12) | ciphertext and tag``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.errors import KioskError

MAGIC = b"EGEV1"
_INFO = b"egate/evidence-for-officer/aes-256-gcm/v1"


class EvidenceKeyError(KioskError):
    code = "EVIDENCE_KEY_INVALID"


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(
        shared
    )
    return AESGCM(derived)


def _aad(decision_id: str, kind: str) -> bytes:
    return f"{decision_id}\x1f{kind}".encode()


def generate_officer_key(private_path: Path, public_path: Path) -> None:
    """Write the officer service's X25519 key pair (PEM; the private file mode 0600, never overwritten)."""
    private = X25519PrivateKey.generate()
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def load_officer_public_key(path: Path) -> X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise EvidenceKeyError(f"evidence key {path}: {exc}") from None
    if not isinstance(key, X25519PublicKey):
        raise EvidenceKeyError(f"evidence key {path} is not an X25519 public key")
    return key


def load_officer_private_key(path: Path) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise EvidenceKeyError(f"evidence key {path}: {exc}") from None
    if not isinstance(key, X25519PrivateKey):
        raise EvidenceKeyError(f"evidence key {path} is not an X25519 private key")
    return key


def seal_for_officer(recipient: X25519PublicKey, plaintext: bytes, decision_id: str, kind: str) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw(ephemeral.public_key())
    aead = _key(ephemeral.exchange(recipient), ephemeral_raw, _raw(recipient))
    nonce = secrets.token_bytes(12)
    return MAGIC + ephemeral_raw + nonce + aead.encrypt(nonce, plaintext, _aad(decision_id, kind))


def open_for_officer(private: X25519PrivateKey, sealed: bytes, decision_id: str, kind: str) -> bytes:
    """The plaintext of a sealed item; EvidenceKeyError when it is not for this key, this case or kind."""
    if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + 32 + 12 + 16:
        raise EvidenceKeyError("not a sealed evidence item")
    body = sealed[len(MAGIC) :]
    ephemeral_raw, nonce, ciphertext = body[:32], body[32:44], body[44:]
    aead = _key(
        private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw)),
        ephemeral_raw,
        _raw(private.public_key()),
    )
    try:
        return aead.decrypt(nonce, ciphertext, _aad(decision_id, kind))
    except InvalidTag:
        raise EvidenceKeyError(
            "sealed evidence does not open (another key, case or kind, or tampered)"
        ) from None

"""The kiosk's secret key ring.

One 32-byte master key lives in a key file (mode 0600) or in an environment variable, never in the database.
Separate keys are derived from it with HKDF-SHA256, one per purpose, so a key used for one job can never be
turned against another:
- AES-256-GCM key encrypting the evidence of referred cases (live face crops, templates);
- HMAC-SHA256 key for the keyed hash of document numbers (the log never holds a number in clear);
- a short public key id, stored next to each ciphertext, so a wrong key is reported as such.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.store.errors import EvidenceError, KeyRingError

KEY_ENV = "EGATE_LOG_KEY"  # base64 of the 32-byte master key
KEY_FILE_ENV = "EGATE_LOG_KEY_FILE"  # path of a key file
MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12


def _derive(master: bytes, purpose: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(master)


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"{source}: key is not valid base64") from None
    if len(key) != MASTER_KEY_BYTES:
        raise KeyRingError(f"{source}: key must be {MASTER_KEY_BYTES} bytes, got {len(key)}")
    return key


def normalise_document_number(number: str) -> str:
    """Upper case, without MRZ fillers ('<') and spaces, so OCR and chip readings hash alike."""
    return "".join(ch for ch in number.upper() if ch not in "< \t")


class KeyRing:
    """Purpose-separated keys derived from one master key. ``repr`` shows only the public key id."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise KeyRingError(f"master key must be {MASTER_KEY_BYTES} bytes, got {len(master_key)}")
        self._aead = AESGCM(_derive(master_key, b"egate/evidence/aes-256-gcm/v1"))
        self._document_key = _derive(master_key, b"egate/document-number/hmac-sha256/v1")
        self.key_id: str = _derive(master_key, b"egate/key-id/v1", 8).hex()

    def __repr__(self) -> str:
        return f"KeyRing(key_id={self.key_id!r})"

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        """Read a key file written by :func:`generate_key_file`; refuse one readable by group or others."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise KeyRingError(f"key file {path} does not exist (create one with `kiosk keygen`)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyRingError(f"cannot read key file {path}: {exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyRingError(
                f"key file {path} is accessible by group/others (mode {mode & 0o777:o}); chmod 600"
            )
        return cls(_decode_key(text, f"key file {path}"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyRing:
        """Key from ``EGATE_LOG_KEY`` (base64), else from the file named by ``EGATE_LOG_KEY_FILE``."""
        environ = os.environ if environ is None else environ
        if environ.get(KEY_ENV):
            return cls(_decode_key(environ[KEY_ENV], f"environment variable {KEY_ENV}"))
        if environ.get(KEY_FILE_ENV):
            return cls.from_file(environ[KEY_FILE_ENV])
        raise KeyRingError(f"no key: pass a key file, or set {KEY_ENV} or {KEY_FILE_ENV}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> KeyRing:
        """Key from ``path`` when given, else from the environment."""
        return cls.from_file(path) if path is not None else cls.from_env()

    def hash_document_number(self, number: str, issuing_state: str | None) -> str:
        """Keyed hash (HMAC-SHA256, hex) of a document number with its issuing state.

        Without the key the hash cannot be brute-forced from the small space of document numbers; with it,
        the same document gives the same hash on every kiosk sharing the key (repeat-visit checks, export).
        """
        normalised = normalise_document_number(number)
        if not normalised:
            raise ValueError("document number is empty")
        message = f"{(issuing_state or '').strip().upper()}\x1f{normalised}".encode()
        return hmac.new(self._document_key, message, hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """AES-256-GCM: returns nonce || ciphertext+tag. ``associated_data`` binds the blob to its context."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        if len(blob) < _NONCE_BYTES + 16:
            raise EvidenceError("encrypted evidence is truncated")
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise EvidenceError(
                "encrypted evidence failed authentication (tampered, or another key)"
            ) from None


def generate_key_file(path: str | Path) -> Path:
    """Write a new random master key (base64) to ``path`` with mode 0600; never overwrites a file."""
    path = Path(path)
    text = base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode("ascii") + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyRingError(f"key file {path} already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        os.fchmod(handle.fileno(), 0o600)  # in case the umask was stricter than needed or odd
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return path

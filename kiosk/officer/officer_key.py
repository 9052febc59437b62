"""An officer's upstream signing key, sealed under their password.

The upstream service knows an officer by the Ed25519 public key enrolled for them (``kiosk upstream reader
add``), with the gates they cover. The private key lives on the console's machine sealed under the
officer's password: Argon2id (the accounts' memory-hard parameters) derives an AES-256-GCM key that opens
it. Signing in to the upstream console is opening this file: a wrong password opens nothing, and the key is
kept in memory only for the session.

File: JSON ``{"format": "egate-officer-key-v1", "account_id", "kdf": {memory_kib, iterations, lanes, salt},
"nonce", "sealed"}`` (base64 fields; the account id is bound as associated data).
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.store.accounts import DEFAULT_COST, Argon2Cost, check_password
from kiosk.store.errors import AccountError, SignInError

FORMAT = "egate-officer-key-v1"


def _aead(password: str, salt: bytes, cost: Argon2Cost) -> AESGCM:
    return AESGCM(cost.kdf(salt).derive(password.encode("utf-8")))


def write_officer_key(
    private_path: Path, public_path: Path, account_id: str, password: str, cost: Argon2Cost = DEFAULT_COST
) -> None:
    """Make an officer's Ed25519 pair: the private key sealed under ``password`` (mode 0600, never
    overwritten), the public key as PEM for ``kiosk upstream reader add``."""
    check_password(password)
    if public_path.exists():
        raise AccountError(f"{public_path} already exists")
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = _aead(password, salt, cost).encrypt(nonce, raw, account_id.encode("utf-8"))
    document = {
        "format": FORMAT,
        "account_id": account_id,
        "kdf": {
            "memory_kib": cost.memory_kib,
            "iterations": cost.iterations,
            "lanes": cost.lanes,
            "salt": base64.b64encode(salt).decode("ascii"),
        },
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "sealed": base64.b64encode(sealed).decode("ascii"),
    }
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_text(json.dumps(document, indent=1) + "\n")
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def open_officer_key(path: Path, account_id: str, password: str) -> Ed25519PrivateKey:
    """The officer's signing key, opened in memory; SignInError for a wrong account or password (the same
    error for both), AccountError when the file is missing or not an officer key."""
    try:
        document = json.loads(path.read_text())
        if document["format"] != FORMAT:
            raise ValueError(f"not {FORMAT}")
        kdf = document["kdf"]
        cost = Argon2Cost(int(kdf["memory_kib"]), int(kdf["iterations"]), int(kdf["lanes"]))
        salt, nonce = base64.b64decode(kdf["salt"]), base64.b64decode(document["nonce"])
        sealed = base64.b64decode(document["sealed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AccountError(f"officer key {path} is unusable: {exc}") from None
    if document["account_id"] != account_id:
        raise SignInError("wrong account or password")
    try:
        raw = _aead(password, salt, cost).decrypt(nonce, sealed, account_id.encode("utf-8"))
    except InvalidTag:
        raise SignInError("wrong account or password") from None
    return Ed25519PrivateKey.from_private_bytes(raw)

"""The export's manifest: what the export holds and how to check it, signed with Ed25519.

``manifest.json`` is canonical JSON: format, log id, period, who exported and when, the record counts, the
audit chain and (format 2) the account chain at export time (genesis, head, the prev_hash of the first
exported record of each), and name, size and sha256 of every other file. ``signature`` carries the
algorithm, the signer's key id, its raw public key (base64) and a detached Ed25519 signature over
``SIGNATURE_LABEL`` + the canonical JSON of the manifest without ``signature``. An auditor checks it
against the public key given out by the border agency (``kiosk verify-export --public-key``): the
embedded key only says which key signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiosk.store.chain import canonical_json
from matcher.signing import key_id

MANIFEST_FILE = "manifest.json"
FORMAT = "egate-audit-export/2"  # 2: the account chain's events and head (1: the decisions' chain only)
READABLE_FORMATS = ("egate-audit-export/1", FORMAT)
SIGNATURE_LABEL = b"egate-audit-export-v1\x00"


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _signed_bytes(manifest: Mapping[str, Any]) -> bytes:
    body = {name: value for name, value in manifest.items() if name != "signature"}
    return SIGNATURE_LABEL + canonical_json(body).encode("utf-8")


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_manifest(manifest: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``manifest`` with its ``signature``."""
    public = key.public_key()
    return {
        **manifest,
        "signature": {
            "alg": "Ed25519",
            "key_id": key_id(public),
            "public_key": base64.b64encode(raw_public_key(public)).decode(),
            "value": base64.b64encode(key.sign(_signed_bytes(manifest))).decode(),
        },
    }


def manifest_text(manifest: Mapping[str, Any]) -> str:
    return canonical_json(manifest) + "\n"


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an export folder; ValueError naming what is wrong."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder} has no {MANIFEST_FILE}: not an export folder") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{path} is not an export manifest of format {' or '.join(READABLE_FORMATS)}")
    return manifest


def signature_problems(manifest: Mapping[str, Any], trusted: Ed25519PublicKey | None) -> list[str]:
    """Why the manifest's signature does not hold (empty when it does). With ``trusted`` the signer must be
    that key; without, the embedded key is used and only proves the manifest unchanged since signing."""
    signature = manifest.get("signature")
    try:
        if not isinstance(signature, dict) or signature.get("alg") != "Ed25519":
            return ["manifest is not signed with Ed25519"]
        embedded = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(signature["public_key"], validate=True)
        )
        value = base64.b64decode(signature["value"], validate=True)
        named = str(signature["key_id"])
    except (KeyError, ValueError, TypeError) as exc:
        return [f"manifest signature block is malformed: {exc}"]
    problems = []
    if key_id(embedded) != named:
        problems.append(f"signature names key {named} but carries the public key {key_id(embedded)}")
    if trusted is not None and raw_public_key(trusted) != raw_public_key(embedded):
        problems.append(f"signed by key {key_id(embedded)}, not by the given public key {key_id(trusted)}")
    try:
        (trusted or embedded).verify(value, _signed_bytes(manifest))
    except InvalidSignature:
        problems.append("manifest signature does not verify: the manifest was changed after signing")
    return problems

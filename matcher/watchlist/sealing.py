"""Optional encryption at rest of templates and index files with AES-256-GCM (the kiosk store's cipher).

Large blobs (a 1M-entry index is ~2.3 GB) are sealed in 64 MiB chunks, each with its own random nonce and
its index and a last-chunk flag bound in the associated data, so chunks cannot be reordered, dropped or
truncated unnoticed. The associated data also binds each blob to its place (list id, version, entry), so a
sealed template cannot be moved to another entry.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from matcher.errors import MatcherError

_MAGIC = b"EGSEAL1\0"
_CHUNK = 64 * 1024 * 1024


def read_key_file(path: Path) -> bytes:
    """A 32-byte AES key from a file holding 32 raw bytes or 64 hex digits."""
    data = path.read_bytes()
    if len(data) == 32:
        return data
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(f"{path}: a watchlist key file holds 32 raw bytes or 64 hex digits")
    return key


class SealError(MatcherError):
    """Encrypted data cannot be opened: wrong key, or the data was altered."""

    code = "WATCHLIST_SEAL_INVALID"


class Sealer:
    """AES-256-GCM sealing with a 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("watchlist encryption key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def seal(self, data: bytes | memoryview, aad: bytes) -> bytes:
        view = memoryview(data)
        n_chunks = max(1, -(-len(view) // _CHUNK))
        out = [_MAGIC, struct.pack("<Q", n_chunks)]
        for i in range(n_chunks):
            chunk = view[i * _CHUNK : (i + 1) * _CHUNK]
            nonce = os.urandom(12)
            ct = self._aead.encrypt(nonce, bytes(chunk), _chunk_aad(aad, i, i == n_chunks - 1))
            out += [nonce, struct.pack("<Q", len(ct)), ct]
        return b"".join(out)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if blob[:8] != _MAGIC or len(blob) < 16:
            raise SealError("data is not sealed with the watchlist key (missing header)")
        (n_chunks,) = struct.unpack_from("<Q", blob, 8)
        pos, parts = 16, []
        try:
            for i in range(n_chunks):
                nonce = blob[pos : pos + 12]
                (size,) = struct.unpack_from("<Q", blob, pos + 12)
                pos += 20
                parts.append(
                    self._aead.decrypt(nonce, blob[pos : pos + size], _chunk_aad(aad, i, i == n_chunks - 1))
                )
                pos += size
        except (InvalidTag, struct.error) as exc:
            raise SealError("sealed data cannot be opened: wrong key or altered data") from exc
        if pos != len(blob):
            raise SealError("sealed data has trailing bytes")
        return b"".join(parts)


def _chunk_aad(aad: bytes, index: int, last: bool) -> bytes:
    return aad + struct.pack("<QB", index, int(last))

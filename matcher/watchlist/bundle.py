"""Signed watchlist bundles: how upstream distributes a list to kiosks.

One file: ``MAGIC | u64 payload length | payload | u32 signature length | signature block``. The payload is
``u32 header length | header JSON | vectors`` (header: list definition, entry metadata, model id, issue time;
vectors: count x dim little-endian float32, in entry order). The signature block is JSON naming the key id
and carrying a detached Ed25519 signature over ``MAGIC | payload``. Import verifies the signature against
the configured trusted public keys *before* parsing the payload, refuses bundles older than the one last
imported for that list (no rollback by replay), and applies the content as one new list version, so a bad
bundle leaves the current list untouched.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from matcher import signing
from matcher.atomic import replace_file
from matcher.errors import MatcherError
from matcher.types import Template
from matcher.utc import iso_utc, utc_now
from matcher.watchlist.disk import ListInfo
from matcher.watchlist.policy import ThresholdPolicy
from matcher.watchlist.search import normalise_time, to_epoch
from matcher.watchlist.store import ListSpec, NewEntry, WatchlistStore, content_hash_of

MAGIC = b"EGATE-WATCHLIST-BUNDLE\x001"
FORMAT = 1


class BundleError(MatcherError):
    """A bundle is unsigned, signed by an untrusted key, tampered with, malformed or older than the list."""

    code = "WATCHLIST_BUNDLE_INVALID"


@dataclass(frozen=True)
class BundleInfo:
    list_id: str
    model_id: str
    entry_count: int
    issued_at: str
    key_id: str
    sha256: str  # of the whole bundle file


def signed_file(magic: bytes, payload: bytes, signing_key: Ed25519PrivateKey) -> bytes:
    """``magic | u64 payload length | payload | u32 signature length | signature block``, the block naming the
    key id and carrying a detached Ed25519 signature over ``magic | payload`` (so a file of one kind, face or
    document list, can never pass for the other)."""
    sig_block = json.dumps(signing.sign(magic + payload, signing_key)).encode()
    return magic + struct.pack("<Q", len(payload)) + payload + struct.pack("<I", len(sig_block)) + sig_block


def verify_signed_file(
    path: Path, magic: bytes, trusted_keys: dict[str, Ed25519PublicKey], what: str
) -> tuple[bytes, str, bytes]:
    """(payload, signing key id, whole file) of a file written by :func:`signed_file`, once its signature
    verifies against one of ``trusted_keys``. BundleError when unsigned, untrusted, tampered or malformed."""
    data = path.read_bytes()
    if not data.startswith(magic):
        raise BundleError(f"{path} is not {what}")
    pos = len(magic)
    try:
        (n_payload,) = struct.unpack_from("<Q", data, pos)
        payload = data[pos + 8 : pos + 8 + n_payload]
        pos += 8 + n_payload
        if len(payload) != n_payload:
            raise BundleError(f"{path} is truncated")
        if pos == len(data):
            raise BundleError(f"{path} is not signed: refusing an unsigned bundle")
        (n_sig,) = struct.unpack_from("<I", data, pos)
        sig_raw = data[pos + 4 : pos + 4 + n_sig]
        if pos + 4 + n_sig != len(data):
            raise BundleError(f"{path} has a malformed signature block")
        sig = json.loads(sig_raw)
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path} has a malformed signature block: {exc}") from None
    try:
        kid = signing.verify(magic + payload, sig, trusted_keys, name=str(path), what="bundle")
    except signing.SignatureError as exc:
        raise BundleError(str(exc)) from None
    return payload, kid, data


def export_bundle(
    store: WatchlistStore,
    list_id: str,
    out: Path,
    signing_key: Ed25519PrivateKey,
    *,
    issued_at: str | None = None,
) -> BundleInfo:
    """Write list ``list_id`` (definition, entries, templates) as one signed bundle file."""
    info = store.info(list_id)
    metas, vectors = [], []
    for entry, template in store.iter_templates(list_id):
        metas.append(
            {
                "external_ref": entry.external_ref,
                "category": entry.category,
                "severity": entry.severity,
                "valid_until": entry.valid_until,
                "source": entry.source,
            }
        )
        vectors.append(template.vector)
    header = {
        "format": FORMAT,
        "issued_at": issued_at or iso_utc(utc_now(), "microseconds"),  # compared as text (matcher.utc)
        "list": {
            "list_id": info.list_id,
            "model_id": info.model_id,
            "dim": info.dim,
            "policy": json.loads(info.policy.to_json()),
            "owner": info.owner,
            "description": info.description,
            "severity": info.severity,
            "valid_until": info.valid_until,
        },
        "content_hash": info.content_hash,
        "entries": metas,
    }
    matrix = np.stack(vectors) if vectors else np.zeros((0, info.dim), np.float32)
    head = json.dumps(header, ensure_ascii=False).encode()
    payload = struct.pack("<I", len(head)) + head + matrix.astype("<f4").tobytes()
    data = signed_file(MAGIC, payload, signing_key)
    replace_file(out, data)
    return BundleInfo(
        info.list_id,
        info.model_id,
        len(metas),
        header["issued_at"],
        signing.key_id(signing_key.public_key()),
        hashlib.sha256(data).hexdigest(),
    )


def read_bundle(
    path: Path, trusted_keys: dict[str, Ed25519PublicKey]
) -> tuple[ListSpec, list[NewEntry], BundleInfo]:
    """Verify a bundle's signature against ``trusted_keys``, then parse it. BundleError on any defect."""
    payload, kid, data = verify_signed_file(path, MAGIC, trusted_keys, "a watchlist bundle")
    # Signed by a trusted key from here on; still parse defensively.
    try:
        (n_head,) = struct.unpack_from("<I", payload, 0)
        header = json.loads(payload[4 : 4 + n_head])
        if header.get("format") != FORMAT:
            raise BundleError(f"{path}: unsupported bundle format {header.get('format')!r}")
        lst = header["list"]
        spec = ListSpec(
            list_id=str(lst["list_id"]),
            model_id=str(lst["model_id"]),
            dim=int(lst["dim"]),
            policy=ThresholdPolicy(**lst["policy"]),
            owner=str(lst.get("owner", "")),
            description=str(lst.get("description", "")),
            severity=str(lst.get("severity", "high")),
            valid_until=lst.get("valid_until"),
        )
        metas = header["entries"]
        raw = payload[4 + n_head :]
        if len(raw) != len(metas) * spec.dim * 4:
            raise BundleError(f"{path}: template block does not match {len(metas)} entries of dim {spec.dim}")
        matrix = np.frombuffer(raw, dtype="<f4").reshape(len(metas), spec.dim).astype(np.float32)
        entries = [
            NewEntry(
                external_ref=str(m["external_ref"]),
                template=Template(matrix[i], spec.model_id),
                category=str(m.get("category", "")),
                severity=m.get("severity"),
                valid_until=m.get("valid_until"),
                source=str(m.get("source", "")),
            )
            for i, m in enumerate(metas)
        ]
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: malformed bundle content: {exc}") from None
    info = BundleInfo(
        spec.list_id,
        spec.model_id,
        len(entries),
        str(header["issued_at"]),
        kid,
        hashlib.sha256(data).hexdigest(),
    )
    return spec, entries, info


def import_bundle(
    store: WatchlistStore, path: Path, trusted_keys: dict[str, Ed25519PublicKey], *, allow_older: bool = False
) -> tuple[ListInfo, BundleInfo]:
    """Verify and apply a bundle: the list becomes exactly the bundle's content, as one new version.

    Refuses a bundle issued no later than the last one imported for that list unless ``allow_older``;
    such a bundle with the content the list already holds changes nothing and is no error (a retried
    import): the returned version is then the current one. Nothing changes on any error.
    """
    spec, entries, binfo = read_bundle(path, trusted_keys)
    last = store.last_bundle(spec.list_id)
    if last is not None and to_epoch(binfo.issued_at) <= to_epoch(last) and _holds(store, spec, entries):
        return store.info(spec.list_id), binfo  # the same content again (a sync job retrying): up to date
    if last is not None and not allow_older and to_epoch(binfo.issued_at) <= to_epoch(last):
        raise BundleError(
            f"bundle for {spec.list_id!r} was issued at {binfo.issued_at}, not after the last one imported "
            f"({last}): refusing a rollback"
        )
    info = store.replace_contents(spec, entries, bundle_issued_at=binfo.issued_at)
    return info, binfo


def _holds(store: WatchlistStore, spec: ListSpec, entries: list[NewEntry]) -> bool:
    """Whether the store's list already has exactly this definition and content."""
    info = store.info(spec.list_id)
    definition = (info.model_id, info.dim, info.policy, info.owner, info.description, info.severity)
    wanted = (spec.model_id, spec.dim, spec.policy, spec.owner, spec.description, spec.severity)
    same_expiry = info.valid_until == normalise_time(spec.valid_until)
    return definition == wanted and same_expiry and info.content_hash == content_hash_of(spec, entries)

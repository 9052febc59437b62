"""Chip Authentication (ICAO Doc 9303-11 section 6.2, BSI TR-03110): clone detection by ephemeral-static
ECDH with the chip's key in DG14, after which secure messaging restarts under keys derived from the shared
secret. Only the real chip can compute them: if it keeps answering under the new keys, it holds the private
key of DG14 (whose hash passive authentication checks, ``chip.pa.dg14_hash``).

Supported: ECDH on any prime curve (named or explicit parameters; the key agreement runs from the
parameters, :mod:`kiosk.documents.chip.curves`) and DH on any prime-order subgroup DG14 spells out (X9.42
parameters p, g, q; :mod:`kiosk.documents.chip.dh`), with 3DES session keys (id-CA-*-3DES-CBC-CBC, MSE:Set
KAT) or AES-128/192/256 (id-CA-*-AES-CBC-CMAC-*, MSE:Set AT and GENERAL AUTHENTICATE). A DH public value
over 255 bytes (2048-bit groups) would need extended-length secure messaging, which the reader lacks."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import keys as asn1_keys

from kiosk.documents.chip.curves import Curve
from kiosk.documents.chip.dh import DhError, DhGroup, DhPublicKey, load_dh_public_key
from kiosk.documents.chip.keys import EcPublicKey, UnusableKey, load_public_key
from kiosk.documents.chip.lds import security_infos
from kiosk.documents.chip.secure_messaging import SessionKeys
from kiosk.documents.chip.tlv import TlvError, encode_tlv, iter_tlv

CA_CHECK = "chip.ca.key_agreement"
PK_ECDH = "0.4.0.127.0.7.2.2.1.2"  # id-PK-ECDH: ChipAuthenticationPublicKeyInfo
PK_DH = "0.4.0.127.0.7.2.2.1.1"
CA_ECDH_3DES = "0.4.0.127.0.7.2.2.3.2.1"  # id-CA-ECDH-3DES-CBC-CBC: ChipAuthenticationInfo
CA_ECDH_AES = {  # id-CA-ECDH-AES-CBC-CMAC-128/192/256 -> key length
    "0.4.0.127.0.7.2.2.3.2.2": 16,
    "0.4.0.127.0.7.2.2.3.2.3": 24,
    "0.4.0.127.0.7.2.2.3.2.4": 32,
}
CA_DH_3DES = "0.4.0.127.0.7.2.2.3.1.1"  # id-CA-DH-3DES-CBC-CBC
CA_DH_AES = {  # id-CA-DH-AES-CBC-CMAC-128/192/256 -> key length
    "0.4.0.127.0.7.2.2.3.1.2": 16,
    "0.4.0.127.0.7.2.2.3.1.3": 24,
    "0.4.0.127.0.7.2.2.3.1.4": 32,
}
CA_3DES = (CA_ECDH_3DES, CA_DH_3DES)
CA_AES = CA_ECDH_AES | CA_DH_AES
CA_PREFIX = "0.4.0.127.0.7.2.2.3."  # every id-CA-* protocol
NO_CHIP_AUTHENTICATION = "DG14 offers no Chip Authentication"


@dataclass(frozen=True)
class ChipAuthenticationKey:
    """The chip's static ECDH or DH key from DG14 and the key id to name it by (None: DG14 has one key)."""

    key: EcPublicKey | DhPublicKey
    key_id: int | None
    protocol: str = CA_ECDH_3DES  # the id-CA-* variant to run

    @property
    def dh(self) -> bool:
        return isinstance(self.key, DhPublicKey)


def chip_authentication_key(dg14: bytes) -> ChipAuthenticationKey | str:
    """The key and protocol to run Chip Authentication with (AES before 3DES, ECDH before DH), or why that
    cannot be done."""
    try:
        infos = security_infos(dg14)
    except TlvError as exc:
        return f"DG14 cannot be parsed: {exc}"
    offered = [(protocol, optional) for protocol, _, optional in infos if protocol.startswith(CA_PREFIX)]
    keys = [
        (protocol, required, optional)
        for protocol, required, optional in infos
        if protocol in (PK_ECDH, PK_DH)
    ]
    if not offered and not keys:
        return NO_CHIP_AUTHENTICATION
    supported = [p for p, _ in offered if p in CA_AES] + [p for p, _ in offered if p in CA_3DES]
    supported.sort(key=lambda p: p.startswith(CA_PREFIX + "1."))  # ECDH first (a stable sort)
    if offered and not supported:
        return f"Chip Authentication {', '.join(p for p, _ in offered)} is not supported"
    if not supported:  # no ChipAuthenticationInfo (version 1 chips): 3DES with whichever key DG14 has
        supported = [CA_ECDH_3DES, CA_DH_3DES]
    problems = []
    for protocol_to_run in supported:
        wanted = PK_DH if protocol_to_run.startswith(CA_PREFIX + "1.") else PK_ECDH
        for protocol, required, optional in keys:
            if protocol != wanted:
                continue
            try:
                info = asn1_keys.PublicKeyInfo.load(required, strict=True)
                key = load_dh_public_key(info) if wanted == PK_DH else load_public_key(info)
                key_id = None if optional is None else core.Integer.load(optional).native
            except (UnusableKey, DhError, ValueError, TypeError) as exc:
                problems.append(f"DG14's chip authentication key is unusable: {exc}")
                continue
            if isinstance(key, EcPublicKey | DhPublicKey):
                return ChipAuthenticationKey(key, key_id, protocol_to_run)
    return problems[0] if problems else "DG14 has no chip authentication key for the protocols it offers"


def key_agreement(chip: ChipAuthenticationKey) -> tuple[bytes, bytes]:
    """A fresh ephemeral key pair on the chip's curve or group: (MSE:Set KAT data, tag 91 with the ephemeral
    point or public value and 84 with the key id, shared secret = x coordinate, or K as many bytes as p)."""
    if isinstance(chip.key, DhPublicKey):
        group = chip.key.group
        private = secrets.randbelow(group.q - 1) + 1
        data = encode_tlv(0x91, group.encode_point(group.public_point(private)))
        if chip.key_id is not None:
            data += encode_tlv(0x84, core.Integer(chip.key_id).contents)
        return data, group.encode_point(pow(chip.key.y, private, group.p))
    curve = chip.key.curve
    private = secrets.randbelow(curve.n - 1) + 1
    shared = curve.multiply(private * curve.h, chip.key.point)
    if shared is None:
        raise UnusableKey("the chip's key gives the point at infinity")
    data = encode_tlv(0x91, curve.encode_point(curve.public_point(private)))
    if chip.key_id is not None:
        data += encode_tlv(0x84, core.Integer(chip.key_id).contents)
    return data, shared[0].to_bytes(curve.size, "big")


def chip_side_secret(curve: Curve | DhGroup, private: int, command_data: bytes) -> bytes:
    """The chip's half (the software chip): the shared secret from the terminal's ephemeral key in tag 91."""
    objects = {item.tag: item.value for item in iter_tlv(command_data)}
    if isinstance(curve, DhGroup):
        return curve.encode_point(pow(curve.decode_point(objects[0x91]), private, curve.p))
    point = curve.decode_point(objects[0x91])
    shared = curve.multiply(private * curve.h, point)
    if shared is None:
        raise UnusableKey("the terminal's key gives the point at infinity")
    return shared[0].to_bytes(curve.size, "big")


def session_keys(protocol: str, secret: bytes) -> SessionKeys:
    """The secure-messaging keys after Chip Authentication (SSC 0): 3DES, or AES with the Doc 9303-11 9.7.1
    KDF (SHA-1 for 128-bit keys, SHA-256 for 192 and 256)."""
    if protocol not in CA_AES:
        return SessionKeys.from_seed(secret, 0)
    length = CA_AES[protocol]
    hash_name = "sha1" if length == 16 else "sha256"

    def kdf(counter: int) -> bytes:
        return hashlib.new(hash_name, secret + counter.to_bytes(4, "big")).digest()[:length]

    return SessionKeys(kdf(1), kdf(2), 0, "aes")


def aes_set_at(chip: ChipAuthenticationKey) -> bytes:
    """MSE:Set AT data selecting the AES variant (tag 80 protocol, 84 key id)."""
    data = encode_tlv(0x80, core.ObjectIdentifier(chip.protocol).contents)
    if chip.key_id is not None:
        data += encode_tlv(0x84, core.Integer(chip.key_id).contents)
    return data

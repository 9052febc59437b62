"""PACE key agreement, ECDH Generic Mapping (ICAO Doc 9303-11 section 4.4, BSI TR-03110): the cryptography of
both sides, checked against the Doc 9303-11 Appendix G.1 worked example.

Steps (terminal side; the chip mirrors them):
1. password key ``K_pi = KDF(K, 3)`` from the MRZ (``K = SHA-1(document number, birth, expiry with check
   digits)``) or the CAN; the chip's nonce ``s`` is decrypted from ``z`` with ``K_pi`` (CBC, zero IV);
2. mapping: ephemeral ECDH gives the point ``H``, the new generator is ``G^ = s * G + H``;
3. key agreement on ``G^``: ``K = x(SK_DH * PK_DH)``, session keys ``KS_enc = KDF(K, 1)``,
   ``KS_mac = KDF(K, 2)``;
4. authentication tokens: ``T = MAC(KS_mac, 7F49 { 06 OID, 86 other side's public point })``, 8 bytes.

Cipher suites: 3DES and AES-128/192/256 (id-PACE-ECDH-GM-*) on any prime curve of
:mod:`kiosk.documents.chip.curves`. Not yet here: the PACE APDU exchange and AES secure messaging in the chip
reader, DH and Integrated Mapping (see the README)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import core
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kiosk.documents.chip.curves import Curve, Point
from kiosk.documents.chip.secure_messaging import pad, retail_mac
from kiosk.documents.chip.tlv import encode_tlv
from kiosk.documents.mrz import check_digit

PACE_ECDH_GM = {  # protocol OID -> (cipher, key length in bytes)
    "0.4.0.127.0.7.2.2.4.2.1": ("3des", 16),
    "0.4.0.127.0.7.2.2.4.2.2": ("aes", 16),
    "0.4.0.127.0.7.2.2.4.2.3": ("aes", 24),
    "0.4.0.127.0.7.2.2.4.2.4": ("aes", 32),
}


class PaceError(ValueError):
    """A PACE step that cannot complete (unknown protocol, a point at infinity, a wrong token)."""


@dataclass(frozen=True)
class Suite:
    oid: str
    cipher: str  # "3des" or "aes"
    key_length: int  # bytes

    @classmethod
    def of(cls, oid: str) -> Suite:
        if oid not in PACE_ECDH_GM:
            raise PaceError(f"PACE protocol {oid} is not supported (ECDH Generic Mapping only)")
        return cls(oid, *PACE_ECDH_GM[oid])

    def kdf(self, secret: bytes, counter: int) -> bytes:
        """Doc 9303-11 9.7.1: SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256, truncated."""
        hash_name = "sha1" if self.key_length == 16 else "sha256"
        return hashlib.new(hash_name, secret + counter.to_bytes(4, "big")).digest()[: self.key_length]

    def decrypt_nonce(self, k_pi: bytes, z: bytes) -> bytes:
        return self._cbc(k_pi).decryptor().update(z)

    def encrypt_nonce(self, k_pi: bytes, s: bytes) -> bytes:
        return self._cbc(k_pi).encryptor().update(s)

    def token(self, ks_mac: bytes, public_point: bytes) -> bytes:
        """The 8-byte authentication token over the other side's ephemeral public key."""
        data = encode_tlv(0x7F49, core.ObjectIdentifier(self.oid).dump() + encode_tlv(0x86, public_point))
        if self.cipher == "3des":
            return retail_mac(ks_mac, pad(data))
        mac = cmac.CMAC(algorithms.AES(ks_mac))
        mac.update(data)
        return mac.finalize()[:8]

    def _cbc(self, key: bytes) -> Cipher:
        if self.cipher == "3des":
            return Cipher(TripleDES(key + key[:8]), modes.CBC(bytes(8)))
        return Cipher(algorithms.AES(key), modes.CBC(bytes(16)))


def mrz_password(document_number: str, date_of_birth: str, expiry_date: str) -> bytes:
    """K = SHA-1 of the MRZ information (document number, birth and expiry dates, each with check digit)."""
    number = document_number.ljust(9, "<")
    info = f"{number}{check_digit(number)}{date_of_birth}{check_digit(date_of_birth)}"
    info += f"{expiry_date}{check_digit(expiry_date)}"
    return hashlib.sha1(info.encode("ascii")).digest()


def can_password(can: str) -> bytes:
    """K of a Card Access Number: the digits as ISO 8859-1 text."""
    return can.encode("latin-1")


def map_generator(curve: Curve, s: bytes, map_private: int, other_map_public: Point) -> tuple[Curve, Point]:
    """Generic Mapping: the curve with generator G^ = s * G + H, and H = map_private * other_map_public."""
    h = curve.multiply(map_private, other_map_public)
    mapped = curve.add(curve.multiply(int.from_bytes(s, "big"), (curve.gx, curve.gy)), h)
    if h is None or mapped is None:
        raise PaceError("the mapping gives the point at infinity")
    return Curve(None, curve.p, curve.a, curve.b, *mapped, curve.n, curve.h), h


def shared_secret(mapped: Curve, private: int, other_public: Point) -> bytes:
    """K: the x coordinate of private * other_public, as many bytes as a field element."""
    if other_public == (mapped.gx, mapped.gy):
        raise PaceError("the other side's key equals the generator")
    point = mapped.multiply(private, other_public)
    if point is None:
        raise PaceError("the key agreement gives the point at infinity")
    return point[0].to_bytes(mapped.size, "big")

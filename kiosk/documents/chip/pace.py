"""PACE key agreement, Generic Mapping over ECDH and DH (ICAO Doc 9303-11 section 4.4, BSI TR-03110): the
cryptography of both sides, checked against the Doc 9303-11 Appendix G.1 (ECDH) and G.2 (DH) worked examples.

Steps (terminal side; the chip mirrors them):
1. password key ``K_pi = KDF(K, 3)`` from the MRZ (``K = SHA-1(document number, birth, expiry with check
   digits)``) or the CAN; the chip's nonce ``s`` is decrypted from ``z`` with ``K_pi`` (CBC, zero IV);
2. mapping: ephemeral ECDH gives the point ``H``, the new generator is ``G^ = s * G + H``
   (DH: ``g^ = g^s * h``);
3. key agreement on ``G^``: ``K = x(SK_DH * PK_DH)`` (DH: ``PK^SK mod p``), session keys
   ``KS_enc = KDF(K, 1)``, ``KS_mac = KDF(K, 2)``;
4. authentication tokens: ``T = MAC(KS_mac, 7F49 { 06 OID, 86 other side's public point })`` (DH: tag 84, the
   public value), 8 bytes.

Cipher suites: 3DES and AES-128/192/256 (id-PACE-ECDH-GM-*) on the standardized domain parameters (Doc
9303-11 table 6: NIST and brainpool curves). :func:`establish` runs the terminal's side of the APDU exchange
(MSE:Set AT, four chained GENERAL AUTHENTICATE) and returns the secure-messaging keys; :class:`PaceChip` is
the chip's side for the software chip. DH Generic Mapping (id-PACE-DH-GM-*) on the RFC 5114 groups of table 6
(parameter ids 0-2, ``kiosk.documents.chip.dh``). Integrated Mapping (G^ = f_G(R(s, t)), Appendix B point
encoding) with AES-128 on curves with p = 3 mod 4. Not supported: DH Integrated Mapping, IM with other
ciphers, Chip Authentication Mapping, proprietary domain parameters."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from asn1crypto import core
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kiosk.documents.chip.curves import NAMED_CURVES, Curve, CurveError, Point
from kiosk.documents.chip.dh import DH_GROUPS, DhError, DhGroup
from kiosk.documents.chip.lds import parse_security_infos
from kiosk.documents.chip.secure_messaging import SessionKeys, pad, retail_mac
from kiosk.documents.chip.tlv import TlvError, encode_tlv, iter_tlv
from kiosk.documents.mrz import check_digit

PACE_ECDH_IM_AES_128 = "0.4.0.127.0.7.2.2.4.4.2"  # Integrated Mapping: AES-128 only here
_IM_C0 = bytes.fromhex("a668892a7c41e3ca739f40b057d85904")  # Doc 9303-11 4.4.3.3.2, 128-bit block ciphers
_IM_C1 = bytes.fromhex("a4e136ac725f738b01c1f60217c188ad")
PACE_ECDH_GM = {  # protocol OID -> (cipher, key length in bytes)
    "0.4.0.127.0.7.2.2.4.2.1": ("3des", 16),
    "0.4.0.127.0.7.2.2.4.2.2": ("aes", 16),
    "0.4.0.127.0.7.2.2.4.2.3": ("aes", 24),
    "0.4.0.127.0.7.2.2.4.2.4": ("aes", 32),
}
PACE_DH_GM = {  # id-PACE-DH-GM-3DES-CBC-CBC, -AES-CBC-CMAC-128/192/256
    "0.4.0.127.0.7.2.2.4.1.1": ("3des", 16),
    "0.4.0.127.0.7.2.2.4.1.2": ("aes", 16),
    "0.4.0.127.0.7.2.2.4.1.3": ("aes", 24),
    "0.4.0.127.0.7.2.2.4.1.4": ("aes", 32),
}


PARAMETER_IDS = {  # Doc 9303-11 table 6: standardized domain parameters (ECP; 0-2 are DH, see DH_GROUPS)
    8: "secp192r1",
    9: "brainpoolP192r1",
    10: "secp224r1",
    11: "brainpoolP224r1",
    12: "secp256r1",
    13: "brainpoolP256r1",
    14: "brainpoolP320r1",
    15: "secp384r1",
    16: "brainpoolP384r1",
    17: "brainpoolP512r1",
    18: "secp521r1",
}
MRZ_PASSWORD, CAN_PASSWORD = 1, 2  # password references of MSE:Set AT (tag 83)


class PaceError(ValueError):
    """A PACE step that cannot complete (unknown protocol, a point at infinity, a wrong token)."""


@dataclass(frozen=True)
class Suite:
    oid: str
    cipher: str  # "3des" or "aes"
    key_length: int  # bytes
    integrated: bool = False  # Integrated Mapping instead of Generic Mapping
    dh: bool = False  # finite-field DH instead of ECDH

    @classmethod
    def of(cls, oid: str) -> Suite:
        if oid == PACE_ECDH_IM_AES_128:
            return cls(oid, "aes", 16, integrated=True)
        if oid in PACE_DH_GM:
            return cls(oid, *PACE_DH_GM[oid], dh=True)
        if oid not in PACE_ECDH_GM:
            raise PaceError(
                f"PACE protocol {oid} is not supported (ECDH or DH Generic Mapping, or ECDH IM with AES-128)"
            )
        return cls(oid, *PACE_ECDH_GM[oid])

    def domain(self, parameter_id: int) -> Curve | DhGroup:
        """The standardized domain parameters ``parameter_id`` names for this suite (PaceError if none)."""
        table: dict = DH_GROUPS if self.dh else {k: NAMED_CURVES[v] for k, v in PARAMETER_IDS.items()}
        if parameter_id not in table:
            kind = "DH group" if self.dh else "curve"
            raise PaceError(f"standardized domain parameter id {parameter_id} is no {kind} this reader knows")
        return table[parameter_id]

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
        tag = 0x84 if self.dh else 0x86  # DH public value y; EC public point
        data = encode_tlv(0x7F49, core.ObjectIdentifier(self.oid).dump() + encode_tlv(tag, public_point))
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


def map_generator(curve, s: bytes, map_private: int, other_map_public):
    """Generic Mapping: the curve with generator G^ = s * G + H, and H = map_private * other_map_public (a DH
    group: g^ = g^s * h, h = other_map_public^map_private)."""
    if isinstance(curve, DhGroup):
        return curve.map_generator(s, map_private, other_map_public)
    h = curve.multiply(map_private, other_map_public)
    mapped = curve.add(curve.multiply(int.from_bytes(s, "big"), (curve.gx, curve.gy)), h)
    if h is None or mapped is None:
        raise PaceError("the mapping gives the point at infinity")
    return Curve(None, curve.p, curve.a, curve.b, *mapped, curve.n, curve.h), h


def pseudo_random(s: bytes, t: bytes, p: int) -> int:
    """Integrated Mapping's R(s, t) mod p (Doc 9303-11 4.4.3.3.2) with AES-128: k0 = E(t, s), then blocks
    x_i = E(k_i, c1), k_(i+1) = E(k_i, c0) until log2(p) + 64 bits."""

    def block(key: bytes, data: bytes) -> bytes:
        encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        return encryptor.update(data) + encryptor.finalize()

    key, out = block(t, s), b""
    for _ in range(-(-(p.bit_length() + 64) // 128)):
        out += block(key, _IM_C1)
        key = block(key, _IM_C0)
    return int.from_bytes(out, "big") % p


def encode_to_point(curve: Curve, t: int) -> Point:
    """Doc 9303-11 Appendix B.2 (affine): the point a field element maps to; needs p = 3 mod 4."""
    p, a, b = curve.p, curve.a, curve.b
    if p % 4 != 3:
        raise PaceError("Integrated Mapping needs a prime p = 3 mod 4")
    alpha = -t * t % p
    alpha_sum = (alpha + alpha * alpha) % p
    x2 = -b * (1 + alpha_sum) * pow(a * alpha_sum, p - 2, p) % p
    x3 = alpha * x2 % p
    h2 = (x2**3 + a * x2 + b) % p
    u = pow(t, 3, p) * h2 % p
    big_a = pow(h2, p - 1 - (p + 1) // 4, p)
    point = (x2, big_a * h2 % p) if big_a * big_a * h2 % p == 1 else (x3, big_a * u % p)
    return point if curve.h == 1 else curve.multiply(curve.h, point)


def map_integrated(curve: Curve, s: bytes, t: bytes) -> Curve:
    """Integrated Mapping: the curve with generator G^ = f_G(R(s, t))."""
    mapped = encode_to_point(curve, pseudo_random(s, t, curve.p))
    if mapped is None or not curve.contains(mapped):
        raise PaceError("the integrated mapping gives no point of the curve")
    return Curve(None, curve.p, curve.a, curve.b, *mapped, curve.n, curve.h)


def shared_secret(mapped, private: int, other_public) -> bytes:
    """K: the x coordinate of private * other_public, as many bytes as a field element (a DH group:
    other_public^private, as many bytes as p)."""
    if isinstance(mapped, DhGroup):
        return mapped.shared_secret(private, other_public)
    if other_public == (mapped.gx, mapped.gy):
        raise PaceError("the other side's key equals the generator")
    point = mapped.multiply(private, other_public)
    if point is None:
        raise PaceError("the key agreement gives the point at infinity")
    return point[0].to_bytes(mapped.size, "big")


def card_access(oid: str, parameter_id: int) -> bytes:
    """EF.CardAccess offering one PACEInfo (version 2) with standardized domain parameters."""
    info = core.ObjectIdentifier(oid).dump() + core.Integer(2).dump() + core.Integer(parameter_id).dump()
    return encode_tlv(0x31, encode_tlv(0x30, info))


def supported_pace(card_access_der: bytes) -> tuple[Suite, int] | None:
    """The first PACEInfo of EF.CardAccess this reader can run (suite, parameter id), or None."""
    try:
        infos = parse_security_infos(card_access_der)
    except TlvError:
        return None
    for protocol, _version, parameter in infos:
        known = protocol in PACE_ECDH_GM or protocol in PACE_DH_GM or protocol == PACE_ECDH_IM_AES_128
        if known and parameter is not None:
            parameter_id = core.Integer.load(parameter).native
            suite = Suite.of(protocol)
            if parameter_id in (DH_GROUPS if suite.dh else PARAMETER_IDS):
                return suite, parameter_id
    return None


def establish(transmit, password: bytes, reference: int, suite: Suite, parameter_id: int) -> SessionKeys:
    """The terminal's side of PACE over ``transmit(apdu) -> (data, status)``: the secure-messaging keys with
    SSC 0. PaceError names the step that failed (a wrong password fails at the chip's token)."""
    curve = suite.domain(parameter_id)
    oid = core.ObjectIdentifier(suite.oid).contents
    mse = (
        encode_tlv(0x80, oid) + encode_tlv(0x83, bytes([reference])) + encode_tlv(0x84, bytes([parameter_id]))
    )
    _, status = transmit(bytes([0x00, 0x22, 0xC1, 0xA4, len(mse)]) + mse)
    if status != 0x9000:
        raise PaceError(f"the chip refused MSE:Set AT (status {status:04X})")
    z = _general_authenticate(transmit, b"", 0x80)
    s = suite.decrypt_nonce(suite.kdf(password, 3), z)
    try:
        if suite.integrated:
            t = secrets.token_bytes(16)
            _general_authenticate(transmit, encode_tlv(0x81, t), None)
            mapped = map_integrated(curve, s, t)
        else:
            map_private = _private(curve)
            map_public = curve.encode_point(curve.public_point(map_private))
            chip_map = _general_authenticate(transmit, encode_tlv(0x81, map_public), 0x82)
            mapped, _ = map_generator(curve, s, map_private, curve.decode_point(chip_map))
        dh_private = _private(mapped)
        own = mapped.encode_point(mapped.public_point(dh_private))
        chip_key = _general_authenticate(transmit, encode_tlv(0x83, own), 0x84)
        if chip_key == own:
            raise PaceError("the chip returned the terminal's own key")
        secret = shared_secret(mapped, dh_private, mapped.decode_point(chip_key))
    except (CurveError, DhError) as exc:
        raise PaceError(f"the chip sent an invalid point: {exc}") from exc
    ks_enc, ks_mac = suite.kdf(secret, 1), suite.kdf(secret, 2)
    chip_token = _general_authenticate(
        transmit, encode_tlv(0x85, suite.token(ks_mac, chip_key)), 0x86, last=True
    )
    if not hmac.compare_digest(chip_token, suite.token(ks_mac, own)):
        raise PaceError("the chip's authentication token does not verify")
    return SessionKeys(ks_enc, ks_mac, 0, suite.cipher)


def _private(curve: Curve) -> int:
    return secrets.randbelow(curve.n - 1) + 1


def _general_authenticate(transmit, data: bytes, expected: int | None, *, last: bool = False) -> bytes:
    body = encode_tlv(0x7C, data)
    header = bytes([0x00 if last else 0x10, 0x86, 0x00, 0x00])
    if len(body) <= 0xFF:
        apdu = header + bytes([len(body)]) + body + b"\x00"
    else:  # a 2048-bit DH public value: extended length (Lc and Le in two bytes each)
        apdu = header + b"\x00" + len(body).to_bytes(2, "big") + body + b"\x00\x00"
    response, status = transmit(apdu)
    if status != 0x9000:
        raise PaceError(f"GENERAL AUTHENTICATE refused (status {status:04X}): check the MRZ or CAN")
    try:
        outer = {item.tag: item.value for item in iter_tlv(response)}
        objects = {item.tag: item.value for item in iter_tlv(outer[0x7C])}
        return b"" if expected is None else objects[expected]
    except (TlvError, KeyError) as exc:
        raise PaceError(f"malformed GENERAL AUTHENTICATE answer (no tag {expected or 0:02X})") from exc


class PaceChip:
    """The chip's side of PACE (software chip): fed the terminal's MSE:Set AT and GENERAL AUTHENTICATE data,
    it answers and, after the tokens, yields the secure-messaging keys."""

    def __init__(self, passwords: dict[int, bytes], suite: Suite, parameter_id: int) -> None:
        self.passwords = passwords
        self.suite = suite
        self.curve = suite.domain(parameter_id)
        self.step = 0
        self.keys: SessionKeys | None = None

    def set_at(self, data: bytes) -> bool:
        try:
            objects = {item.tag: item.value for item in iter_tlv(data)}
        except TlvError:
            return False
        if objects.get(0x80) != core.ObjectIdentifier(self.suite.oid).contents:
            return False
        reference = (objects.get(0x83) or b"\x00")[0]
        if reference not in self.passwords:
            return False
        self._password, self.step, self.keys = self.passwords[reference], 1, None
        return True

    def general_authenticate(self, data: bytes) -> bytes | None:
        """The dynamic authentication data answer (7C ...), or None when the step fails."""
        try:
            objects = {item.tag: item.value for item in iter_tlv(next(iter(iter_tlv(data))).value)}
        except (TlvError, StopIteration):
            return None
        curve, suite = self.curve, self.suite
        try:
            if self.step == 1:
                self._s = secrets.token_bytes(16 if suite.cipher == "aes" else 8)
                answer = encode_tlv(0x80, suite.encrypt_nonce(suite.kdf(self._password, 3), self._s))
            elif self.step == 2 and suite.integrated:
                self._mapped, answer = map_integrated(curve, self._s, objects[0x81]), b""
            elif self.step == 2:
                own = _private(curve)
                self._mapped, _ = map_generator(curve, self._s, own, curve.decode_point(objects[0x81]))
                answer = encode_tlv(0x82, curve.encode_point(curve.public_point(own)))
            elif self.step == 3:
                self._private = _private(self._mapped)
                self._terminal_key = objects[0x83]
                self._own_key = self._mapped.encode_point(self._mapped.public_point(self._private))
                secret = shared_secret(self._mapped, self._private, self._mapped.decode_point(objects[0x83]))
                self._enc, self._mac = suite.kdf(secret, 1), suite.kdf(secret, 2)
                answer = encode_tlv(0x84, self._own_key)
            elif self.step == 4:
                if not hmac.compare_digest(objects[0x85], suite.token(self._mac, self._own_key)):
                    return None
                self.keys = SessionKeys(self._enc, self._mac, 0, suite.cipher)
                answer = encode_tlv(0x86, suite.token(self._mac, self._terminal_key))
            else:
                return None
        except (KeyError, ValueError):  # CurveError, PaceError, a wrong-sized nonce t
            self.step = 0
            return None
        self.step += 1
        return encode_tlv(0x7C, answer)

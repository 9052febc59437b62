"""Basic Access Control and secure messaging, 3DES and AES (ICAO Doc 9303 part 11, sections 4.3 and 9.8).

Both sides of the protocol live here, the inspection system's and the chip's, so the PC/SC reader and the
software card used to test it share the same primitives: key derivation from the MRZ, ISO/IEC 9797-1
MAC algorithm 3 (retail MAC) with padding method 2, 2-key Triple DES in CBC mode with a zero IV, and
the wrapping / unwrapping of APDUs with DO'87' (encrypted data), DO'97' (Le), DO'99' (status), DO'8E' (MAC).
Triple DES comes from ``cryptography.hazmat.decrepit``: BAC is legacy, but many passports rely on it."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kiosk.documents.chip.tlv import TlvError, encode_tlv, iter_tlv
from kiosk.errors import KioskError

_ZERO_IV = bytes(8)


class SecureMessagingError(KioskError):
    """Access control or secure messaging failed (wrong MRZ key, bad MAC, malformed protected APDU)."""

    code = "CHIP_SECURE_MESSAGING"


def pad(data: bytes, block: int = 8) -> bytes:
    """ISO/IEC 9797-1 padding method 2 to a multiple of ``block`` bytes."""
    data = data + b"\x80"
    return data + bytes(-len(data) % block)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise SecureMessagingError("bad padding in decrypted data")
    return stripped[:-1]


def derive_key(seed: bytes, counter: int) -> bytes:
    """16-byte 2-key Triple DES key from a key seed (counter 1: encryption, 2: MAC)."""
    return hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()[:16]


def bac_key_seed(document_number: str, date_of_birth: str, expiry_date: str, check_digit) -> bytes:
    """K_seed from the MRZ information: document number, birth and expiry dates (YYMMDD), each with its
    check digit (``check_digit`` is ``kiosk.documents.mrz.check_digit``)."""
    number = document_number.ljust(9, "<")
    info = f"{number}{check_digit(number)}{date_of_birth}{check_digit(date_of_birth)}"
    info += f"{expiry_date}{check_digit(expiry_date)}"
    return hashlib.sha1(info.encode("ascii")).digest()[:16]


def _two_key(key: bytes) -> TripleDES:
    return TripleDES(key + key[:8])  # 2-key 3DES as the 24-byte K1 K2 K1


def encrypt(key: bytes, data: bytes) -> bytes:
    encryptor = Cipher(_two_key(key), modes.CBC(_ZERO_IV)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def decrypt(key: bytes, data: bytes) -> bytes:
    if len(data) % 8:
        raise SecureMessagingError("encrypted data is not a whole number of blocks")
    decryptor = Cipher(_two_key(key), modes.CBC(_ZERO_IV)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 over already padded ``data``: single DES CBC with K1, then the last
    block decrypted with K2 and encrypted with K1."""
    k1, k2 = key[:8], key[8:16]
    single = Cipher(TripleDES(k1 * 3), modes.CBC(_ZERO_IV)).encryptor()
    last = (single.update(data) + single.finalize())[-8:]
    decryptor = Cipher(TripleDES(k2 * 3), modes.ECB()).decryptor()
    block = decryptor.update(last) + decryptor.finalize()
    encryptor = Cipher(TripleDES(k1 * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


@dataclass
class SessionKeys:
    """Secure-messaging keys and send sequence counter: 3DES (BAC, Chip Authentication; 8-byte SSC, retail
    MAC, zero IV) or AES (PACE; 16-byte SSC, CMAC, IV = E(KS_enc, SSC), Doc 9303-11 9.8.6)."""

    enc: bytes
    mac: bytes
    ssc: int  # send sequence counter
    cipher: str = "3des"  # or "aes"

    @classmethod
    def from_seed(cls, seed: bytes, ssc: int) -> SessionKeys:
        return cls(derive_key(seed, 1), derive_key(seed, 2), ssc)

    @property
    def _block(self) -> int:
        return 16 if self.cipher == "aes" else 8

    def _next_ssc(self) -> bytes:
        bits = 8 * self._block
        self.ssc = (self.ssc + 1) % (1 << bits)
        return self.ssc.to_bytes(self._block, "big")

    def _mac(self, ssc: bytes, data: bytes) -> bytes:
        message = pad(ssc + data, self._block)
        if self.cipher == "aes":
            mac = cmac.CMAC(algorithms.AES(self.mac))
            mac.update(message)
            return mac.finalize()[:8]
        return retail_mac(self.mac, message)

    def _cbc(self, ssc: bytes) -> Cipher:
        if self.cipher == "aes":
            iv_encryptor = Cipher(algorithms.AES(self.enc), modes.ECB()).encryptor()
            return Cipher(algorithms.AES(self.enc), modes.CBC(iv_encryptor.update(ssc)))
        return Cipher(_two_key(self.enc), modes.CBC(_ZERO_IV))

    def _encrypt(self, ssc: bytes, data: bytes) -> bytes:
        encryptor = self._cbc(ssc).encryptor()
        return b"\x01" + encryptor.update(pad(data, self._block)) + encryptor.finalize()

    def _decrypt(self, ssc: bytes, data: bytes) -> bytes:
        if not data.startswith(b"\x01"):
            raise SecureMessagingError("unknown padding indicator in DO'87'")
        if (len(data) - 1) % self._block:
            raise SecureMessagingError("encrypted data is not a whole number of blocks")
        decryptor = self._cbc(ssc).decryptor()
        return unpad(decryptor.update(data[1:]) + decryptor.finalize())

    # Inspection-system side

    def wrap_command(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
    ) -> bytes:
        ssc = self._next_ssc()
        header = bytes([cla | 0x0C, ins, p1, p2])
        body = b""
        if data:
            body += encode_tlv(0x87, self._encrypt(ssc, data))
        if le is not None:
            body += encode_tlv(0x97, bytes([le & 0xFF]))
        body += encode_tlv(0x8E, self._mac(ssc, pad(header, self._block) + body))
        return header + bytes([len(body)]) + body + b"\x00"

    def unwrap_response(self, response: bytes) -> tuple[bytes, int]:
        """(data, status word) of a protected response; SecureMessagingError when its MAC is wrong."""
        ssc = self._next_ssc()
        objects = _objects(response)
        if 0x8E not in objects or 0x99 not in objects:
            raise SecureMessagingError("protected response lacks its status or MAC")
        covered = b"".join(encode_tlv(tag, objects[tag]) for tag in (0x87, 0x99) if tag in objects)
        if not hmac.compare_digest(self._mac(ssc, covered), objects[0x8E]):
            raise SecureMessagingError("the response MAC does not verify")
        data = self._decrypt(ssc, objects[0x87]) if 0x87 in objects else b""
        return data, int.from_bytes(objects[0x99], "big")

    # Chip side

    def unwrap_command(self, apdu: bytes) -> tuple[bytes, bytes, int | None]:
        """(header with plain CLA, data, Le) of a protected command; SecureMessagingError on a bad MAC."""
        if len(apdu) < 6 or not apdu[0] & 0x0C:
            raise SecureMessagingError("command is not protected")
        ssc = self._next_ssc()
        header, length = apdu[:4], apdu[4]
        body = apdu[5 : 5 + length]
        objects = _objects(body)
        if 0x8E not in objects:
            raise SecureMessagingError("protected command lacks its MAC")
        covered = body[: body.rindex(encode_tlv(0x8E, objects[0x8E]))]
        if not hmac.compare_digest(self._mac(ssc, pad(header, self._block) + covered), objects[0x8E]):
            raise SecureMessagingError("the command MAC does not verify")
        data = self._decrypt(ssc, objects[0x87]) if 0x87 in objects else b""
        le = objects[0x97][0] if 0x97 in objects else None
        return bytes([header[0] & ~0x0C & 0xFF]) + header[1:], data, le

    def wrap_response(self, data: bytes, status: int) -> bytes:
        ssc = self._next_ssc()
        body = encode_tlv(0x87, self._encrypt(ssc, data)) if data else b""
        body += encode_tlv(0x99, status.to_bytes(2, "big"))
        return body + encode_tlv(0x8E, self._mac(ssc, body)) + b"\x90\x00"


def _objects(data: bytes) -> dict[int, bytes]:
    try:
        return {item.tag: item.value for item in iter_tlv(data)}
    except TlvError as exc:
        raise SecureMessagingError(f"malformed secure messaging data: {exc}") from exc


def mutual_authenticate_command(seed: bytes, rnd_ic: bytes, rnd_ifd: bytes, k_ifd: bytes) -> bytes:
    """E_IFD || M_IFD for the MUTUAL AUTHENTICATE command."""
    k_enc, k_mac = derive_key(seed, 1), derive_key(seed, 2)
    e_ifd = encrypt(k_enc, rnd_ifd + rnd_ic + k_ifd)
    return e_ifd + retail_mac(k_mac, pad(e_ifd))


def open_authentication_response(
    seed: bytes, response: bytes, rnd_ic: bytes, rnd_ifd: bytes, k_ifd: bytes
) -> SessionKeys:
    """Check the chip's answer E_IC || M_IC and derive the session keys and send sequence counter."""
    if len(response) != 40:
        raise SecureMessagingError("MUTUAL AUTHENTICATE answer has the wrong length")
    k_enc, k_mac = derive_key(seed, 1), derive_key(seed, 2)
    e_ic, m_ic = response[:32], response[32:]
    if not hmac.compare_digest(retail_mac(k_mac, pad(e_ic)), m_ic):
        raise SecureMessagingError("the chip's authentication MAC does not verify")
    plain = decrypt(k_enc, e_ic)
    if plain[:8] != rnd_ic or plain[8:16] != rnd_ifd:
        raise SecureMessagingError("the chip's authentication answer does not match the challenge")
    k_ic = plain[16:32]
    session_seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
    return SessionKeys.from_seed(session_seed, int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big"))

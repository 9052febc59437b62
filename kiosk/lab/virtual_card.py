"""A software eMRTD: answers the APDUs of an inspection system (EF.CardAccess and PACE when configured,
select the eMRTD application, Basic Access Control unless refused, secure-messaging protected SELECT / READ
BINARY of EF.COM, EF.SOD and the data groups, and INTERNAL AUTHENTICATE for Active Authentication and MSE:Set
KAT for Chip Authentication (ECDH, 3DES) when given their private keys).

It serves the PC/SC reader's tests and demos through ``vpcd`` (Debian's ``vsmartcard-vpcd``, a virtual
reader driver for ``pcscd``): :func:`serve_vpcd` connects to vpcd's socket and plays the card. It is a test
instrument, not a chip: its keys are in memory, its protocols are the reader's own code mirrored."""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
from pathlib import Path

from asn1crypto import core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from kiosk.documents.chip.active_auth import ISO9796_HASHES, aa_hash
from kiosk.documents.chip.chip_auth import CA_ECDH_3DES, chip_side_secret, session_keys
from kiosk.documents.chip.curves import Curve, named_curve
from kiosk.documents.chip.lds import EMRTD_AID, FILE_IDS, parse_dg1_lines
from kiosk.documents.chip.pace import (
    CAN_PASSWORD,
    MRZ_PASSWORD,
    PaceChip,
    Suite,
    can_password,
    card_access,
    mrz_password,
)
from kiosk.documents.chip.secure_messaging import (
    SecureMessagingError,
    SessionKeys,
    bac_key_seed,
    decrypt,
    derive_key,
    encrypt,
    pad,
    retail_mac,
)
from kiosk.documents.chip.signature import HASHES
from kiosk.documents.chip.source import FolderChipSource
from kiosk.documents.chip.tlv import TlvError, encode_tlv, iter_tlv
from kiosk.documents.mrz import check_digit, parse_mrz

ATR = bytes.fromhex("3B80800101")  # PC/SC part 3 ATR of an ISO/IEC 14443-4 card without historical bytes

SW_OK = 0x9000
SW_NOT_FOUND = 0x6A82
SW_SECURITY = 0x6982
SW_SM_OBJECTS = 0x6988
SW_AUTH_FAILED = 0x6300
SW_WRONG_OFFSET = 0x6B00
DEFAULT_PACE = ("0.4.0.127.0.7.2.2.4.2.2", 13)  # id-PACE-ECDH-GM-AES-CBC-CMAC-128 on brainpoolP256r1
AA_KEY_FILE = "aa-key.pem"  # beside a test chip's files: its Active Authentication private key
CA_KEY_FILE = "ca-key.pem"  # and its Chip Authentication private key
SW_INS = 0x6D00
SW_WRONG_DATA = 0x6A80


class SoftwareEmrtd:
    """The card's state machine over a dict of chip files (``EF.COM``, ``DG1`` ..., ``EF.SOD``)."""

    def __init__(
        self,
        files: dict[str, bytes],
        aa_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
        *,
        aa_rsa_hash: str = "sha1",
        ca_key: tuple[Curve, int] | None = None,
        pace: tuple[str, int] | None = None,
        can: str | None = None,
        bac: bool = True,
    ) -> None:
        """``aa_key``: the private key of DG15 (none: INTERNAL AUTHENTICATE is refused); ``aa_rsa_hash``:
        the ISO/IEC 9796-2 hash an RSA key signs with (ECDSA uses the hash DG14 names); ``ca_key``: the
        curve and private value of DG14's Chip Authentication key (none: MSE:Set KAT is refused); ``pace``:
        the PACE protocol OID and standardized parameter id it offers in EF.CardAccess (MRZ password, and
        ``can`` when given); ``bac``: whether it also answers BAC (a German ID card does not)."""
        self._ca_key = ca_key
        self._bac = bac
        self._card_access = None if pace is None else card_access(*pace)
        self.files = {FILE_IDS[name]: data for name, data in files.items()}
        self._aa_key = aa_key
        self._aa_rsa_hash = aa_rsa_hash
        self._aa_ec_hash = aa_hash(files.get("DG14")) or "sha256"
        record = parse_mrz("\n".join(parse_dg1_lines(files["DG1"])))
        self._seed = bac_key_seed(
            record.document_number, record.date_of_birth_raw, record.expiry_date_raw, check_digit
        )
        self._pace = None
        if pace is not None:
            passwords = {
                MRZ_PASSWORD: mrz_password(
                    record.document_number, record.date_of_birth_raw, record.expiry_date_raw
                )
            }
            if can is not None:
                passwords[CAN_PASSWORD] = can_password(can)
            self._pace = PaceChip(passwords, Suite.of(pace[0]), pace[1])
        self.reset()

    def reset(self) -> None:
        self._applet = False
        self._challenge: bytes | None = None
        self._session: SessionKeys | None = None
        self._selected: int | None = None
        self._card_access_selected = False
        self._ca_protocol: bytes | None = None

    def process(self, apdu: bytes) -> bytes:
        """The response APDU (data + status word) for one command APDU."""
        if len(apdu) < 4:
            return _sw(0x6700)
        cla, ins, p1 = apdu[0], apdu[1], apdu[2]
        if cla & 0x0C:
            return self._protected(apdu)
        self._session = None  # an unprotected command ends secure messaging
        data = _command_data(apdu)
        self._card_access_selected &= ins == 0xB0
        if ins == 0xA4 and p1 == 0x02 and data == b"\x01\x1c":  # EF.CardAccess: the one file read in clear
            self._card_access_selected = self._card_access is not None
            return _sw(SW_OK if self._card_access_selected else SW_NOT_FOUND)
        if ins == 0xB0 and self._card_access_selected:
            offset = (p1 << 8) | apdu[3]
            return self._card_access[offset : offset + ((apdu[4] or 256) if len(apdu) == 5 else 256)] + _sw(
                SW_OK
            )
        if self._pace is not None and ins == 0x22 and apdu[2:4] == b"\xc1\xa4":
            return _sw(SW_OK if self._pace.set_at(data) else SW_WRONG_DATA)
        if self._pace is not None and ins == 0x86:
            answer = self._pace.general_authenticate(data)
            if answer is None:
                return _sw(SW_AUTH_FAILED)
            if self._pace.keys is not None:
                self._session = self._pace.keys  # PACE done: secure messaging under its keys
            return answer + _sw(SW_OK)
        if ins == 0xA4 and p1 == 0x04:
            self._applet = data == EMRTD_AID
            return _sw(SW_OK if self._applet else SW_NOT_FOUND)
        if not self._applet:
            return _sw(SW_NOT_FOUND)
        if not self._bac:
            return _sw(SW_INS)
        if ins == 0x84:
            self._challenge = os.urandom(8)
            return self._challenge + _sw(SW_OK)
        if ins == 0x82:
            return self._mutual_authenticate(data)
        return _sw(SW_SECURITY)  # files are only readable under secure messaging

    def _mutual_authenticate(self, data: bytes) -> bytes:
        challenge, self._challenge = self._challenge, None
        k_enc, k_mac = derive_key(self._seed, 1), derive_key(self._seed, 2)
        if challenge is None or len(data) != 40 or retail_mac(k_mac, pad(data[:32])) != data[32:]:
            return _sw(SW_AUTH_FAILED)
        plain = decrypt(k_enc, data[:32])
        rnd_ifd, rnd_ic, k_ifd = plain[:8], plain[8:16], plain[16:32]
        if rnd_ic != challenge:
            return _sw(SW_AUTH_FAILED)
        k_ic = os.urandom(16)
        e_ic = encrypt(k_enc, rnd_ic + rnd_ifd + k_ic)
        seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
        self._session = SessionKeys.from_seed(seed, int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big"))
        return e_ic + retail_mac(k_mac, pad(e_ic)) + _sw(SW_OK)

    def _protected(self, apdu: bytes) -> bytes:
        session = self._session
        if session is None:
            return _sw(SW_SECURITY)
        try:
            header, data, le = session.unwrap_command(apdu)
        except SecureMessagingError:
            self._session = None
            return _sw(SW_SM_OBJECTS)
        ins, p1, p2 = header[1], header[2], header[3]
        if ins == 0xA4 and p1 == 0x04:  # the eMRTD application, selected under PACE's secure messaging
            self._applet = data == EMRTD_AID
            return session.wrap_response(b"", SW_OK if self._applet else SW_NOT_FOUND)
        if ins == 0xA4 and p1 == 0x02:
            fid = int.from_bytes(data, "big") if len(data) == 2 else -1
            self._selected = fid if fid in self.files else None
            return session.wrap_response(b"", SW_OK if self._selected is not None else SW_NOT_FOUND)
        if ins == 0xB0 and not p1 & 0x80:
            if self._selected is None:
                return session.wrap_response(b"", SW_NOT_FOUND)
            content = self.files[self._selected]
            offset = (p1 << 8) | p2
            if offset > len(content):
                return session.wrap_response(b"", SW_WRONG_OFFSET)
            return session.wrap_response(content[offset : offset + (le or 256)], SW_OK)
        if ins == 0x88 and self._aa_key is not None and len(data) == 8:
            return session.wrap_response(self._sign_challenge(data), SW_OK)
        if (ins, p1, p2) == (0x22, 0x41, 0xA6) and self._ca_key is not None:
            try:
                secret = chip_side_secret(*self._ca_key, data)
            except (ValueError, KeyError):
                return session.wrap_response(b"", SW_WRONG_DATA)
            response = session.wrap_response(b"", SW_OK)  # still under the old keys
            self._session = session_keys(CA_ECDH_3DES, secret)  # Chip Authentication: 3DES keys from K
            return response
        if (ins, p1, p2) == (0x22, 0x41, 0xA4) and self._ca_key is not None:
            try:
                self._ca_protocol = {item.tag: item.value for item in iter_tlv(data)}.get(0x80)
            except TlvError:
                return session.wrap_response(b"", SW_WRONG_DATA)
            return session.wrap_response(b"", SW_OK)
        if ins == 0x86 and self._ca_key is not None and self._ca_protocol is not None:
            try:
                protocol = core.ObjectIdentifier.load(encode_tlv(0x06, self._ca_protocol)).dotted
                inner = next(iter(iter_tlv(data))).value
                secret = chip_side_secret(*self._ca_key, encode_tlv(0x91, next(iter(iter_tlv(inner))).value))
            except (ValueError, KeyError, StopIteration, TlvError):
                return session.wrap_response(b"", SW_WRONG_DATA)
            response = session.wrap_response(encode_tlv(0x7C, b""), SW_OK)
            self._session = session_keys(protocol, secret)
            return response
        return session.wrap_response(b"", SW_INS)

    def _sign_challenge(self, challenge: bytes) -> bytes:
        """Active Authentication: ISO/IEC 9796-2 scheme 1 (RSA) or plain ECDSA over the challenge."""
        key = self._aa_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(challenge, ec.ECDSA(HASHES[self._aa_ec_hash]())))
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        numbers = key.private_numbers()
        n = numbers.public_numbers.n
        size = (n.bit_length() + 7) // 8
        hash_name = self._aa_rsa_hash
        codes = {name: code for code, name in ISO9796_HASHES.items()}
        trailer = b"\xbc" if hash_name == "sha1" else bytes([codes[hash_name], 0xCC])
        m1 = os.urandom(size - 1 - hashlib.new(hash_name).digest_size - len(trailer))
        block = b"\x6a" + m1 + hashlib.new(hash_name, m1 + challenge).digest() + trailer
        signature = pow(int.from_bytes(block, "big"), numbers.d, n)
        return min(signature, n - signature).to_bytes(size, "big")


def load_software_chip(folder: Path, *, pace: bool = False) -> SoftwareEmrtd:
    """The software chip of a chip folder written by ``kiosk chip personalise``: its files, and its Active and
    Chip Authentication private keys when the folder holds them (test keys, unencrypted). ``pace``: offer
    PACE (ECDH Generic Mapping, AES-128, brainpoolP256r1) and refuse BAC, as a German ID card."""
    folder = Path(folder)
    keys = {}
    for name in (AA_KEY_FILE, CA_KEY_FILE):
        path = folder / name
        keys[name] = serialization.load_pem_private_key(path.read_bytes(), None) if path.is_file() else None
    ca_key = keys[CA_KEY_FILE]
    ca = None
    if isinstance(ca_key, ec.EllipticCurvePrivateKey):
        ca = (named_curve(ca_key.curve.name), ca_key.private_numbers().private_value)
    offered = DEFAULT_PACE if pace else None
    return SoftwareEmrtd(
        FolderChipSource(folder).read_files(), keys[AA_KEY_FILE], ca_key=ca, pace=offered, bac=not pace
    )


def _command_data(apdu: bytes) -> bytes:
    """The data field of an unprotected command APDU, short (Lc in one byte) or extended (00 + two bytes, as
    PACE with a 2048-bit DH group needs)."""
    if len(apdu) <= 5:
        return b""
    if apdu[4] == 0 and len(apdu) >= 7:
        return apdu[7 : 7 + int.from_bytes(apdu[5:7], "big")]
    return apdu[5 : 5 + apdu[4]]


def _sw(status: int) -> bytes:
    return status.to_bytes(2, "big")


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once (Linux): vpcd sends a message's length and body in two writes, and its Nagle
    algorithm holds the body until the length is acknowledged; a delayed ACK cost ~40 ms per APDU."""
    if hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _receive(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_vpcd(
    card: SoftwareEmrtd, stop: threading.Event, *, host: str = "127.0.0.1", port: int = 35963
) -> None:
    """Play ``card`` in vpcd's virtual reader until ``stop`` is set or vpcd closes the connection.

    vpcd's protocol: each message is a 2-byte big-endian length and a payload; a 1-byte payload is a
    control (0 power off, 1 power on, 2 reset, 4 get ATR), anything longer a command APDU."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.2)
            if not readable:
                continue
            _quick_ack(sock)
            header = _receive(sock, 2)
            _quick_ack(sock)
            payload = None if header is None else _receive(sock, int.from_bytes(header, "big"))
            if payload is None:
                return
            if len(payload) == 1:
                if payload[0] == 4:
                    sock.sendall(len(ATR).to_bytes(2, "big") + ATR)
                else:
                    card.reset()
                continue
            response = card.process(payload)
            sock.sendall(len(response).to_bytes(2, "big") + response)

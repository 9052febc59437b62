"""Reading a chip through a PC/SC reader (``pyscard``): PACE where EF.CardAccess offers it, Basic Access
Control otherwise, then secure messaging, Active and Chip Authentication.

:class:`BacChipReader` holds the protocol over any APDU transport; :class:`PcscChipReader` is that reader on
a PC/SC card connection. The access key comes from the MRZ (printed, OCR-read or typed): document number,
date of birth and date of expiry. Files the chip refuses (e.g. DG3/DG4, protected by Extended Access
Control) or does not have are left out; passive authentication then judges what was read."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kiosk.documents.checks import Check, DocumentError
from kiosk.documents.chip.active_auth import ChallengeResponse
from kiosk.documents.chip.chip_auth import (
    CA_3DES,
    CA_CHECK,
    NO_CHIP_AUTHENTICATION,
    aes_set_at,
    chip_authentication_key,
    key_agreement,
    session_keys,
)
from kiosk.documents.chip.lds import EMRTD_AID, FILE_IDS
from kiosk.documents.chip.pace import MRZ_PASSWORD, PaceError, establish, mrz_password, supported_pace
from kiosk.documents.chip.secure_messaging import (
    SecureMessagingError,
    SessionKeys,
    bac_key_seed,
    mutual_authenticate_command,
    open_authentication_response,
)
from kiosk.documents.chip.source import MAX_FILE_BYTES, ChipSource
from kiosk.documents.chip.tlv import TlvError, encode_tlv, iter_tlv
from kiosk.documents.mrz import MrzRecord, check_digit

DEFAULT_FILES = ("EF.COM", "DG1", "DG2", "DG14", "DG15", "EF.SOD")
_CHUNK = 0xDF  # READ BINARY size that keeps a protected response within a short APDU
_ABSENT = {0x6A82, 0x6982, 0x6A88}  # not found, security status not satisfied, referenced data not found


class ChipAccessError(DocumentError):
    """The chip refused access: Basic Access Control failed (the MRZ does not open this chip)."""

    code = "CHIP_ACCESS_DENIED"


class ChipAbsentError(DocumentError):
    """No chip to read: no PC/SC service or reader, no card on the reader, or a card without an eMRTD
    application (a dead chip answers nothing, so it looks like no card)."""

    code = "CHIP_ABSENT"


class ChipReadError(DocumentError):
    """The chip was opened but its reading did not complete: the card was removed or the reader unplugged
    mid-read, or the reading overran its time budget."""

    code = "CHIP_READ_FAILED"


class ApduTransport(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command APDU; the response data and status word."""


@dataclass(frozen=True)
class BacKey:
    """The MRZ information BAC keys are derived from (dates as YYMMDD, as in the MRZ)."""

    document_number: str
    date_of_birth: str
    expiry_date: str

    @classmethod
    def from_mrz(cls, record: MrzRecord) -> BacKey:
        if not record.document_number or not record.date_of_birth_raw or not record.expiry_date_raw:
            raise ValueError("the MRZ lacks the document number or dates needed for Basic Access Control")
        return cls(record.document_number, record.date_of_birth_raw, record.expiry_date_raw)

    def seed(self) -> bytes:
        return bac_key_seed(self.document_number, self.date_of_birth, self.expiry_date, check_digit)

    def pace_password(self) -> bytes:
        return mrz_password(self.document_number, self.date_of_birth, self.expiry_date)

    def __repr__(self) -> str:  # never print the access key material
        return "BacKey(...)"


class BacChipReader(ChipSource):
    """Open the chip with PACE when its EF.CardAccess offers a supported variant (ECDH Generic Mapping),
    otherwise with BAC; select the eMRTD application and read the files under secure messaging.
    ``access_control`` says which ran."""

    access_control = ""

    def __init__(self, transport: ApduTransport, key: BacKey, files: Sequence[str] = DEFAULT_FILES) -> None:
        self.transport = transport
        self.key = key
        self.file_names = tuple(files)

    def read_files(self) -> dict[str, bytes]:
        session = self._pace()
        if session is None:
            _data, status = self.transport.transmit(bytes.fromhex("00A4040C07") + EMRTD_AID)
            if status != 0x9000:
                raise ChipAbsentError(f"the card has no eMRTD application (status {status:04X})")
            session = self._basic_access_control()
            self.access_control = "BAC"
        else:
            _, status = self._command(session, 0xA4, 0x04, 0x0C, EMRTD_AID)
            if status != 0x9000:
                raise DocumentError(f"the card has no eMRTD application (status {status:04X})")
            self.access_control = "PACE"
        files: dict[str, bytes] = {}
        try:
            for name in self.file_names:
                content = self._read_file(session, FILE_IDS[name])
                if content is not None:
                    files[name] = content
            if "DG15" in files:
                self.active_authentication = self._active_authentication(session)
            if "DG14" in files:
                self.chip_authentication = self._chip_authentication(session, files["DG14"])
        except (SecureMessagingError, TlvError) as exc:
            raise DocumentError(f"reading the chip failed: {exc}") from exc
        if not files:
            raise DocumentError("the chip returned no files")
        return files

    def _pace(self) -> SessionKeys | None:
        """PACE with the MRZ password when EF.CardAccess offers a supported variant; None when it offers none
        (then BAC). A chip that offers PACE and refuses the password raises ChipAccessError."""
        _, status = self.transport.transmit(bytes.fromhex("00A4020C02011C"))
        if status != 0x9000:
            return None
        head, status = self.transport.transmit(bytes.fromhex("00B0000000"))
        try:
            length = _total_length(head) if status in (0x9000, 0x6282) else 0
        except TlvError:
            return None
        content = head
        while len(content) < length <= MAX_FILE_BYTES:
            offset = len(content)
            chunk, status = self.transport.transmit(bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, 0x00]))
            if status not in (0x9000, 0x6282) or not chunk:
                return None
            content += chunk
        offered = supported_pace(content[:length])
        if offered is None:
            return None
        try:
            return establish(self.transport.transmit, self.key.pace_password(), MRZ_PASSWORD, *offered)
        except PaceError as exc:
            raise ChipAccessError(f"PACE failed: {exc}") from exc

    def _active_authentication(self, session: SessionKeys) -> ChallengeResponse:
        """INTERNAL AUTHENTICATE with a fresh 8-byte challenge (verified later against DG15)."""
        challenge = os.urandom(8)
        response, status = self._command(session, 0x88, 0x00, 0x00, challenge, le=0)
        return ChallengeResponse(challenge, response, status)

    def _chip_authentication(self, session: SessionKeys, dg14: bytes) -> Check | None:
        """ECDH or DH with DG14's key (3DES: MSE:Set KAT; AES: MSE:Set AT + GENERAL AUTHENTICATE), then DG14
        read again under the agreed keys: only the chip holding the private key answers under them. None
        when DG14 offers no Chip Authentication."""
        found = chip_authentication_key(dg14)
        if isinstance(found, str):
            return None if found == NO_CHIP_AUTHENTICATION else Check(CA_CHECK, False, found)
        data, secret = key_agreement(found)
        if found.protocol in CA_3DES:
            _, status = self._command(session, 0x22, 0x41, 0xA6, data)
        else:
            _, status = self._command(session, 0x22, 0x41, 0xA4, aes_set_at(found))
            if status == 0x9000:
                point = next(iter(iter_tlv(data))).value  # tag 91's ephemeral point goes in tag 80
                _, status = self._command(
                    session, 0x86, 0x00, 0x00, encode_tlv(0x7C, encode_tlv(0x80, point)), le=0
                )
        if status != 0x9000:
            return Check(CA_CHECK, False, f"the chip refused Chip Authentication (status {status:04X})")
        agreed = session_keys(found.protocol, secret)
        try:
            again = self._read_file(agreed, FILE_IDS["DG14"])
        except (SecureMessagingError, TlvError) as exc:
            return Check(CA_CHECK, False, f"the chip does not answer under the agreed keys ({exc})")
        if again != dg14:
            return Check(CA_CHECK, False, "DG14 read under the agreed keys differs")
        kind = "3DES" if found.protocol in CA_3DES else f"AES-{8 * len(agreed.enc)}"
        agreement = "DH" if found.dh else "ECDH"
        return Check(
            CA_CHECK,
            True,
            f"{agreement} on {found.key.description}, {kind}: the chip answers under the agreed keys",
        )

    def _basic_access_control(self) -> SessionKeys:
        rnd_ic, status = self.transport.transmit(bytes.fromhex("0084000008"))
        if status != 0x9000 or len(rnd_ic) != 8:
            raise DocumentError(f"GET CHALLENGE failed (status {status:04X})")
        rnd_ifd, k_ifd = os.urandom(8), os.urandom(16)
        seed = self.key.seed()
        command = mutual_authenticate_command(seed, rnd_ic, rnd_ifd, k_ifd)
        response, status = self.transport.transmit(bytes.fromhex("0082000028") + command + b"\x28")
        if status != 0x9000:
            raise ChipAccessError(f"Basic Access Control failed (status {status:04X}): check the MRZ")
        try:
            return open_authentication_response(seed, response, rnd_ic, rnd_ifd, k_ifd)
        except SecureMessagingError as exc:
            raise ChipAccessError(f"Basic Access Control failed: {exc}") from exc

    def _command(self, session: SessionKeys, ins: int, p1: int, p2: int, data: bytes = b"", le=None):
        response, status = self.transport.transmit(session.wrap_command(0x00, ins, p1, p2, data, le))
        if not response and status != 0x9000:
            return b"", status  # an unprotected error status
        return session.unwrap_response(response)

    def _read_file(self, session: SessionKeys, fid: int) -> bytes | None:
        _, status = self._command(session, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))
        if status in _ABSENT:
            return None
        if status != 0x9000:
            raise SecureMessagingError(f"SELECT {fid:04X} failed with status {status:04X}")
        head = self._read(session, 0, 6)
        item_length = _total_length(head)
        if item_length > MAX_FILE_BYTES:
            raise SecureMessagingError(f"file {fid:04X} announces {item_length} bytes")
        content = bytearray(head[:item_length])
        while len(content) < item_length:
            chunk = self._read(session, len(content), min(_CHUNK, item_length - len(content)))
            if not chunk:
                raise SecureMessagingError(f"file {fid:04X} ended early")
            content += chunk
        return bytes(content)

    def _read(self, session: SessionKeys, offset: int, length: int) -> bytes:
        if offset > 0x7FFF:
            raise SecureMessagingError("file offset beyond the short READ BINARY range")
        data, status = self._command(session, 0xB0, offset >> 8, offset & 0xFF, le=length)
        if status not in (0x9000, 0x6282):  # 6282: end of file reached before Le bytes
            raise SecureMessagingError(f"READ BINARY failed with status {status:04X}")
        return data


def _total_length(head: bytes) -> int:
    """Length of the whole TLV object whose first bytes are ``head`` (tag, length, start of value)."""
    if len(head) < 2:
        raise TlvError("file too short for a TLV header")
    pos = 1
    if head[0] & 0x1F == 0x1F:
        while pos < len(head) and head[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= len(head):
        raise TlvError("truncated TLV header")
    first = head[pos]
    if first < 0x80:
        return pos + 1 + first
    count = first & 0x7F
    if count == 0 or count > 3 or pos + 1 + count > len(head):
        raise TlvError("unsupported TLV length")
    return pos + 1 + count + int.from_bytes(head[pos + 1 : pos + 1 + count], "big")


class PcscTransport:
    """APDUs over a PC/SC card connection (``pyscard``). ``deadline`` (a ``time.monotonic()`` value): no
    command is sent after it, so a slow chip cannot hold the gate beyond its time budget."""

    def __init__(self, connection, deadline: float | None = None) -> None:
        self.connection = connection
        self.deadline = deadline

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        from smartcard.Exceptions import CardConnectionException

        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ChipReadError("the chip reading overran its time budget")
        try:
            data, sw1, sw2 = self.connection.transmit(list(apdu))
        except CardConnectionException as exc:  # card removed, reader unplugged, pcscd gone
            raise ChipReadError(f"the card connection failed mid-read: {exc}") from exc
        return bytes(data), (sw1 << 8) | sw2


def pcsc_readers(reader_name: str | None = None) -> list:
    """The PC/SC readers whose name contains ``reader_name`` (all when None). ChipAbsentError without
    pyscard or a PC/SC service."""
    try:
        from smartcard.System import readers
    except ImportError as exc:
        raise ChipAbsentError("PC/SC support needs the pyscard package") from exc
    try:
        return [r for r in readers() if reader_name is None or reader_name in str(r)]
    except Exception as exc:  # pyscard raises its own error types when pcscd is not running
        raise ChipAbsentError(f"no PC/SC service: {exc}") from exc


class PcscChipReader(ChipSource):
    """A chip on a PC/SC reader: the first reader whose name contains ``reader_name`` (default: any) that
    holds a card, read as :class:`BacChipReader` does (PACE, else BAC), within ``time_budget_s`` seconds
    (None: no budget). Raises ChipAbsentError (no reader, no card), ChipAccessError (the MRZ does not open
    the chip) or ChipReadError (removed or unplugged mid-read, over budget); ``access_control`` is set once
    the chip is open."""

    access_control = ""

    def __init__(
        self,
        key: BacKey,
        reader_name: str | None = None,
        files: Sequence[str] = DEFAULT_FILES,
        *,
        time_budget_s: float | None = None,
    ) -> None:
        self.key = key
        self.reader_name = reader_name
        self.file_names = tuple(files)
        self.time_budget_s = time_budget_s

    def read_files(self) -> dict[str, bytes]:
        from smartcard.Exceptions import CardConnectionException, NoCardException

        start = time.monotonic()
        deadline = None if self.time_budget_s is None else start + self.time_budget_s
        available = pcsc_readers(self.reader_name)
        for reader in available:
            connection = reader.createConnection()
            try:
                try:
                    connection.connect()
                except (NoCardException, CardConnectionException):
                    continue
                chip = BacChipReader(PcscTransport(connection, deadline), self.key, self.file_names)
                try:
                    return chip.read_files()
                finally:
                    self.active_authentication = chip.active_authentication
                    self.chip_authentication = chip.chip_authentication
                    self.access_control = chip.access_control
            finally:
                # Release the PC/SC context now, not when the connection is garbage collected: while a context
                # whose card was pulled mid-command lives, pcscd does not report the next card on that reader.
                for close in (connection.disconnect, connection.release):
                    with contextlib.suppress(CardConnectionException):  # the card or reader is already gone
                        close()
        raise ChipAbsentError("no card on any PC/SC reader" if available else "no PC/SC reader found")

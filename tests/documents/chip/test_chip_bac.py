"""BAC and secure messaging: the worked example of ICAO Doc 9303 part 11 (appendix D), then a full read of a
software eMRTD through the protocol, and the ways it must refuse."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.documents.checks import DocumentError
from kiosk.documents.chip.pcsc import BacChipReader, BacKey, ChipAccessError
from kiosk.documents.chip.secure_messaging import (
    SecureMessagingError,
    bac_key_seed,
    derive_key,
    mutual_authenticate_command,
    open_authentication_response,
)
from kiosk.documents.chip.tlv import encode_tlv
from kiosk.documents.mrz import check_digit, parse_mrz
from kiosk.lab.personalise import personalise_chip
from kiosk.lab.virtual_card import SoftwareEmrtd

SEED = bytes.fromhex("239AB9CB282DAF66231DC5A4DF6BFBAE")
RND_IC = bytes.fromhex("4608F91988702212")
RND_IFD = bytes.fromhex("781723860C06C226")
K_IFD = bytes.fromhex("0B795240CB7049B01C19B33E32804F0B")
E_IFD_M_IFD = bytes.fromhex(
    "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F25F1448EEA8AD90A7"
)
E_IC_M_IC = bytes.fromhex("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449")


def _no_parity(key: bytes) -> bytes:
    return bytes(b & 0xFE for b in key)


def test_icao_worked_example() -> None:
    assert bac_key_seed("L898902C", "690806", "940623", check_digit) == SEED
    assert _no_parity(derive_key(SEED, 1)) == _no_parity(bytes.fromhex("AB94FDECF2674FDFB9B391F85D7F76F2"))
    assert _no_parity(derive_key(SEED, 2)) == _no_parity(bytes.fromhex("7962D9ECE03D1ACD4C76089DCE131543"))
    assert mutual_authenticate_command(SEED, RND_IC, RND_IFD, K_IFD) == E_IFD_M_IFD
    session = open_authentication_response(SEED, E_IC_M_IC, RND_IC, RND_IFD, K_IFD)
    assert _no_parity(session.enc) == _no_parity(bytes.fromhex("979EC13B1CBFE9DCD01AB0FED307EAE5"))
    assert _no_parity(session.mac) == _no_parity(bytes.fromhex("F1CB1F1FB5ADF208806B89DC579DC1F8"))
    assert session.ssc == 0x887022120C06C226
    select = session.wrap_command(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("011E"))
    assert select == bytes.fromhex("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
    assert session.unwrap_response(bytes.fromhex("990290008E08FA855A5D4C50A8ED")) == (b"", 0x9000)


def test_tampered_authentication_answer_and_response() -> None:
    bad = bytearray(E_IC_M_IC)
    bad[3] ^= 1
    with pytest.raises(SecureMessagingError, match="MAC"):
        open_authentication_response(SEED, bytes(bad), RND_IC, RND_IFD, K_IFD)
    session = open_authentication_response(SEED, E_IC_M_IC, RND_IC, RND_IFD, K_IFD)
    session.wrap_command(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("011E"))
    with pytest.raises(SecureMessagingError, match="MAC"):
        session.unwrap_response(bytes.fromhex("990290008E08FA855A5D4C50A8EE"))


class DirectTransport:
    """APDUs handed straight to the software card (the PC/SC path is tested in test_chip_pcsc)."""

    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card
        self.commands: list[bytes] = []
        self.responses: list[bytes] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.commands.append(apdu)
        response = self.card.process(apdu)
        self.responses.append(response)
        return response[:-2], int.from_bytes(response[-2:], "big")


@pytest.fixture(scope="module")
def chip_files(mrz_lines, portrait, pki) -> dict[str, bytes]:
    return personalise_chip(mrz_lines, portrait, pki.ds)


def test_read_a_software_chip_with_bac(chip_files, mrz_lines) -> None:
    transport = DirectTransport(SoftwareEmrtd(chip_files))
    files = BacChipReader(transport, BacKey.from_mrz(parse_mrz("\n".join(mrz_lines)))).read_files()
    assert files == chip_files
    assert sum(1 for apdu in transport.commands if apdu[0] & 0x0C) > 10  # everything after BAC is protected
    traffic = b"".join(transport.commands + transport.responses)
    assert mrz_lines[1][:20].encode() not in traffic and chip_files["DG2"][-64:] not in traffic  # encrypted
    assert repr(BacKey("X", "000000", "000000")) == "BacKey(...)"


def test_wrong_mrz_is_refused(chip_files) -> None:
    transport = DirectTransport(SoftwareEmrtd(chip_files))
    with pytest.raises(ChipAccessError, match="Basic Access Control failed"):
        BacChipReader(transport, BacKey("SPECI2021", "650310", "310803")).read_files()


def test_files_are_not_readable_without_secure_messaging(chip_files) -> None:
    card = SoftwareEmrtd(chip_files)
    assert card.process(bytes.fromhex("00A4040C07A0000002471001")) == b"\x90\x00"
    assert card.process(bytes.fromhex("00A4020C02011E")) == b"\x69\x82"
    assert card.process(bytes.fromhex("0CB0000004")) == b"\x69\x82"  # protected, but no session


def test_missing_files_are_left_out(chip_files, mrz_lines) -> None:
    partial = {k: v for k, v in chip_files.items() if k != "DG15"}
    transport = DirectTransport(SoftwareEmrtd(partial))
    key = BacKey.from_mrz(parse_mrz("\n".join(mrz_lines)))
    assert BacChipReader(transport, key, ("EF.COM", "DG1", "DG3", "DG15", "EF.SOD")).read_files() == {
        k: partial[k] for k in ("EF.COM", "DG1", "EF.SOD")
    }


def test_not_an_emrtd() -> None:
    class Silent:
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            return b"", 0x6A82

    with pytest.raises(DocumentError, match="no eMRTD application"):
        BacChipReader(Silent(), BacKey("X", "000000", "000000")).read_files()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_protected_responses_from_a_hostile_chip(blob: bytes) -> None:
    session = open_authentication_response(SEED, E_IC_M_IC, RND_IC, RND_IFD, K_IFD)
    for data in (blob, encode_tlv(0x87, blob) + encode_tlv(0x99, b"\x90\x00") + encode_tlv(0x8E, blob[:8])):
        with contextlib.suppress(SecureMessagingError):
            session.unwrap_response(data)
    with contextlib.suppress(SecureMessagingError):
        open_authentication_response(SEED, blob, RND_IC, RND_IFD, K_IFD)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=0, max_size=60), max_size=6))
def test_fuzz_software_card_answers_every_apdu(chip_files, apdus: list[bytes]) -> None:
    card = SoftwareEmrtd(chip_files)
    card.process(bytes.fromhex("00A4040C07A0000002471001"))
    for apdu in apdus:
        response = card.process(apdu)
        assert len(response) >= 2

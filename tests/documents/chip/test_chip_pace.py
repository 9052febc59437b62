"""PACE ECDH Generic Mapping against the ICAO Doc 9303-11 Appendix G.1 worked example (brainpoolP256r1,
AES-128, MRZ password T22000129 / 640812 / 101031): every intermediate value of the terminal side and the
first AES secure-messaging command; both sides with fresh keys agreeing on every cipher suite; and the
reader opening a PACE-only software chip (MRZ and CAN passwords, each suite)."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.documents.chip import read_chip
from kiosk.documents.chip.curves import NAMED_CURVES
from kiosk.documents.chip.pace import (
    CAN_PASSWORD,
    PACE_ECDH_GM,
    PaceError,
    Suite,
    can_password,
    establish,
    map_generator,
    map_integrated,
    mrz_password,
    pseudo_random,
    shared_secret,
)
from kiosk.documents.chip.pcsc import BacChipReader, BacKey, ChipAccessError
from kiosk.documents.chip.secure_messaging import SessionKeys
from kiosk.documents.mrz import parse_mrz
from kiosk.lab.personalise import personalise_chip
from kiosk.lab.virtual_card import SoftwareEmrtd

BP256 = NAMED_CURVES["brainpoolP256r1"]
G1 = {  # Doc 9303-11 Appendix G.1
    "K": "7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD",
    "K_pi": "89DED1B26624EC1E634C1989302849DD",
    "z": "95A3A016522EE98D01E76CB6B98B42C3",
    "s": "3F00C4D39D153F2B2A214A078D899B22",
    "SK_map_IFD": "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99",
    "PK_map_IFD": "047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E"
    "544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D",
    "PK_map_IC": "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57"
    "30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54",
    "H": "0460332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD5"
    "0840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181",
    "G_hat": "048CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2"
    "8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522",
    "SK_DH_IFD": "A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595",
    "PK_DH_IFD": "042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C"
    "3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462",
    "PK_DH_IC": "049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB"
    "7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094",
    "K_shared": "28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925",
    "KS_enc": "F5F0E35C0D7161EE6724EE513A0D9A7F",
    "KS_mac": "FE251C7858B356B24514B3BD5F4297D1",
    "T_IFD": "C2B0BD78D94BA866",
    "T_IC": "3ABB9674BCE93C08",
}
AES_128 = "0.4.0.127.0.7.2.2.4.2.2"


def h(name: str) -> bytes:
    return bytes.fromhex(G1[name])


def test_appendix_g1_terminal_side() -> None:
    suite = Suite.of(AES_128)
    k = mrz_password("T22000129", "640812", "101031")
    assert k == h("K")
    k_pi = suite.kdf(k, 3)
    assert k_pi == h("K_pi")
    s = suite.decrypt_nonce(k_pi, h("z"))
    assert s == h("s") and suite.encrypt_nonce(k_pi, s) == h("z")

    sk_map = int(G1["SK_map_IFD"], 16)
    assert BP256.encode_point(BP256.public_point(sk_map)) == h("PK_map_IFD")
    mapped, point_h = map_generator(BP256, s, sk_map, BP256.decode_point(h("PK_map_IC")))
    assert BP256.encode_point(point_h) == h("H")
    assert BP256.encode_point((mapped.gx, mapped.gy)) == h("G_hat")

    sk_dh = int(G1["SK_DH_IFD"], 16)
    assert mapped.encode_point(mapped.public_point(sk_dh)) == h("PK_DH_IFD")
    secret = shared_secret(mapped, sk_dh, BP256.decode_point(h("PK_DH_IC")))
    assert secret == h("K_shared")
    ks_enc, ks_mac = suite.kdf(secret, 1), suite.kdf(secret, 2)
    assert (ks_enc, ks_mac) == (h("KS_enc"), h("KS_mac"))
    assert suite.token(ks_mac, h("PK_DH_IC")) == h("T_IFD")
    assert suite.token(ks_mac, h("PK_DH_IFD")) == h("T_IC")


@pytest.mark.parametrize("oid", list(PACE_ECDH_GM))
@pytest.mark.parametrize("curve", ["brainpoolP256r1", "secp384r1", "brainpoolP224r1"])
def test_both_sides_agree(oid: str, curve: str) -> None:
    """Terminal and chip with fresh keys (MRZ for AES, CAN for 3DES) derive the same keys and tokens; a
    wrong password gives another generator and tokens that do not verify."""
    base = NAMED_CURVES[curve]
    suite = Suite.of(oid)
    password = (
        can_password("123456") if suite.cipher == "3des" else mrz_password("L898902C", "740812", "120415")
    )
    s = secrets.token_bytes(16 if suite.cipher == "aes" else 8)
    z = suite.encrypt_nonce(suite.kdf(password, 3), s)  # chip

    def run(terminal_password: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        nonce = suite.decrypt_nonce(suite.kdf(terminal_password, 3), z)
        map_t, map_c = (secrets.randbelow(base.n - 1) + 1 for _ in range(2))
        mapped_t, _ = map_generator(base, nonce, map_t, base.public_point(map_c))
        mapped_c, _ = map_generator(base, s, map_c, base.public_point(map_t))
        dh_t, dh_c = (secrets.randbelow(base.n - 1) + 1 for _ in range(2))
        pk_t, pk_c = mapped_t.public_point(dh_t), mapped_c.public_point(dh_c)
        k_t, k_c = shared_secret(mapped_t, dh_t, pk_c), shared_secret(mapped_c, dh_c, pk_t)
        mac_t, mac_c = suite.kdf(k_t, 2), suite.kdf(k_c, 2)
        token_from_terminal = suite.token(mac_t, base.encode_point(pk_c))
        expected_by_chip = suite.token(mac_c, base.encode_point(pk_c))
        return k_t, k_c, token_from_terminal, expected_by_chip

    k_t, k_c, sent, expected = run(password)
    assert k_t == k_c and sent == expected and len(sent) == 8
    k_t, k_c, sent, expected = run(can_password("654321"))
    assert k_t != k_c and sent != expected


def test_unknown_protocol_and_degenerate_points() -> None:
    with pytest.raises(PaceError, match="not supported"):
        Suite.of("0.4.0.127.0.7.2.2.4.4.4")  # Integrated Mapping with AES-256
    mapped, _ = map_generator(BP256, h("s"), 5, BP256.public_point(7))
    with pytest.raises(PaceError, match="generator"):
        shared_secret(mapped, 3, (mapped.gx, mapped.gy))


def test_appendix_g1_aes_secure_messaging() -> None:
    """The first command under the G.1 session keys (SSC 0): SELECT of the eMRTD application."""
    session = SessionKeys(h("KS_enc"), h("KS_mac"), 0, "aes")
    command = session.wrap_command(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("A0000002471001"))
    assert command.hex().upper() == ("0CA4040C1D871101752F676B09FAC86A87D632749A49C7CC8E08C18BA1FCE707BD9F00")
    assert session.unwrap_response(bytes.fromhex("990290008E08BEA7B381C494A079")) == (b"", 0x9000)
    chip = SessionKeys(h("KS_enc"), h("KS_mac"), 0, "aes")
    assert chip.unwrap_command(command) == (bytes.fromhex("00A4040C"), bytes.fromhex("A0000002471001"), None)
    assert chip.wrap_response(b"", 0x9000) == bytes.fromhex("990290008E08BEA7B381C494A0799000")


class DirectTransport:
    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card
        self.commands: list[bytes] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.commands.append(apdu)
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


@pytest.mark.parametrize(
    ("oid", "parameter_id"),
    [
        (AES_128, 13),
        ("0.4.0.127.0.7.2.2.4.2.4", 18),
        ("0.4.0.127.0.7.2.2.4.2.3", 16),
        ("0.4.0.127.0.7.2.2.4.2.1", 12),
    ],
    ids=["aes128-bp256", "aes256-p521", "aes192-bp384", "3des-p256"],
)
def test_read_a_pace_only_chip(oid, parameter_id, pki, trust, mrz_lines, portrait) -> None:
    """PACE first: a chip answering only PACE (as a German ID card) is read under its secure messaging."""
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    card = SoftwareEmrtd(files, pace=(oid, parameter_id), bac=False)
    transport = DirectTransport(card)
    reader = BacChipReader(transport, BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))))
    reading = read_chip(reader, trust)
    assert reader.access_control == "PACE"
    assert reading.passive_auth_passed and reading.dg1.lines == mrz_lines
    assert not any(apdu[1] in (0x84, 0x82) for apdu in transport.commands)  # no BAC attempted


def test_bac_when_the_chip_offers_no_pace(pki, mrz_lines, portrait) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    reader = BacChipReader(
        DirectTransport(SoftwareEmrtd(files)), BacKey.from_mrz(parse_mrz("\n".join(mrz_lines)))
    )
    assert reader.read_files() == files and reader.access_control == "BAC"


def test_wrong_password_and_can(pki, mrz_lines, portrait) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    card = SoftwareEmrtd(files, pace=(AES_128, 13), can="123456", bac=False)
    with pytest.raises(ChipAccessError, match="PACE failed"):
        BacChipReader(DirectTransport(card), BacKey("SPECI2021", "650310", "310803")).read_files()
    suite = Suite.of(AES_128)
    transport = DirectTransport(card)
    transport.transmit(bytes.fromhex("00A4020C02011C"))
    keys = establish(transport.transmit, can_password("123456"), CAN_PASSWORD, suite, 13)
    assert keys.cipher == "aes" and len(keys.enc) == 16
    with pytest.raises(PaceError, match="GENERAL AUTHENTICATE refused"):
        establish(transport.transmit, can_password("123457"), CAN_PASSWORD, suite, 13)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["0022C1A4", "10860000", "00860000", "00B00000", "00A4020C"]),
                          st.binary(max_size=70)), max_size=6))  # fmt: skip
def test_fuzz_a_pace_chip_answers_every_apdu(pace_files, apdus) -> None:
    """The software chip answers malformed PACE commands with a status word, never an exception."""
    card = SoftwareEmrtd(pace_files, pace=(AES_128, 13), bac=False)
    assert card.process(bytes.fromhex("0022C1A40F800A04007F00070202040202830101")) == b"\x90\x00"
    for header, body in apdus:
        response = card.process(bytes.fromhex(header) + bytes([len(body)]) + body)
        assert len(response) >= 2


@pytest.fixture(scope="module")
def pace_files(pki, mrz_lines, portrait) -> dict[str, bytes]:
    return personalise_chip(mrz_lines, portrait, pki.ds)


H1 = {  # Doc 9303-11 Appendix H.1: PACE Integrated Mapping, ECDH (brainpoolP256r1, AES-128)
    "K_pi": "591468CDA83D65219CCCB8560233600F",
    "z": "143DC40C08C8E891FBED7DEDB92B64AD",
    "s": "2923BE84E16CD6AE529049F1F1BBE9EB",
    "t": "5DD4CBFC96F5453B130D890A1CDBAE32",
    "R_mod_p": "A2F8FF2DF50E52C6599F386ADCB595D229F6A167ADE2BE5F2C3296ADD5B7430E",
    "G_hat": "048E82D31559ED0FDE92A4D0498ADD3C23BABA94FB77691E31E90AEA77FB17D427"
    "4C1AE14BD0C3DBAC0C871B7F3608169364437CA30AC243A089D3F266C1E60FAD",
    "SK_DH_IFD": "A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595",
    "PK_DH_IFD": "0489CBA23FFE96AA18D824627C3E934E54A9FD0B87A95D1471DC1C0ABFDCD640D4"
    "6755DE9B7B778280B6BEBD57439ADFEB0E21FD4ED6DF42578C13418A59B34C37",
    "PK_DH_IC": "0467F78E5F7F7686082B293E8D087E056916D0F74BC01A5F8957D0DE45691E51E8"
    "932B69A962B52A0985AD2C0A271EE6A13A8ADDDCD1A3A994B9DED257F4D22753",
    "K": "4F150FDE1D4F0E38E95017B891BAE17133A0DF45B0D3E18B60BA7BEAFDC2C713",
    "KS_enc": "0D3FEB33251A6370893D62AE8DAAF51B",
    "KS_mac": "B01E89E3D9E8719E586B50B4A7506E0B",
    "T_IFD": "450F02B86F6A0909",
    "T_IC": "75D4D96E8D5B0308",
}


def test_appendix_h1_integrated_mapping() -> None:
    def v(name: str) -> bytes:
        return bytes.fromhex(H1[name])

    suite = Suite.of("0.4.0.127.0.7.2.2.4.4.2")
    assert suite.integrated
    s = suite.decrypt_nonce(v("K_pi"), v("z"))
    assert s == v("s")
    assert pseudo_random(s, v("t"), BP256.p) == int(H1["R_mod_p"], 16)
    mapped = map_integrated(BP256, s, v("t"))
    assert BP256.encode_point((mapped.gx, mapped.gy)) == v("G_hat")
    sk = int(H1["SK_DH_IFD"], 16)
    assert mapped.encode_point(mapped.public_point(sk)) == v("PK_DH_IFD")
    secret = shared_secret(mapped, sk, BP256.decode_point(v("PK_DH_IC")))
    assert secret == v("K")
    ks_mac = suite.kdf(secret, 2)
    assert (suite.kdf(secret, 1), ks_mac) == (v("KS_enc"), v("KS_mac"))
    assert suite.token(ks_mac, v("PK_DH_IC")) == v("T_IFD")
    assert suite.token(ks_mac, v("PK_DH_IFD")) == v("T_IC")


def test_read_a_chip_with_integrated_mapping(pki, trust, mrz_lines, portrait) -> None:
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    card = SoftwareEmrtd(files, pace=("0.4.0.127.0.7.2.2.4.4.2", 13), bac=False)
    reader = BacChipReader(DirectTransport(card), BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))))
    reading = read_chip(reader, trust)
    assert reader.access_control == "PACE" and reading.passive_auth_passed

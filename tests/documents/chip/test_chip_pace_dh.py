"""PACE DH Generic Mapping against the ICAO Doc 9303-11 Appendix G.2 worked example (the 1024-bit MODP group
with 160-bit subgroup of RFC 5114, parameter id 0; AES-128; the G.1 MRZ password), then both sides on every
DH group and cipher suite, and the reader opening a DH-PACE-only software chip. The G.2 values are as
published in the Doc 9303-11 worked example (also reproduced in the zienit icao_examples tests)."""

from __future__ import annotations

import pytest

from kiosk.documents.chip import read_chip
from kiosk.documents.chip.dh import DH_GROUPS, DhError
from kiosk.documents.chip.pace import (
    PACE_DH_GM,
    PaceError,
    Suite,
    mrz_password,
    shared_secret,
    supported_pace,
)
from kiosk.documents.chip.pcsc import BacChipReader, BacKey, ChipAccessError
from kiosk.documents.mrz import parse_mrz
from kiosk.lab.personalise import personalise_chip
from kiosk.lab.virtual_card import SoftwareEmrtd, card_access

G2 = {  # Doc 9303-11 Appendix G.2 (DH based example)
    "K_pi": "89DED1B26624EC1E634C1989302849DD",
    "z": "854D8DF5827FA6852D1A4FA701CDDDCA",
    "s": "FA5B7E3E49753A0DB9178B7B9BD898C8",
    "SK_map_IFD": "5265030F751F4AD18B08AC565FC7AC952E41618D",
    "PK_map_IFD": "23FB3749EA030D2A25B278D2A562047ADE3F01B74F17A15402CB7352CA7D2B3EB71C343DB13D1DEBCE9A3666"
    "DBCFC920B49174A602CB47965CAA73DC702489A44D41DB914DE9613DC5E98C94160551C0DF86274B9359BC0490D01B03AD54022D"
    "CB4F57FAD6322497D7A1E28D46710F461AFE710FBBBC5F8BA166F4311975EC6C",
    "PK_map_IC": "78879F57225AA8080D52ED0FC890A4B25336F699AA89A2D3A189654AF70729E623EA5738B26381E4DA19E004"
    "706FACE7B235C2DBF2F38748312F3C98C2DD4882A41947B324AA1259AC22579DB93F7085655AF30889DBB845D9E6783FE42C9F24"
    "49400306254C8AE8EE9DD812A804C0B66E8CAFC14F84D8258950A91B44126EE6",
    "H": "5BABEBEF5B74E5BA94B5C063FDA15F1F1CDE94873EE0A5D3A2FCAB49F258D07F544F13CB66658C3AFEE9E727389BE3F6"
    "CBBBD32128A8C21DD6EEA3CF7091CDDFB08B8D007D40318DCCA4FFBF51208790FB4BD111E5A968ED6B6F08B26CA87C410B3CE0C3"
    "10CE104EABD16629AA48620C1279270CB0750C0D37C57FFFE302AE7F",
    "G_hat": "7C9CBFE98F9FBDDA8D143506FA7D9306F4CB17E3C71707AFF5E1C1A12370249684D64EE37AF44B8DBD9D45BF"
    "6023919CBAA027AB97ACC771666C8E98FF483301BFA4872DEDE9034EDFACB70814166B7F360676829B826BEA57291B5AD69FBC84"
    "EF1E779032A305803F74341793E869742D401325B37EE8565FFCDEE618342DC5",
    "SK_DH_IFD": "89CCD99B0E8D3B1F11E1296DCA68EC53411CF2CA",
    "PK_DH_IFD": "907D89E2D425A178AA81AF4A7774EC8E388C115CAE67031E85EECE520BD911551B9AE4D04369F29A02626C86"
    "FBC6747CC7BC352645B6161A2A42D44EDA80A08FA8D61B76D3A154AD8A5A51786B0BC07147057871A922212C5F67F43173172236"
    "B7747D1671E6D692A3C7D40A0C3C5CE397545D015C175EB5130551EDBC2EE5D4",
    "PK_DH_IC": "075693D9AE941877573E634B6E644F8E60AF17A0076B8B123D9201074D36152BD8B3A213F53820C42ADC79AB"
    "5D0AEEC3AEFB91394DA476BD97B9B14D0A65C1FC71A0E019CB08AF55E1F729005FBA7E3FA5DC41899238A250767A6D46DB974064"
    "386CD456743585F8E5D90CC8B4004B1F6D866C79CE0584E49687FF61BC29AEA1",
    "K_shared": "6BABC7B3A72BCD7EA385E4C62DB2625BD8613B24149E146A629311C4CA6698E38B834B6A9E9CD7184BA8834A"
    "FF5043D436950C4C1E7832367C10CB8C314D40E5990B0DF7013E64B4549E2270923D06F08CFF6BD3E977DDE6ABE4C31D55C0FA2E"
    "465E553E77BDF75E3193D3834FC26E8EB1EE2FA1E4FC97C18C3F6CFFFE2607FD",
    "KS_enc": "2F7F46ADCC9E7E521B45D192FAFA9126",
    "KS_mac": "805A1D27D45A5116F73C54469462B7D8",
    "T_IFD": "B46DD9BD4D98381F",
    "T_IC": "917F37B5C0E6D8D1",
}
DH_AES_128 = "0.4.0.127.0.7.2.2.4.1.2"


def h(name: str) -> bytes:
    return bytes.fromhex(G2[name])


def test_appendix_g2_terminal_side() -> None:
    suite = Suite.of(DH_AES_128)
    group = suite.domain(0)
    k_pi = suite.kdf(mrz_password("T22000129", "640812", "101031"), 3)
    assert k_pi == h("K_pi")
    s = suite.decrypt_nonce(k_pi, h("z"))
    assert s == h("s")

    sk_map = int(G2["SK_map_IFD"], 16)
    assert group.encode_point(group.public_point(sk_map)) == h("PK_map_IFD")
    mapped, point_h = group.map_generator(s, sk_map, group.decode_point(h("PK_map_IC")))
    assert group.encode_point(point_h) == h("H")
    assert group.encode_point(mapped.g) == h("G_hat")

    sk_dh = int(G2["SK_DH_IFD"], 16)
    assert mapped.encode_point(mapped.public_point(sk_dh)) == h("PK_DH_IFD")
    secret = shared_secret(mapped, sk_dh, mapped.decode_point(h("PK_DH_IC")))
    assert secret == h("K_shared")
    assert (suite.kdf(secret, 1), suite.kdf(secret, 2)) == (h("KS_enc"), h("KS_mac"))
    assert suite.token(h("KS_mac"), h("PK_DH_IC")) == h("T_IFD")
    assert suite.token(h("KS_mac"), h("PK_DH_IFD")) == h("T_IC")


@pytest.mark.parametrize("parameter_id", sorted(DH_GROUPS))
def test_groups_are_prime_order_subgroups(parameter_id: int) -> None:
    group = DH_GROUPS[parameter_id]
    assert pow(group.g, group.q, group.p) == 1 and (group.p - 1) % group.q == 0
    assert group.size * 8 == group.p.bit_length()


def test_values_outside_the_subgroup_are_refused() -> None:
    group = DH_GROUPS[0]
    for bad in (0, 1, group.p - 1, group.p):
        with pytest.raises(DhError):
            group.decode_point(bad.to_bytes(group.size + 1, "big"))
    outside = next(y for y in range(2, 100) if pow(y, group.q, group.p) != 1)  # not of order q
    with pytest.raises(DhError, match="subgroup"):
        group.decode_point(group.encode_point(outside))
    with pytest.raises(PaceError, match="DH group"):
        Suite.of(DH_AES_128).domain(13)  # an EC parameter id under a DH suite


def test_card_access_offering_dh_is_understood() -> None:
    suite, parameter_id = supported_pace(card_access(DH_AES_128, 2))
    assert suite.dh and parameter_id == 2
    assert supported_pace(card_access(DH_AES_128, 13)) is None  # no such DH group: BAC, not a wrong guess


class DirectTransport:
    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


@pytest.mark.parametrize("oid", list(PACE_DH_GM))
@pytest.mark.parametrize("parameter_id", sorted(DH_GROUPS))
def test_read_a_dh_pace_only_chip(oid, parameter_id, pki, trust, mrz_lines, portrait) -> None:
    """Each DH group with each cipher suite: the reader opens a chip offering only DH PACE and reads it."""
    files = personalise_chip(mrz_lines, portrait, pki.ds)
    card = SoftwareEmrtd(files, pace=(oid, parameter_id), bac=False)
    reader = BacChipReader(DirectTransport(card), BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))))
    reading = read_chip(reader, trust)
    assert reader.access_control == "PACE"
    assert reading.passive_auth_passed and reading.dg1.lines == mrz_lines


def test_dh_pace_with_a_wrong_mrz_is_refused(pki, mrz_lines, portrait) -> None:
    card = SoftwareEmrtd(personalise_chip(mrz_lines, portrait, pki.ds), pace=(DH_AES_128, 1), bac=False)
    reader = BacChipReader(DirectTransport(card), BacKey("SPECI2021", "650310", "310803"))
    with pytest.raises(ChipAccessError, match="PACE failed"):
        reader.read_files()

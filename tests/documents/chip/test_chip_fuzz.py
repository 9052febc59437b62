"""Fuzzing the ASN.1 / TLV parsing with hypothesis: whatever the bytes, the chip code answers with a named
failure (a failed check, or TlvError / TrustStoreError), never another exception or a hang."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.documents.chip import TrustStore, TrustStoreError
from kiosk.documents.chip.lds import parse_dg1_lines, parse_dg14, parse_dg15, parse_ef_com
from kiosk.documents.chip.passive_auth import passive_authentication
from kiosk.documents.chip.sod import SodError, parse_sod
from kiosk.documents.chip.tlv import TlvError, encode_tlv
from kiosk.lab.personalise import (
    create_csca,
    create_document_signer,
    create_master_list,
    personalise_chip,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def chip(pki, mrz_lines, portrait) -> dict[str, bytes]:
    return personalise_chip(mrz_lines, portrait, pki.ds)


def _groups(files: dict[str, bytes]) -> dict[int, bytes]:
    return {int(name[2:]): data for name, data in files.items() if name.startswith("DG")}


def _verify(sod_bytes: bytes, groups: dict[int, bytes], trust: TrustStore) -> list:
    try:
        sod = parse_sod(sod_bytes)
    except SodError as exc:
        return passive_authentication(groups, None, trust, at=NOW, sod_problem=str(exc))
    return passive_authentication(groups, sod, trust, at=NOW)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_as_sod(blob: bytes) -> None:
    for data in (blob, encode_tlv(0x77, blob)):
        with pytest.raises(SodError):
            parse_sod(data)


@FUZZ
@given(data=st.data())
def test_mutated_sod_gives_named_failures(chip, trust, data: st.DataObject) -> None:
    original = chip["EF.SOD"]
    sod = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3))):
        sod[data.draw(st.integers(0, len(sod) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(sod))))
    mutated = bytes(sod if cut is None else sod[:cut])
    checks = _verify(mutated, _groups(chip), trust)
    assert checks and all(check.name.startswith(("chip.pa.", "chip.sod.deviation.")) for check in checks)
    econtent = parse_sod(original).econtent
    start = original.index(econtent)
    signed_region = set(range(start, start + len(econtent))) | set(range(len(original) - 64, len(original)))
    changed = {i for i in range(min(len(mutated), len(original))) if mutated[i] != original[i]}
    if changed & signed_region or len(mutated) != len(original):
        assert not all(check.passed for check in checks)


@FUZZ
@given(data=st.data())
def test_mutated_data_groups(chip, trust, data: st.DataObject) -> None:
    groups = _groups(chip)
    number = data.draw(st.sampled_from(sorted(groups)))
    group = bytearray(groups[number])
    position = data.draw(st.integers(0, len(group) - 1))
    group[position] ^= data.draw(st.integers(1, 255))
    groups[number] = bytes(group)
    failed = {check.name for check in _verify(chip["EF.SOD"], groups, trust) if not check.passed}
    assert failed == {f"chip.pa.dg{number}_hash"}


@FUZZ
@given(st.binary(max_size=200))
def test_lds_parsers_on_random_bytes(blob: bytes) -> None:
    for parse, tag in ((parse_ef_com, 0x60), (parse_dg1_lines, 0x61), (parse_dg14, 0x6E), (parse_dg15, 0x6F)):
        for data in (blob, encode_tlv(tag, blob)):
            with contextlib.suppress(TlvError):
                parse(data)


@pytest.fixture(scope="module")
def trust_files(pki) -> dict[str, bytes]:
    csca = create_csca("DE")
    return {
        "cer": pki.csca.der,
        "crl": pki.crl,
        "ml": create_master_list([csca], create_document_signer(csca)),
    }


@FUZZ
@given(data=st.data())
def test_mutated_trust_files(tmp_path_factory, trust_files, data: st.DataObject) -> None:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    kind = data.draw(st.sampled_from(sorted(trust_files)))
    blob = bytearray(trust_files[kind])
    for _ in range(data.draw(st.integers(1, 3))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    (folder / f"x.{kind}").write_bytes(bytes(blob[:cut]))
    with contextlib.suppress(TrustStoreError):
        TrustStore.from_folder(folder)

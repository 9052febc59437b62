"""``kiosk trust import/list/check``: what an operator does with the trust material states publish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.documents.chip import TrustStore, TrustStoreError, read_chip
from kiosk.documents.chip.source import write_chip_folder
from kiosk.documents.chip.trust_cli import trust
from kiosk.lab.personalise import (
    CertificateEncoding,
    create_crl,
    create_csca,
    create_document_signer,
    create_master_list,
    personalise_chip,
)


@pytest.fixture(scope="module")
def german():
    """A brainpool, explicit-parameter publishing CSCA and its master-list signer."""
    explicit = CertificateEncoding(explicit=True, hash_algorithm="sha384")
    csca = create_csca("DE", curve="brainpoolP384r1", encoding=explicit, common_name="CSCA-GERMANY")
    return csca, create_document_signer(csca, curve="brainpoolP256r1", encoding=explicit)


def test_import_list_check(tmp_path: Path, german, pki, mrz_lines, portrait) -> None:
    csca, signer = german
    listed = tmp_path / "de.ml"
    listed.write_bytes(create_master_list([csca, pki.csca, b"\x30\x03\x02\x01\x01"], signer))
    folder = tmp_path / "trust"
    runner = CliRunner()
    result = runner.invoke(trust, ["import", str(listed), str(folder)])
    assert result.exit_code == 0, result.output
    assert "2 added, 0 already present, 1 skipped" in result.output
    assert "skipped: " in result.output and "de.ml entry" in result.output
    assert sorted(p.name[:3] for p in folder.iterdir()) == ["DE-", "NL-"]
    again = runner.invoke(trust, ["import", str(listed), str(folder)])
    assert "0 added, 2 already present" in again.output

    crl = tmp_path / "nl.crl"
    crl.write_bytes(pki.crl)
    assert runner.invoke(trust, ["import", str(crl), str(folder)]).exit_code == 0
    assert len(list(folder.glob("*.crl"))) == 1

    rows = [
        json.loads(line) for line in runner.invoke(trust, ["list", str(folder), "--json"]).output.splitlines()
    ]
    assert [row["country"] for row in rows] == ["DE", "NL"]
    assert rows[0]["key"] == "EC brainpoolP384r1 (explicit parameters)"
    assert rows[1]["key"] == "EC secp256r1"

    checked = runner.invoke(trust, ["check", str(folder)])
    assert checked.exit_code == 0 and "2 CSCA(s), 1 CRL(s), 0 problem(s)" in checked.output
    later = runner.invoke(trust, ["check", str(folder), "--at", "2099-01-01"])
    assert later.exit_code == 1 and "expired" in later.output and "not current" in later.output

    write_chip_folder(tmp_path / "chip", personalise_chip(mrz_lines, portrait, pki.ds))
    assert read_chip(tmp_path / "chip", TrustStore.from_folder(folder)).passive_auth_passed


def test_import_refuses_what_does_not_verify(tmp_path: Path, german, pki) -> None:
    csca, signer = german
    folder = tmp_path / "trust"
    runner = CliRunner()
    stranger = create_csca("XX", common_name="Stranger")
    foreign = tmp_path / "foreign.ml"
    foreign.write_bytes(create_master_list([pki.csca], create_document_signer(stranger)))
    result = runner.invoke(trust, ["import", str(foreign), str(folder)])
    assert isinstance(result.exception, TrustStoreError) and "not issued by a trusted CSCA" in str(
        result.exception
    )
    assert not list(folder.glob("*"))
    # with the publisher's CSCA as anchor, a list that does not contain it is accepted
    anchors = tmp_path / "anchors"
    assert runner.invoke(trust, ["import", str(tmp_path / "x.cer"), str(anchors)]).exit_code != 0
    (tmp_path / "de.cer").write_bytes(csca.der)
    assert runner.invoke(trust, ["import", str(tmp_path / "de.cer"), str(anchors)]).exit_code == 0
    only_nl = tmp_path / "only-nl.ml"
    only_nl.write_bytes(create_master_list([pki.csca], signer))
    result = runner.invoke(trust, ["import", str(only_nl), str(folder), "--anchors", str(anchors)])
    assert result.exit_code == 0 and "1 added" in result.output
    forged = tmp_path / "forged.crl"
    forged.write_bytes(create_crl(stranger, issuer_name=pki.csca.certificate.subject))
    result = runner.invoke(trust, ["import", str(forged), str(folder)])
    assert isinstance(result.exception, TrustStoreError) and "not signed by a CSCA" in str(result.exception)
    assert not list(folder.glob("*.crl"))


def test_check_reports_skipped_files_and_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "broken.cer").write_bytes(b"junk")
    result = CliRunner().invoke(trust, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "no usable CSCA certificate" in result.output and "broken.cer" in result.output

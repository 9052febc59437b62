from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from kiosk.cli import chip
from kiosk.documents.chip import TrustStore, read_chip


def test_pki_personalise_and_read(tmp_path: Path, mrz_lines, portrait) -> None:
    runner = CliRunner()
    face = tmp_path / "face.png"
    Image.fromarray(portrait[:, :, ::-1]).save(face)
    result = runner.invoke(chip, ["pki", str(tmp_path / "pki"), "--algorithm", "ecdsa", "--country", "NL"])
    assert result.exit_code == 0, result.output
    assert (
        tmp_path / "pki" / "signer" / "ds.key"
    ).stat().st_mode & 0o077 == 0  # private key not world-readable
    mrz = r"\n".join(mrz_lines)
    common = ["--mrz", mrz, "--portrait", str(face), "--signer", str(tmp_path / "pki")]
    result = runner.invoke(
        chip, ["personalise", str(tmp_path / "good"), *common, "--image-format", "jpeg2000"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(chip, ["personalise", str(tmp_path / "bad"), *common, "--tamper", "sod_signature"])
    assert result.exit_code == 0, result.output
    for key in ("aa-key.pem", "ca-key.pem"):  # the chip's keys, for serve: not world-readable
        assert (tmp_path / "good" / key).stat().st_mode & 0o077 == 0
    trust = TrustStore.from_folder(tmp_path / "pki" / "trust")
    good = read_chip(tmp_path / "good", trust)
    assert good.valid and good.face.image_format == "jpeg2000"
    assert not read_chip(tmp_path / "bad", trust).check("chip.pa.sod_signature").passed


def test_bad_mrz_and_missing_signer(tmp_path: Path, portrait) -> None:
    face = tmp_path / "face.png"
    Image.fromarray(portrait[:, :, ::-1]).save(face)
    runner = CliRunner()
    args = ["personalise", str(tmp_path / "x"), "--mrz", "nonsense", "--portrait", str(face)]
    result = runner.invoke(chip, [*args, "--signer", str(tmp_path)])
    assert result.exit_code == 2 and "not an MRZ" in result.output
    for command in ("pki", "personalise", "dump", "serve", "bench"):
        assert runner.invoke(chip, [command, "--help"]).exit_code == 0


def test_served_chip_does_active_and_chip_authentication(tmp_path: Path, mrz_lines, portrait) -> None:
    """What 'kiosk chip serve --pace' plays (load_software_chip), read as a live chip: PACE, AA and CA."""
    from kiosk.documents.chip.pcsc import BacChipReader, BacKey
    from kiosk.documents.mrz import parse_mrz
    from kiosk.lab.virtual_card import load_software_chip

    runner = CliRunner()
    face = tmp_path / "face.png"
    Image.fromarray(portrait[:, :, ::-1]).save(face)
    assert runner.invoke(chip, ["pki", str(tmp_path / "pki")]).exit_code == 0
    mrz = r"\n".join(mrz_lines)
    args = [
        "personalise",
        str(tmp_path / "c"),
        "--mrz",
        mrz,
        "--portrait",
        str(face),
        "--signer",
        str(tmp_path / "pki"),
    ]
    assert runner.invoke(chip, args).exit_code == 0
    card = load_software_chip(tmp_path / "c", pace=True)

    class Direct:
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            response = card.process(apdu)
            return response[:-2], int.from_bytes(response[-2:], "big")

    reader = BacChipReader(Direct(), BacKey.from_mrz(parse_mrz("\n".join(mrz_lines))))
    reading = read_chip(reader, TrustStore.from_folder(tmp_path / "pki" / "trust"))
    assert reading.valid, reading.as_dict()["check_details"]
    assert reading.check("chip.aa.signature").passed and reading.check("chip.ca.key_agreement").passed
    assert reader.access_control == "PACE"


def test_bench_reads_and_verifies_with_bac_and_pace() -> None:
    result = CliRunner().invoke(chip, ["bench", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "BAC" in result.output and "PACE" in result.output
    assert int(result.output.split("DG2 ")[1].split(" bytes")[0]) > 15000  # a realistic DG2 was read

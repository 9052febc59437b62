"""Fixtures for the chip tests: a test PKI per signature algorithm, an MRZ, a portrait, a trust folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from kiosk.documents.chip.trust import TrustStore
from kiosk.documents.mrz import compose_mrz
from kiosk.lab.personalise import Pki, create_pki, write_trust_folder


@pytest.fixture(scope="session")
def mrz_lines() -> tuple[str, ...]:
    text = compose_mrz(
        "TD3",
        document_code="P",
        issuing_state="NLD",
        surname="DE BRUIJN",
        given_names="WILLEKE LISELOTTE",
        document_number="SPECI2021",
        nationality="NLD",
        date_of_birth=dt.date(1965, 3, 10),
        sex="F",
        expiry_date=dt.date(2031, 8, 2),
    )
    return tuple(text.splitlines())


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    """A real face (NASA astronaut image bundled with scikit-image, public domain) as a BGR chip portrait."""
    return np.ascontiguousarray(data.astronaut()[10:230, 140:320, ::-1])


@pytest.fixture(scope="session")
def pki() -> Pki:
    return create_pki("NL", algorithm="ecdsa")


@pytest.fixture(scope="session")
def rsa_pki() -> Pki:
    return create_pki("NL", algorithm="rsa")


@pytest.fixture(scope="session")
def pss_pki() -> Pki:
    return create_pki("NL", algorithm="rsa-pss")


@pytest.fixture(scope="session")
def plain_pki() -> Pki:
    return create_pki("NL", algorithm="ecdsa-plain")


@pytest.fixture(scope="session")
def trust(
    pki: Pki, rsa_pki: Pki, pss_pki: Pki, plain_pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> TrustStore:
    folder = tmp_path_factory.mktemp("trust")
    pkis = (pki, rsa_pki, pss_pki, plain_pki)
    write_trust_folder(folder, [p.csca.certificate for p in pkis], [p.crl for p in pkis])
    return TrustStore.from_folder(folder)


@pytest.fixture
def chip_dir(tmp_path: Path) -> Path:
    return tmp_path / "chip"

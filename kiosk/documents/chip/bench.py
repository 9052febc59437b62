"""``kiosk chip bench``: how long opening and verifying a chip takes, on a software chip in process (no
reader latency): PACE or BAC, EF.COM, DG1, a ~20 KB DG2, DG14, DG15, EF.SOD, then passive, Active and Chip
Authentication and the portrait decoded, as ``read_chip`` does at the gate."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import numpy as np
from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.documents.chip.certificates import load_certificate
from kiosk.documents.chip.curves import named_curve
from kiosk.documents.chip.pcsc import BacChipReader, BacKey
from kiosk.documents.chip.personalise import EcKey, create_pki, personalise_chip
from kiosk.documents.chip.reading import read_chip
from kiosk.documents.chip.trust import TrustStore
from kiosk.documents.chip.virtual_card import DEFAULT_PACE, SoftwareEmrtd
from kiosk.documents.mrz import compose_mrz, parse_mrz


class _Direct:
    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


def bench_chip_read(repeats: int = 10) -> dict[str, float | int]:
    """Median and worst milliseconds of a full chip read and verification with BAC and with PACE, over
    ``repeats`` reads each, and the DG2 size. Raises RuntimeError if a reading does not verify."""
    from skimage.data import astronaut

    text = compose_mrz("TD3", document_code="P", issuing_state="NLD", surname="BENCH", given_names="CHIP",
                       document_number="BENCH1234", nationality="NLD", date_of_birth=dt.date(1980, 1, 1),
                       sex="F", expiry_date=dt.date(2034, 1, 1))  # fmt: skip
    lines = tuple(text.splitlines())
    portrait = np.ascontiguousarray(astronaut()[0:340, 110:370, ::-1])
    pki = create_pki("NL")
    trust = TrustStore((load_certificate(pki.csca.der),))
    aa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ca_key = EcKey.generate(named_curve("brainpoolP256r1"))
    files = personalise_chip(lines, portrait, pki.ds, aa_key=aa_key, ca_key=ca_key)
    key = BacKey.from_mrz(parse_mrz(text))
    result: dict[str, float | int] = {"dg2_bytes": len(files["DG2"]), "repeats": repeats}
    for access in ("bac", "pace"):
        pace = DEFAULT_PACE if access == "pace" else None
        card = SoftwareEmrtd(
            files, aa_key, ca_key=(ca_key.curve, ca_key.private), pace=pace, bac=pace is None
        )
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            reading = read_chip(BacChipReader(_Direct(card), key), trust)
            times.append(time.perf_counter() - start)
            if not reading.valid:
                raise RuntimeError(
                    f"the benchmark chip did not verify ({access}): {reading.as_dict()['checks']}"
                )
        result[f"{access}_median_ms"] = round(statistics.median(times) * 1000, 1)
        result[f"{access}_max_ms"] = round(max(times) * 1000, 1)
    return result

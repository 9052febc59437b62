"""``kiosk chip bench``: how long opening and verifying a chip takes: PACE or BAC, EF.COM, DG1, a ~20 KB DG2,
DG14, DG15, EF.SOD, then passive, Active and Chip Authentication and the portrait decoded, as ``read_chip``
does at the gate. On a software chip in process (no reader latency), or with ``vpcd=True`` through the
PC/SC stack the gate uses (pyscard -> pcscd -> vpcd's virtual reader -> the software chip on its socket)."""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time

import numpy as np
from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.documents.chip.certificates import load_certificate
from kiosk.documents.chip.curves import named_curve
from kiosk.documents.chip.pcsc import BacChipReader, BacKey, PcscChipReader
from kiosk.documents.chip.reading import read_chip
from kiosk.documents.chip.source import ChipSource
from kiosk.documents.chip.trust import TrustStore
from kiosk.documents.mrz import compose_mrz, parse_mrz
from kiosk.lab.personalise import EcKey, create_pki, personalise_chip
from kiosk.lab.virtual_card import DEFAULT_PACE, SoftwareEmrtd, serve_vpcd


class _Direct:
    def __init__(self, card: SoftwareEmrtd) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


def bench_chip_read(repeats: int = 10, *, vpcd: str | None = None) -> dict[str, float | int]:
    """Median, 95th percentile and worst milliseconds of a full chip read and verification with BAC and with
    PACE, over ``repeats`` reads each, and the DG2 size. ``vpcd``: the name of vpcd's virtual reader (e.g.
    ``Virtual PCD 00 00``) to read through pcscd instead of in process. Raises RuntimeError if a reading
    does not verify or the virtual reader never shows the card."""
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
        stop = threading.Event()
        if vpcd is not None:
            threading.Thread(target=serve_vpcd, args=(card, stop), daemon=True).start()
        try:
            times = []
            for _ in range(repeats):
                reader: ChipSource = (
                    BacChipReader(_Direct(card), key) if vpcd is None else _card_on(vpcd, key)
                )
                start = time.perf_counter()
                reading = read_chip(reader, trust)
                times.append(time.perf_counter() - start)
                if not reading.valid:
                    raise RuntimeError(
                        f"the benchmark chip did not verify ({access}): {reading.as_dict()['checks']}"
                    )
        finally:
            stop.set()
        if vpcd is not None:
            time.sleep(1)  # let vpcd see the card go before the next one is inserted
        ordered = sorted(times)
        result[f"{access}_median_ms"] = round(statistics.median(times) * 1000, 1)
        result[f"{access}_p95_ms"] = round(
            ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000, 1
        )
        result[f"{access}_max_ms"] = round(max(times) * 1000, 1)
    return result


def _card_on(reader_name: str, key: BacKey, timeout_s: float = 10.0) -> PcscChipReader:
    """The PC/SC reader of the card once vpcd shows it (it polls every few hundred milliseconds)."""
    from smartcard.System import readers

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        connection = next(r for r in readers() if str(r) == reader_name).createConnection()
        try:
            connection.connect()
            return PcscChipReader(key, reader_name)
        except Exception:  # NoCardException until vpcd has seen the card
            time.sleep(0.1)
        finally:
            connection.release()
    raise RuntimeError(f"no card appeared on {reader_name}")

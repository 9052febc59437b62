"""What the service serves besides ingest: signed files for kiosks (watchlist bundles, chip trust lists) as
they are, the configuration version, and the reads behind roles (open cases across gates, resolutions,
statistics, chain states)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from upstream_helpers import Tls, new_kiosk

from kiosk.store import DecisionLog
from kiosk.sync.client import SyncClient
from kiosk.sync.protocol import sign_request
from kiosk.upstream.app import ServiceOptions
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.enrol import enrol
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key, load_signing_key


@pytest.fixture
def served(db: UpstreamDB, tls: Tls, tmp_path: Path) -> Iterator[ServiceThread]:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "bundles" / "wanted.bundle").write_bytes(b"EGATE-WATCHLIST-BUNDLE\x001 signed bytes")
    (tmp_path / "bundles" / "notes.txt").write_text("not served")
    (tmp_path / "trust").mkdir()
    for name in ("UTO.ml", "UTO.crl", "csca.pem"):
        (tmp_path / "trust" / name).write_bytes(name.encode())
    options = ServiceOptions(tmp_path / "bundles", tmp_path / "trust", config_version="2026-12-01.3")
    server = ServiceThread(db, tls.cert, tls.key, options=options).start()
    yield server
    server.stop()


def _client(db: UpstreamDB, folder: Path, client_id: str, role: str):
    generate_signing_key(folder / f"{client_id}.key", folder / f"{client_id}.pub")
    enrol(db, client_id, role, folder / f"{client_id}.pub")
    return load_signing_key(folder / f"{client_id}.key")


def _get(server: ServiceThread, tls: Tls, key, client_id: str, path: str) -> httpx.Response:
    headers = sign_request(key, client_id, "GET", path, b"")
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        return http.get(server.url + path, headers=headers)


def test_kiosks_get_signed_files_and_the_configuration_version(
    db: UpstreamDB, served: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    kiosk = new_kiosk(db, tmp_path / "k", "gate-r")
    listing = _get(served, tls, kiosk.key, kiosk.id, "/v1/watchlists")
    assert listing.json() == {"files": ["wanted.bundle"]}
    bundle = _get(served, tls, kiosk.key, kiosk.id, "/v1/watchlists/wanted.bundle")
    assert bundle.content == (tmp_path / "bundles" / "wanted.bundle").read_bytes()  # as signed, unaltered
    assert _get(served, tls, kiosk.key, kiosk.id, "/v1/watchlists/notes.txt").status_code == 404
    assert _get(served, tls, kiosk.key, kiosk.id, "/v1/watchlists/..%2Fsecret.bundle").status_code == 404
    assert _get(served, tls, kiosk.key, kiosk.id, "/v1/trust").json() == {"files": ["UTO.crl", "UTO.ml"]}
    assert _get(served, tls, kiosk.key, kiosk.id, "/v1/trust/UTO.ml").content == b"UTO.ml"
    assert (
        _get(served, tls, kiosk.key, kiosk.id, "/v1/trust/csca.pem").status_code == 404
    )  # never loose certs
    version = _get(served, tls, kiosk.key, kiosk.id, "/v1/config-version")
    assert version.json() == {"version": "2026-12-01.3"}
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        assert http.get(served.url + "/v1/watchlists").status_code == 401  # unsigned


def test_officers_and_supervisors_read_cases_across_gates(
    db: UpstreamDB, served: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    gates = [new_kiosk(db, tmp_path / "k", f"gate-{n}") for n in range(2)]
    referred = []
    for gate in gates:
        ids = gate.append(10, refer_every=4)  # decisions 1, 5, 9 referred
        referred += [ids[1], ids[5], ids[9]]
        with DecisionLog(gate.log_path, gate.keys, exclusive=False) as log:
            log.resolve(ids[1], "officer-3", "ADMITTED")  # closes the case
            log.resolve(ids[5], "officer-3", "ESCALATED")  # keeps it open
        with SyncClient(gate.log_path, gate.id, gate.sync_config(served.url, tls)) as client:
            assert client.drain().errors == []
    officer = _client(db, tmp_path, "officer-3", "officer")
    supervisor = _client(db, tmp_path, "super-1", "supervisor")

    cases = _get(served, tls, officer, "officer-3", "/v1/cases/open").json()["cases"]
    assert sorted(c["id"] for c in cases) == sorted(referred[1:3] + referred[4:6])
    assert {c["kiosk_id"] for c in cases} == {"gate-0", "gate-1"}
    resolutions = _get(served, tls, officer, "officer-3", f"/v1/cases/{referred[0]}/resolutions").json()
    assert [r["resolution"] for r in resolutions["resolutions"]] == ["ADMITTED"]
    assert _get(served, tls, officer, "officer-3", "/v1/statistics").status_code == 403

    stats = _get(served, tls, supervisor, "super-1", "/v1/statistics").json()
    assert stats["decisions"] == {"gate-0": {"PASS": 7, "REFER": 3}, "gate-1": {"PASS": 7, "REFER": 3}}
    assert stats["resolutions"] == {"ADMITTED": 2, "ESCALATED": 2} and stats["held"] == 0
    chains = _get(served, tls, supervisor, "super-1", "/v1/chains").json()
    assert [(c["kiosk_id"], c["head_seq"]) for c in chains["chains"]] == [("gate-0", 12), ("gate-1", 12)]
    assert chains["problems"] == []
    # a reader cannot send records
    assert _get(served, tls, supervisor, "super-1", "/v1/head").status_code == 403

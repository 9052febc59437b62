"""``kiosk upstream bench``: ingest throughput and commit-to-upstream latency with simulated kiosks.

The service runs as its own process (``kiosk upstream serve``) on loopback with a throw-away test CA made
for the run (the benchmark says so; the service itself never makes a certificate up). Each simulated kiosk
is a real decision log with synthetic decisions (no face pipeline) and a real :class:`SyncClient` /
:class:`SyncWorker`, all in this process. Two phases:

1. backlog: every kiosk starts with ``backlog`` records waiting and drains them at once (as after an
   outage): decisions per second ingested, and the CPU seconds this process (all the kiosks' sync) and the
   service process spent per 1,000 records;
2. online: every kiosk logs decisions at ``rate`` per second for ``seconds`` while its worker syncs (woken
   on each decision, as ``kiosk run`` does): the time from each decision's commit at the kiosk to its
   acknowledgement (``sent_utc - created_utc`` in the outbox; an upper bound of the commit upstream),
   p50 / p99 / max.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk.decision import Decision
from kiosk.store import DecisionLog, KeyRing
from kiosk.sync.client import SyncClient, SyncWorker
from kiosk.sync.settings import SyncConfig
from kiosk.upstream.db import open_database
from kiosk.upstream.enrol import enrol
from kiosk.upstream.errors import UpstreamError
from matcher.signing import generate_signing_key


def make_test_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 / localhost signed by it: (ca, cert, key) PEM files.
    For tests and benchmarks only."""
    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("egate test CA"))
        .issuer_name(name("egate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("upstream.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@dataclass(frozen=True)
class BenchResult:
    kiosks: int
    backlog_records: int
    backlog_seconds: float
    kiosk_cpu_ms_per_1000: float  # this process: every simulated kiosk's sync
    service_cpu_ms_per_1000: float
    online_records: int
    online_rate: float  # decisions per second offered by the whole fleet
    latency_p50_s: float
    latency_p99_s: float
    latency_max_s: float

    @property
    def ingest_per_s(self) -> float:
        return self.backlog_records / self.backlog_seconds


def _decision(kiosk_id: str, keys: KeyRing, n: int) -> Decision:
    refer = n % 5 == 1
    return Decision(
        kiosk_id=kiosk_id,
        outcome="REFER" if refer else "PASS",
        reason_codes=("FACE_MISMATCH",) if refer else (),
        document_type="P",
        issuing_state="UTO",
        document_number_hash=keys.hash_document_number(f"B{n:08d}", "UTO"),
        document_checks={"mrz.check_digits": True, "chip.pa.sod_signature": True},
        quality={"yaw": 2.5, "sharpness": 0.8},
        liveness={"score": 0.93},
        face_score=0.21 if refer else 0.64,
        face_threshold=0.3581,
        models={"embedder": "w600k_mbf@bench"},
    )


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _latencies(path: Path) -> list[float]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT (julianday(sent_utc) - julianday(created_utc)) * 86400.0 FROM outbox "
            "WHERE sent_utc IS NOT NULL ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def run_bench(
    database: str,
    *,
    kiosks: int = 50,
    backlog: int = 200,
    rate: float = 100.0,
    seconds: float = 20.0,
    batch_size: int = SyncConfig.batch_size,
    interval_s: float = SyncConfig.interval_s,
) -> BenchResult:
    """Run both phases against a service on ``database`` (a fresh one: the benchmark enrols its kiosks)."""
    with tempfile.TemporaryDirectory(prefix="egate-upstream-bench-") as tmp:
        folder = Path(tmp)
        ca, cert, key = make_test_tls(folder)
        db = open_database(database)
        tag = secrets.token_hex(3)
        fleet = []
        for n in range(kiosks):
            kiosk_id = f"bench-{tag}-{n:02d}"
            private, public = folder / f"{kiosk_id}.key", folder / f"{kiosk_id}.pub"
            generate_signing_key(private, public)
            enrol(db, kiosk_id, "kiosk", public)
            fleet.append((kiosk_id, private, folder / f"{kiosk_id}.db", KeyRing(secrets.token_bytes(32))))
        db.close()
        port = _free_port()
        config_file = folder / "upstream.toml"
        config_file.write_text(
            f'[upstream]\ndatabase = "{database}"\nlisten = "127.0.0.1:{port}"\n'
            f'tls_cert = "{cert}"\ntls_key = "{key}"\npool_size = 8\n'
        )
        service = subprocess.Popen(
            [sys.executable, "-c", "from kiosk.cli import main; main()", "upstream", "serve", "--config",
             str(config_file)],
        )  # fmt: skip
        try:
            _wait_up(port, ca, service)
            configs = [
                SyncConfig(
                    url=f"https://127.0.0.1:{port}",
                    key_file=private,
                    ca_file=ca,
                    batch_size=batch_size,
                    timeout_s=30.0,
                    interval_s=interval_s,
                )
                for _, private, _, _ in fleet
            ]
            # phase 1: a backlog in every kiosk, drained at once
            for kiosk_id, _, path, keys in fleet:
                with DecisionLog(path, keys, synchronous="NORMAL") as log:
                    for n in range(backlog):
                        log.append(_decision(kiosk_id, keys, n))
            clients = [SyncClient(path, k, c) for (k, _, path, _), c in zip(fleet, configs, strict=True)]
            cpu0, service0, t0 = time.process_time(), _process_cpu(service.pid), time.perf_counter()
            threads = [threading.Thread(target=c.drain) for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t0
            kiosk_cpu, service_cpu = time.process_time() - cpu0, _process_cpu(service.pid) - service0
            left = sum(c.backlog().waiting for c in clients)
            for client in clients:
                client.close()
            if left:
                raise UpstreamError(f"benchmark: {left} records not acknowledged after the drain")
            total = kiosks * backlog

            # phase 2: online, every kiosk logging at rate / kiosks per second while its worker syncs
            workers = [
                SyncWorker(path, k, c).start() for (k, _, path, _), c in zip(fleet, configs, strict=True)
            ]
            stop_at = time.monotonic() + seconds
            counts = [0] * kiosks

            def gate(index: int) -> None:
                kiosk_id, _, path, keys = fleet[index]
                pause = kiosks / rate
                with DecisionLog(path, keys, exclusive=False, synchronous="NORMAL") as log:
                    next_at = time.monotonic() + secrets.randbelow(1000) / 1000 * pause
                    while next_at < stop_at:
                        time.sleep(max(0.0, next_at - time.monotonic()))
                        log.append(_decision(kiosk_id, keys, backlog + counts[index]))
                        workers[index].notify()  # as kiosk run does on each decision
                        counts[index] += 1
                        next_at += pause

            gates = [threading.Thread(target=gate, args=(i,)) for i in range(kiosks)]
            for thread in gates:
                thread.start()
            for thread in gates:
                thread.join()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(w.status().waiting for w in workers):
                time.sleep(0.2)
            for worker in workers:
                worker.stop()
        finally:
            service.terminate()
            service.wait(30)
        latencies = sorted(x for _, _, path, _ in fleet for x in _latencies(path)[backlog:])
        online = sum(counts)
        if len(latencies) != online:
            raise UpstreamError(f"benchmark: {online - len(latencies)} online records not acknowledged")
        return BenchResult(
            kiosks=kiosks,
            backlog_records=total,
            backlog_seconds=elapsed,
            kiosk_cpu_ms_per_1000=kiosk_cpu / total * 1e6,
            service_cpu_ms_per_1000=service_cpu / total * 1e6,
            online_records=online,
            online_rate=online / seconds,
            latency_p50_s=statistics.median(latencies),
            latency_p99_s=latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            latency_max_s=latencies[-1],
        )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(port: int, ca: Path, service: subprocess.Popen[bytes]) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise UpstreamError("benchmark: the service exited at start")
        try:
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise UpstreamError("benchmark: the service did not come up in 60 s")

"""Fixtures of the upstream tests: a test CA and server certificate made here, a real PostgreSQL (the DSN of
``EGATE_PG_DSN``, else a throw-away cluster started here), fresh databases per test on both backends, the
service on loopback over TLS, enrolled kiosks with real decision logs."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pg_cluster import PgCluster, pg_bin
from upstream_helpers import Tls

from kiosk.upstream.db import UpstreamDB, open_database
from kiosk.upstream.server import ServiceThread

PG_ENV = "EGATE_PG_DSN"


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A test CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("egate test CA"))
        .issuer_name(_name("egate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("upstream.test"))
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
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return tls


@dataclass
class Postgres:
    dsn: str  # an administrative connection (creates the tests' databases)
    cluster: PgCluster | None  # the cluster started here (restartable), or None for EGATE_PG_DSN's


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """PostgreSQL at ``EGATE_PG_DSN``, else a cluster started for this session. Without either the
    PostgreSQL tests skip, or fail when the run requires everything (``EGATE_REQUIRE_SHARED=1``, CI)."""
    if os.environ.get(PG_ENV):
        yield Postgres(os.environ[PG_ENV], None)
        return
    if pg_bin() is None:
        reason = f"no PostgreSQL: set {PG_ENV} or install Debian's postgresql"
        if os.environ.get("EGATE_REQUIRE_SHARED") == "1":
            pytest.fail(f"PostgreSQL required in this run: {reason}")
        pytest.skip(reason)
    cluster = PgCluster()
    cluster.start()
    try:
        yield Postgres(cluster.dsn, cluster)
    finally:
        cluster.remove()


def fresh_pg_database(admin_dsn: str) -> str:
    import psycopg

    name = f"egate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty upstream database target on each backend."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'upstream.db'}"
    return fresh_pg_database(request.getfixturevalue("postgres").dsn)


@pytest.fixture
def db(backend: str) -> Iterator[UpstreamDB]:
    database = open_database(backend)
    yield database
    database.close()


@pytest.fixture
def service(db: UpstreamDB, tls: Tls) -> Iterator[ServiceThread]:
    server = ServiceThread(db, tls.cert, tls.key).start()
    yield server
    server.stop()

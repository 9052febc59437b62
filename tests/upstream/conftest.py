"""Fixtures of the upstream tests: a test CA and server certificate made here, a real PostgreSQL (the DSN of
``EGATE_PG_DSN``, else a throw-away cluster started here), fresh databases per test on both backends, the
service on loopback over TLS, enrolled kiosks with real decision logs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg_cluster import PgCluster, pg_bin
from upstream_helpers import Tls

from kiosk.lab.upstream_bench import make_test_tls
from kiosk.upstream.db import UpstreamDB, open_database
from kiosk.upstream.server import ServiceThread

PG_ENV = "EGATE_PG_DSN"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A test CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    return Tls(*make_test_tls(tmp_path_factory.mktemp("tls")))


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
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty upstream database target on each backend (a PostgreSQL one is dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'upstream.db'}"
        return
    import psycopg

    admin = request.getfixturevalue("postgres").dsn
    target = fresh_pg_database(admin)
    yield target
    name = psycopg.conninfo.conninfo_to_dict(target)["dbname"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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

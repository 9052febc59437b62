"""Running the upstream service: its TOML configuration, TLS from configured files, uvicorn.

TLS is never improvised: the certificate and key named in the configuration are loaded before anything
listens, and a missing or unusable file stops the service with one line naming it. There is no plain-HTTP
mode.
"""

from __future__ import annotations

import socket
import ssl
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from kiosk.upstream.app import ServiceOptions, create_app
from kiosk.upstream.db import UpstreamDB, open_database
from kiosk.upstream.errors import UpstreamConfigError

_KEYS = {
    "database", "listen", "tls_cert", "tls_key", "watchlist_dir", "trust_dir", "config_version", "pool_size",
}  # fmt: skip


@dataclass(frozen=True)
class UpstreamSettings:
    database: str  # postgresql://... (fleet) or sqlite:///path (one site)
    host: str
    port: int
    tls_cert: Path
    tls_key: Path
    options: ServiceOptions
    pool_size: int = 8


def load_settings(path: str | Path) -> UpstreamSettings:
    """Read the ``[upstream]`` table of a TOML file; relative paths are resolved against its folder."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle).get("upstream")
    except FileNotFoundError:
        raise UpstreamConfigError(f"upstream configuration {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UpstreamConfigError(f"upstream configuration {path}: {exc}") from None
    if not isinstance(table, dict):
        raise UpstreamConfigError(f"upstream configuration {path} has no [upstream] table")
    unknown = set(table) - _KEYS
    if unknown:
        raise UpstreamConfigError(f"{path}: unknown keys in [upstream]: {', '.join(sorted(unknown))}")
    missing = [k for k in ("database", "listen", "tls_cert", "tls_key") if not table.get(k)]
    if missing:
        raise UpstreamConfigError(f"{path}: [upstream] needs {', '.join(missing)}")
    host, sep, port = str(table["listen"]).rpartition(":")
    if not sep or not port.isdigit():
        raise UpstreamConfigError(f"{path}: upstream.listen must be HOST:PORT, not {table['listen']!r}")
    base = path.resolve().parent
    database = str(table["database"])
    if database.startswith("sqlite://") and not Path(database.removeprefix("sqlite://")).is_absolute():
        database = "sqlite://" + str(base / database.removeprefix("sqlite://"))
    watchlists, trust = table.get("watchlist_dir"), table.get("trust_dir")
    return UpstreamSettings(
        database=database,
        host=host.strip("[]"),
        port=int(port),
        tls_cert=base / str(table["tls_cert"]),
        tls_key=base / str(table["tls_key"]),
        options=ServiceOptions(
            watchlist_dir=base / str(watchlists) if watchlists else None,
            trust_dir=base / str(trust) if trust else None,
            config_version=str(table.get("config_version", "")),
        ),
        pool_size=int(table.get("pool_size", 8)),
    )


def check_tls(cert: Path, key: Path) -> None:
    """Load the certificate chain and key as the server will; UpstreamConfigError naming the file if not."""
    for what, file in (("certificate", cert), ("key", key)):
        if not file.is_file():
            raise UpstreamConfigError(f"TLS {what} {file} does not exist (the service never makes one up)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise UpstreamConfigError(f"TLS certificate {cert} / key {key} unusable: {exc}") from None


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (``port`` 0: an ephemeral one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def _server(app: Any, cert: Path, key: Path) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(settings: UpstreamSettings) -> None:
    """Run the service until SIGTERM / SIGINT (TLS checked and the database migrated first)."""
    check_tls(settings.tls_cert, settings.tls_key)
    db = open_database(settings.database, settings.pool_size)
    try:
        sock = listening_socket(settings.host, settings.port)
        _server(create_app(db, settings.options), settings.tls_cert, settings.tls_key).run(sockets=[sock])
    finally:
        db.close()


class ServiceThread:
    """The service in a background thread of this process, on its own socket (tests and the benchmark)."""

    def __init__(
        self,
        db: UpstreamDB,
        cert: Path,
        key: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        options: ServiceOptions | None = None,
    ) -> None:
        check_tls(cert, key)
        self.sock = listening_socket(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._server = _server(create_app(db, options), cert, key)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.sock]}, name="upstream", daemon=True
        )

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> ServiceThread:
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            raise UpstreamConfigError("the upstream service did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self.sock.close()

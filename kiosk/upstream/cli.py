"""``kiosk upstream ...``: the border-crossing service (serve, enrol clients, chain status, bench)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from kiosk.upstream.db import open_database
from kiosk.upstream.enrol import enrol
from kiosk.upstream.server import load_settings, serve

_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The service's TOML file ([upstream] database, listen, tls_cert, tls_key).",
)


@click.group("upstream")
def upstream() -> None:
    """The upstream border-crossing service the kiosks sync their decisions to."""


@upstream.command("serve")
@_CONFIG
def serve_command(config_path: Path) -> None:
    """Serve HTTPS on the configured address until stopped (TLS from the configured files only)."""
    serve(load_settings(config_path))


def _add(
    config_path: Path, client_id: str, role: str, public_key: Path, gates: tuple[str, ...] = ("*",)
) -> None:
    db = open_database(load_settings(config_path).database)
    try:
        key_id = enrol(db, client_id, role, public_key, gates)
    finally:
        db.close()
    click.echo(
        f"enrolled {role} {client_id} (key {key_id})"
        + (f" for gates {', '.join(gates)}" if role != "kiosk" else "")
    )


@upstream.group("kiosk")
def kiosk_group() -> None:
    """Kiosks allowed to send decisions (each by its Ed25519 public key)."""


@kiosk_group.command("add")
@_CONFIG
@click.option("--id", "client_id", required=True, help="The kiosk id (its [kiosk] id).")
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), required=True)
def kiosk_add_command(config_path: Path, client_id: str, public_key: Path) -> None:
    """Enrol a kiosk by its public key (`kiosk sync keygen` makes the pair on the kiosk)."""
    _add(config_path, client_id, "kiosk", public_key)


@upstream.group("reader")
def reader_group() -> None:
    """Officer and supervisor clients of the read endpoints (open cases, resolutions, statistics)."""


@reader_group.command("add")
@_CONFIG
@click.option("--id", "client_id", required=True)
@click.option("--role", type=click.Choice(["officer", "supervisor"]), required=True)
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--gate", "gates", multiple=True, default=("*",), show_default=True, help="A kiosk id an officer covers."
)
def reader_add_command(
    config_path: Path, client_id: str, role: str, public_key: Path, gates: tuple[str, ...]
) -> None:
    """Enrol an officer or supervisor client by its public key (an officer's: `kiosk officer keygen`); an
    officer reads and resolves the cases of its --gate kiosks only."""
    _add(config_path, client_id, role, public_key, gates)


@upstream.command("status")
@_CONFIG
def status_command(config_path: Path) -> None:
    """Each kiosk's chain upstream: log, verified head, records held behind a gap, problems flagged."""
    db = open_database(load_settings(config_path).database)
    try:
        click.echo(json.dumps({"chains": db.chain_states(), "problems": db.problems()}, indent=2))
    finally:
        db.close()


@upstream.command("bench")
@click.option(
    "--database",
    required=True,
    help="A fresh database for the run: postgresql://... or sqlite:///path (the bench enrols its kiosks).",
)
@click.option("--kiosks", default=50, show_default=True, help="Simulated kiosks.")
@click.option("--backlog", default=200, show_default=True, help="Records waiting per kiosk in phase 1.")
@click.option("--rate", default=100.0, show_default=True, help="Fleet decisions per second in phase 2.")
@click.option("--seconds", default=20.0, show_default=True, help="Length of phase 2.")
def bench_command(database: str, kiosks: int, backlog: int, rate: float, seconds: float) -> None:
    """Decisions per second ingested from simulated kiosks on loopback, the kiosk-side CPU cost of syncing,
    and the commit-to-upstream latency while online (see kiosk.lab.upstream_bench)."""
    from kiosk.lab.upstream_bench import run_bench

    r = run_bench(database, kiosks=kiosks, backlog=backlog, rate=rate, seconds=seconds)
    click.echo(
        f"service on loopback, TLS from a throw-away test CA; {r.kiosks} kiosks, {os.cpu_count()} CPUs"
    )
    click.echo(
        f"backlog: {r.backlog_records} records in {r.backlog_seconds:.2f} s = "
        f"{r.ingest_per_s:.0f} decisions/s ingested; CPU per 1,000 records: "
        f"kiosks' sync {r.kiosk_cpu_ms_per_1000:.0f} ms, "
        f"service {r.service_cpu_ms_per_1000:.0f} ms"
    )
    click.echo(
        f"online: {r.online_records} decisions at {r.online_rate:.0f}/s; commit to acknowledgement "
        f"p50 {r.latency_p50_s * 1000:.0f} ms, p99 {r.latency_p99_s * 1000:.0f} ms, "
        f"max {r.latency_max_s * 1000:.0f} ms"
    )


@upstream.command("evidence-keygen")
@click.argument("private_key", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("public_key", type=click.Path(dir_okay=False, path_type=Path))
def evidence_keygen_command(private_key: Path, public_key: Path) -> None:
    """Make the officer service's X25519 key pair: kiosks with [sync] evidence_key = PUBLIC_KEY seal the
    evidence of referred cases to it; only PRIVATE_KEY opens it (keep it off the upstream service)."""
    from kiosk.sync.evidence import generate_officer_key

    if public_key.exists():
        raise click.ClickException(f"{public_key} already exists")
    generate_officer_key(private_key, public_key)
    click.echo(f"wrote {private_key} (mode 600) and {public_key}")

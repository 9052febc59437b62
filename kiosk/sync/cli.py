"""``kiosk sync once|status|keygen``: thin shells over :mod:`kiosk.sync.client`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kiosk.config import load_config
from kiosk.errors import ConfigError
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog
from kiosk.sync.client import Backlog, backlog, run_once
from kiosk.sync.settings import SyncConfig
from matcher.signing import generate_signing_key

_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The kiosk's TOML configuration ([store] path, [kiosk] id, [sync]).",
)


@click.group("sync")
def sync() -> None:
    """Send the decision log's outbox to the upstream service."""


def _log_path(config_path: Path) -> tuple[Path, str, SyncConfig]:
    config = load_config(config_path)
    if config.log_path is None:
        raise ConfigError(f"{config_path}: [store] path is not set")
    return config.log_path, config.kiosk_id, config.sync


def _print_backlog(state: Backlog) -> None:
    click.echo(state.summary())
    age = "-" if state.oldest_age_s is None else f"{state.oldest_age_s:.0f} s"
    click.echo(f"backlog: {state.waiting} waiting (oldest {age}), {state.quarantined} quarantined")
    click.echo(
        f"disk: log {state.log_bytes / 1e6:.1f} MB, {state.free_bytes / 1e9:.1f} GB free"
        + ("  WARNING: low disk" if state.disk_low else "")
    )
    anchor = "none yet" if state.anchor is None else f"{state.anchor[0]}:{state.anchor[1]}"
    click.echo(f"upstream anchor (verify-log --expect-head): {anchor}")


@sync.command("once")
@_CONFIG
def once_command(config_path: Path) -> None:
    """Drain the outbox now; exit 1 when the upstream could not take everything."""
    path, kiosk_id, settings = _log_path(config_path)
    keys = None
    if settings.evidence_key is not None:  # evidence is unsealed from the log to be sealed for the officers
        keys = KeyRing.load(load_config(config_path).key_file)
    report, state = run_once(path, kiosk_id, settings, keys=keys)
    click.echo(f"sent {report.sent} record(s) in {report.rounds} batch(es), {report.quarantined} quarantined")
    for error in report.errors:
        click.echo(f"error: {error}")
    _print_backlog(state)
    if report.errors:
        sys.exit(1)


@sync.command("status")
@_CONFIG
def status_command(config_path: Path) -> None:
    """The outbox backlog, the disk it uses and the last anchor the upstream returned (no network)."""
    path, _, settings = _log_path(config_path)
    with DecisionLog(path, readonly=True) as log:
        _print_backlog(backlog(log, settings))


@sync.command("keygen")
@click.argument("private_key", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("public_key", type=click.Path(dir_okay=False, path_type=Path))
def keygen_command(private_key: Path, public_key: Path) -> None:
    """Make the kiosk's Ed25519 signing key pair (private mode 0600, never overwritten); enrol the public
    key upstream with `kiosk upstream kiosk add`."""
    if public_key.exists():
        raise click.ClickException(f"{public_key} already exists")
    key_id = generate_signing_key(private_key, public_key)
    click.echo(f"wrote {private_key} and {public_key} (key {key_id})")


@sync.command("pull")
@_CONFIG
def pull_command(config_path: Path) -> None:
    """Download the signed watchlist bundles and chip trust lists the upstream distributes (into
    <data_dir>/upstream/) and import the bundles into the watchlist store, verified against its
    trusted_keys folder; exit 1 when a bundle was refused."""
    from kiosk.sync.client import SyncClient
    from kiosk.sync.pull import pull
    from matcher.signing import load_trusted_keys
    from matcher.watchlist.store import WatchlistStore

    config = load_config(config_path)
    if config.log_path is None:
        raise ConfigError(f"{config_path}: [store] path is not set")
    store = WatchlistStore(config.watchlist) if config.watchlist is not None else None
    trusted = store.path / "trusted_keys" if store is not None else None
    keys = load_trusted_keys([trusted]) if trusted is not None and trusted.is_dir() else {}
    with SyncClient(config.log_path, config.kiosk_id, config.sync) as client:
        report = pull(client, config.data_dir / "upstream", store=store, trusted_keys=keys)
    click.echo(f"downloaded {len(report.downloaded)} changed file(s): {', '.join(report.downloaded) or '-'}")
    for line in report.imported:
        click.echo(f"watchlist {line}")
    for line in report.refused:
        click.echo(f"refused {line}")
    if report.refused:
        sys.exit(1)

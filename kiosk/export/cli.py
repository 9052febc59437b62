"""``kiosk stats``, ``kiosk export``, ``kiosk verify-export``: thin shells over ``kiosk.export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kiosk.config import load_config
from kiosk.export.build import FORMATS, export_period, signing_key_file
from kiosk.export.select import Period, parse_time
from kiosk.export.stats import DEFAULT_MIN_CELL, period_stats, stats_lines
from kiosk.export.verify import verify_export
from kiosk.store.accounts import Accounts
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing
from matcher.signing import load_trusted_keys

_LOG = click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The decision log (read as one snapshot while the kiosk runs).",
)


_OPTIONAL_LOG = click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The decision log (read as one snapshot while the kiosk runs); default: store.path of --config.",
)
_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The kiosk's configuration (TOML): store.path and [export] signing_key.",
)
_PASSWORD = click.option(
    "--password",
    envvar="EGATE_PASSWORD",
    prompt=True,
    hide_input=True,
    help="Its password (or EGATE_PASSWORD).",
)
_SIGNING_KEY = click.option(
    "--signing-key",
    envvar="EGATE_EXPORT_SIGNING_KEY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ed25519 private key (PEM) that signs the manifest (`matcher watchlist keygen` makes a pair); "
    "or EGATE_EXPORT_SIGNING_KEY; default: [export] signing_key of --config.",
)


def _log_and_key(log_path: Path | None, config_path: Path | None) -> tuple[Path, Path | None]:
    """The log (``--log``, else the configuration's store.path) and the configured signing key."""
    config = load_config(config_path) if config_path else None
    path = log_path or (config.log_path if config else None)
    if path is None:
        raise click.UsageError("give --log, or --config with store.path")
    if not path.is_file():
        raise click.UsageError(f"decision log {path} (store.path of {config_path}) does not exist")
    return path, config.export_signing_key if config else None


def _period(start: str, end: str, gates: tuple[str, ...]) -> Period:
    try:
        return Period(parse_time(start), parse_time(end), tuple(gates))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _period_options(command: click.Command) -> click.Command:
    for option in reversed(
        (
            click.option(
                "--from", "start", required=True, help="Start (UTC): YYYY-MM-DD or ISO 8601 with Z."
            ),
            click.option("--to", "end", required=True, help="End, excluded (UTC): YYYY-MM-DD or ISO 8601."),
            click.option("--gate", "gates", multiple=True, help="Only this gate (kiosk id); repeatable."),
            click.option(
                "--min-cell", default=DEFAULT_MIN_CELL, show_default=True, help="Smallest slice shown."
            ),
        )
    ):
        command = option(command)
    return command


@click.command("stats")
@_LOG
@_period_options
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def stats_command(
    log_path: Path, start: str, end: str, gates: tuple[str, ...], min_cell: int, as_json: bool
) -> None:
    """Statistics of a period: transactions, pass and referral rates by reason, failure to acquire, FNMR
    from officer-confirmed outcomes, watchlist alerts, throughput per gate; every rate with n and a 95%
    interval, slices only as aggregates of at least --min-cell transactions."""
    stats = period_stats(log_path, _period(start, end, gates), min_cell=min_cell)
    if as_json:
        click.echo(json.dumps(stats.as_dict(), indent=2))
    else:
        click.echo("\n".join(stats_lines(stats)))


def _progress(done: int, total: int) -> None:
    click.echo(
        f"\rexport: {done}/{total} chain rows read ({100 * done / max(1, total):.0f}%)", nl=False, err=True
    )
    if done >= total:
        click.echo("", err=True)


@click.command("export")
@_OPTIONAL_LOG
@_CONFIG
@_period_options
@click.option(
    "--format",
    "formats",
    default=",".join(FORMATS),
    show_default=True,
    help="Comma-separated: csv, jsonl, pdf (records.jsonl is always written when csv or jsonl is asked).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="New folder.")
@click.option("--account", required=True, help="The supervisor account exporting (officers cannot).")
@_PASSWORD
@_SIGNING_KEY
@click.option(
    "--with-images", is_flag=True, help="Add referred cases' evidence images (supervisors; logged)."
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The log's key file: needed by --with-images to open the sealed evidence.",
)
def export_command(
    log_path: Path | None,
    config_path: Path | None,
    start: str,
    end: str,
    gates: tuple[str, ...],
    min_cell: int,
    formats: str,
    out: Path,
    account: str,
    password: str,
    signing_key: Path | None,
    with_images: bool,
    key_file: Path | None,
) -> None:
    """Export a period as a signed, verifiable folder: decisions, resolutions and export events, the
    officers' account events (CSV, JSON Lines), the PDF report, the code list, statistics and a manifest
    signed with Ed25519. The export is itself logged in the audit chain. Progress on stderr."""
    period = _period(start, end, gates)
    chosen = tuple(name.strip() for name in formats.split(",") if name.strip())
    log_path, configured = _log_and_key(log_path, config_path)
    key = signing_key_file(signing_key, configured)  # before the sign-in: a bad key logs nothing
    with Accounts(log_path) as accounts:
        session = accounts.sign_in(account, password)
    try:
        result = export_period(
            log_path,
            period,
            out,
            session=session,
            signing_key=key,
            formats=chosen,
            include_images=with_images,
            keys=KeyRing.from_file(key_file) if key_file else None,
            min_cell=min_cell,
            progress=_progress,
        )
    finally:
        with Accounts(log_path) as accounts:
            accounts.sign_out(session)
    counts = result.manifest["counts"]
    click.echo(
        f"exported to {result.folder}: {counts['decision']} decisions, {counts['resolution']} resolutions, "
        f"{counts['export']} export events, {counts['account_event']} account events, "
        f"{result.manifest['images']} images; "
        f"signed by key {result.manifest['signature']['key_id']}; logged as seq {result.event_seq}"
    )


@click.command("verify-export")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The agency's Ed25519 public key (PEM): the manifest must be signed by it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_export_command(folder: Path, public_key: Path | None, as_json: bool) -> None:
    """Verify an export FOLDER: the manifest's signature, every file's sha256, every record's hash and the
    chain from the first exported record to the stated head, CSV rows against their records.

    Exit status: 0 intact; 1 something does not match (each named); 2 usage error."""
    trusted = next(iter(load_trusted_keys([public_key]).values())) if public_key else None
    check = verify_export(folder, trusted)
    manifest = check.manifest
    if as_json:
        click.echo(json.dumps({"ok": check.ok, "problems": check.problems, "manifest": manifest}, indent=2))
    elif check.ok:
        head = manifest["chain"]["head"]
        counts = manifest["counts"]
        signer, period = manifest["signature"]["key_id"], manifest["period"]
        click.echo(
            f"ok: {counts['decision']} decisions, {counts['resolution']} resolutions, "
            f"{counts['export']} export events, {counts.get('account_event', 0)} account events of "
            f"{period['from']} to {period['to']}, exported by {manifest['exported_by']['account_id']}; "
            f"chain to head seq {head['seq']} hash {head['hash']}"
        )
        if "account_chain" in manifest:
            account_head = manifest["account_chain"]["head"]
            click.echo(f"account chain to head seq {account_head['seq']} hash {account_head['hash']}")
        if check.trusted_key:
            click.echo(f"signed by the given key {signer}")
        else:
            click.echo(f"signed by key {signer} (embedded key; pass --public-key to check who signed)")
    else:
        for problem in check.problems:
            click.echo(f"MISMATCH: {problem}")
    if not check.ok:
        sys.exit(1)


@click.command("supervisor")
@_OPTIONAL_LOG
@_CONFIG
@click.option("--account", required=True, help="A supervisor account of the log.")
@_PASSWORD
@_SIGNING_KEY
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The log's key file: enables exports with referred cases' images.",
)
def supervisor_command(
    log_path: Path | None,
    config_path: Path | None,
    account: str,
    password: str,
    signing_key: Path | None,
    key_file: Path | None,
) -> None:
    """Open the supervisor's window: statistics of a period with their intervals, charts, exports (without
    a signing key: statistics only)."""
    from kiosk.ui.supervisor.window import run_supervisor

    log_path, configured = _log_and_key(log_path, config_path)
    key = signing_key_file(signing_key, configured) if signing_key or configured else None
    with Accounts(log_path) as accounts:
        session = accounts.sign_in(account, password)
        try:
            session = accounts.authorize(session, "supervisor")
        except StoreError:
            accounts.sign_out(session)
            raise
    try:
        status = run_supervisor(log_path, session, signing_key=key, key_file=key_file)
    finally:
        with Accounts(log_path) as accounts:
            accounts.sign_out(session)
    sys.exit(status)

"""``kiosk verify-log``, ``kiosk purge``, ``kiosk keygen``: thin shells over the store's functions."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from kiosk.store.audit import purge_evidence, rotate_log_key, verify_log
from kiosk.store.errors import StoreError
from kiosk.store.keys import KeyRing, generate_key_file

CHAIN_KINDS = ("decision", "resolution")  # problems of these kinds break the audit chain itself


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, sep, digest = value.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter("expected SEQ:SHA256HEX, e.g. 1042:9f2c...", param_hint="--expect-head")
    return int(seq), digest.lower()


@click.command("verify-log")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--expect-head", metavar="SEQ:HASH", help="A (seq, hash) known from elsewhere (e.g. upstream).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_log_command(db: Path, expect_head: str | None, as_json: bool) -> None:
    """Verify the decision log DB: database integrity, the audit chain over decisions and resolutions, and
    the evidence against the chain.

    Exit status: 0 intact; 1 broken (the first broken row named) or unreadable (missing, empty, corrupt,
    not a decision log); 2 usage error."""
    anchor = _anchor(expect_head)
    try:
        result = verify_log(db, expect_head=anchor)
    except StoreError as exc:  # the log cannot be read at all: as bad as a broken one, and said so
        if as_json:
            click.echo(json.dumps({"ok": False, "error": str(exc), "code": exc.code}, indent=2))
        else:
            click.echo(f"BROKEN: {exc}")
        sys.exit(1)
    if as_json:
        data = {"ok": result.ok, **asdict(result)}
        click.echo(json.dumps(data, indent=2))
    elif result.ok:
        click.echo(f"ok: {result.rows} rows, head seq {result.head_seq} hash {result.head_hash}")
    else:
        for i, problem in enumerate(result.problems):
            where = f"seq {problem.seq} ({problem.kind} {problem.id or '-'})"
            click.echo(
                f"BROKEN at {where}: {problem.reason}" if i == 0 else f"  also: {where}: {problem.reason}"
            )
        if any(p.kind in CHAIN_KINDS for p in result.problems):
            click.echo(
                f"the chain verifies up to seq {result.head_seq} (hash {result.head_hash}); "
                f"rows from seq {result.head_seq + 1} on cannot be trusted"
            )
        else:
            click.echo(
                f"the chain itself verifies through seq {result.head_seq} (hash {result.head_hash}); "
                "the problems above are outside it"
            )
    if not result.ok:
        sys.exit(1)


@click.command("purge")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--now",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z"]),
    help="Purge as of this past time: a date (00:00 UTC) or ISO 8601 with offset; default: now. "
    "A future time is refused.",
)
def purge_command(db: Path, now: datetime | None) -> None:
    """Delete encrypted evidence of referred cases whose retention date has passed. Decisions stay."""
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    count = purge_evidence(db, now=now)
    click.echo(f"purged {count} evidence item(s)")


@click.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keygen_command(path: Path) -> None:
    """Write a new random master key to PATH (mode 0600; never overwrites). Keep it out of the database
    folder's backups, or the evidence encryption is moot."""
    generate_key_file(path)
    click.echo(f"wrote key file {path} (mode 600)")


@click.group("key")
def key_group() -> None:
    """The decision log's key: a log records the key it is written under and refuses any other."""


@key_group.command("rotate")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--old-key", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Current key."
)
@click.option("--new-key", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Next key.")
def rotate_command(db: Path, old_key: Path, new_key: Path) -> None:
    """Write the log DB under NEW-KEY from its next row on (stop the kiosk first; `kiosk keygen` makes a key).

    Evidence logged before stays sealed under the old key: keep the old key file to read it. Document-number
    hashes are keyed, so one passport hashes differently before and after the rotation; the log's key
    history (seq ranges per key) says which key made which hash."""
    from_seq = rotate_log_key(db, old_key, new_key)
    old_id, new_id = KeyRing.from_file(old_key).key_id, KeyRing.from_file(new_key).key_id
    click.echo(f"{db}: key {old_id} -> {new_id} from seq {from_seq}")
    click.echo(f"  evidence and document-number hashes before seq {from_seq} stay under key {old_id}")

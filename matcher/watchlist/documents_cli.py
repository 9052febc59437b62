"""``matcher doclist ...``: thin shells over :mod:`matcher.watchlist.documents` (document-number lists)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from matcher.signing import load_signing_key, load_trusted_keys
from matcher.watchlist.documents import (
    DocumentListError,
    DocumentListStore,
    export_document_bundle,
    import_document_bundle,
    key_id,
    records_from_csv,
)
from matcher.watchlist.sealing import read_key_file

STORE_ENV = "EGATE_DOCLIST_DIR"
KEY_ENV = "EGATE_DOCLIST_KEY_FILE"


def generate_list_key(path: Path) -> str:
    """Write a new random 32-byte list key (64 hex digits, mode 0600; an existing file is refused) and
    return its id."""
    key = os.urandom(32)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(key.hex() + "\n")
    return key_id(key)


@click.group("doclist")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get(STORE_ENV, "doclists"),
    show_default=f"${STORE_ENV} or ./doclists",
    help="Document list store folder.",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=lambda: os.environ.get(KEY_ENV),
    help=f"The 32-byte list key the document numbers are hashed under (HMAC-SHA256); default ${KEY_ENV}.",
)
@click.pass_context
def doclist(ctx: click.Context, store_dir: Path, key_file: Path | None) -> None:
    """Document-number lists (lost and stolen documents, national alerts) checked on every transaction:
    numbers are stored only as keyed hashes. Only `create` makes a store."""
    ctx.obj = (store_dir, read_key_file(key_file) if key_file else None)


def _store(ctx: click.Context, create: bool = False) -> DocumentListStore:
    store_dir, key = ctx.obj
    return DocumentListStore(store_dir, key, create=create)


@doclist.command()
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
def keygen(key_file: Path) -> None:
    """Create a list key (share it with the kiosks by a secure channel; it never travels in a bundle)."""
    click.echo(f"list key {generate_list_key(key_file)}: {key_file}")


@doclist.command()
@click.argument("list_id")
@click.option("--owner", default="", help="Agency owning the list.")
@click.option("--description", default="")
@click.pass_context
def create(ctx: click.Context, list_id: str, owner: str, description: str) -> None:
    """Create the store (when missing) and an empty list hashed under the list key."""
    if ctx.obj[1] is None:  # checked before the store folder is made
        raise DocumentListError("creating a document list needs the list key (--key-file)")
    li = _store(ctx, create=True).create_list(list_id, owner=owner, description=description)
    click.echo(f"created document list {li.list_id} (key {li.key_id}, version {li.version})")


@doclist.command()
@click.argument("list_id")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def add(ctx: click.Context, list_id: str, csv_file: Path) -> None:
    """Add the documents of a CSV (header: document_number, and any of issuing_state, document_type,
    category, reference) as one new version. A bad row refuses the whole file, naming its line."""
    records = records_from_csv(csv_file)
    added, li = _store(ctx).add(list_id, records)
    click.echo(
        f"{list_id}: {added} added ({len(records) - added} listed already), {li.entry_count} entries, "
        f"version {li.version}"
    )


@doclist.command()
@click.argument("list_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def info(ctx: click.Context, list_id: str | None, as_json: bool) -> None:
    """Lists with version, size, list key id, content hash and last bundle."""
    store = _store(ctx)
    infos = [store.info(list_id)] if list_id else store.lists()
    if as_json:
        click.echo(json.dumps([li.__dict__ for li in infos], indent=2, ensure_ascii=False))
        return
    for li in infos:
        click.echo(
            f"{li.list_id}: v{li.version} {li.entry_count} entries, key {li.key_id}, "
            f"owner {li.owner or '-'}, updated {li.updated_at}, bundle {li.bundle_issued_at or '-'}, "
            f"content {li.content_hash[:16]}"
        )


@doclist.command("export")
@click.argument("list_id")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--sign-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Ed25519 private key (PEM; `matcher watchlist keygen`) signing the bundle.",
)
@click.pass_context
def export_cmd(ctx: click.Context, list_id: str, out: Path, sign_key: Path) -> None:
    """Write a list (keyed hashes only) as one signed bundle file for distribution."""
    b = export_document_bundle(_store(ctx), list_id, out, load_signing_key(sign_key))
    click.echo(f"exported {b.list_id}: {b.entry_count} entries, key {b.key_id}, sha256 {b.sha256}")


@doclist.command("import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--trusted-key",
    "trusted",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Trusted public key file or folder (repeatable); default <store>/trusted_keys.",
)
@click.option("--allow-older", is_flag=True, help="Accept a bundle older than the last one imported.")
@click.pass_context
def import_cmd(ctx: click.Context, bundle: Path, trusted: tuple[Path, ...], allow_older: bool) -> None:
    """Verify a signed bundle and make its list match it (nothing changes if anything is wrong)."""
    store = _store(ctx)
    default = store.path / "trusted_keys"
    keys = load_trusted_keys(list(trusted) or ([default] if default.is_dir() else []))
    li, b, changed = import_document_bundle(store, bundle, keys, allow_older=allow_older)
    if not changed:
        click.echo(f"{li.list_id} already up to date: version {li.version}, content {li.content_hash[:16]}")
        return
    click.echo(f"imported {li.list_id}: {li.entry_count} entries, version {li.version}, signed by {b.key_id}")

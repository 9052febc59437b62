"""``matcher watchlist ...``: thin shells over :mod:`matcher.watchlist` (store, enrol, bundle)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from matcher.signing import generate_signing_key, load_signing_key, load_trusted_keys
from matcher.types import Template
from matcher.watchlist.bundle import export_bundle, import_bundle
from matcher.watchlist.enrol import TEMPLATE_SUFFIX, enrol, image_template, items_from_csv, items_from_folder
from matcher.watchlist.policy import DEFAULT_FPIR, ThresholdPolicy
from matcher.watchlist.sealing import read_key_file
from matcher.watchlist.store import SEVERITIES, WatchlistStore

STORE_ENV = "EGATE_WATCHLIST_DIR"
KEY_ENV = "EGATE_WATCHLIST_KEY_FILE"


def _engine():
    from matcher.engine import FaceEngine

    return FaceEngine.load()


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group()
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get(STORE_ENV, "watchlists"),
    show_default=f"${STORE_ENV} or ./watchlists",
    help="Watchlist store folder.",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=lambda: os.environ.get(KEY_ENV),
    help=f"32-byte key sealing templates and indexes at rest (AES-256-GCM); default ${KEY_ENV}.",
)
@click.pass_context
def watchlist(ctx: click.Context, store_dir: Path, key_file: Path | None) -> None:
    """Watchlists searched 1:N against every traveller: create, enrol, search, distribute.

    Only `create` makes a store; every other command refuses a store that does not exist."""
    ctx.obj = _StoreOptions(store_dir, key_file)


@dataclass(frozen=True)
class _StoreOptions:
    path: Path
    key_file: Path | None


def _pass_store(*, create: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Open the store when the command runs (never for --help), passing it as the first argument."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @click.pass_context
        @functools.wraps(command)
        def with_store(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
            options: _StoreOptions = ctx.obj
            key = read_key_file(options.key_file) if options.key_file else None
            return ctx.invoke(command, WatchlistStore(options.path, key=key, create=create), *args, **kwargs)

        return with_store

    return decorate


def _policy_options(command):
    """--fmr / --per / --score / --category-fmr, shared by ``create`` and ``policy``."""
    command = click.option(
        "--category-fmr",
        "category_fmr",
        multiple=True,
        metavar="CATEGORY=RATE",
        help="A rate of its own for the entries of one category (repeatable).",
    )(command)
    command = click.option("--score", type=float, help="Fixed cosine threshold instead of a rate.")(command)
    command = click.option(
        "--per",
        type=click.Choice(["search", "comparison"]),
        default="search",
        show_default=True,
        help="Rate per search (FPIR: false alarms per traveller on no list; the threshold follows the list "
        "size) or per single comparison.",
    )(command)
    return click.option(
        "--fmr", type=float, default=DEFAULT_FPIR, show_default=True, help="Target false alarm rate."
    )(command)


def make_policy(
    fmr: float, per: str, score: float | None, category_fmr: tuple[str, ...] = ()
) -> ThresholdPolicy:
    """The policy the options describe; one clear line for a bad value."""
    try:
        categories = []
        for item in category_fmr:
            category, sep, rate = item.rpartition("=")
            if not sep or not category:
                raise ValueError(f"--category-fmr takes CATEGORY=RATE, got {item!r}")
            categories.append((category, float(rate)))
        return ThresholdPolicy(
            fmr=None if score is not None else fmr,
            per=per,  # type: ignore[arg-type]
            score=score,
            categories=tuple(categories),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@watchlist.command()
@click.argument("list_id", required=False)
@click.option("--model-id", help="Template model id (default: the manifest's default embedder).")
@click.option("--dim", type=int, default=512, show_default=True, help="Template dimension.")
@_policy_options
@click.option("--owner", default="", help="Agency owning the list.")
@click.option("--description", default="")
@click.option("--severity", type=click.Choice(SEVERITIES), default="high", show_default=True)
@click.option("--valid-until", help="ISO date after which the whole list stops alerting.")
@_pass_store(create=True)
def create(
    store: WatchlistStore,
    list_id: str | None,
    model_id: str | None,
    dim: int,
    fmr: float,
    per: str,
    score: float | None,
    category_fmr: tuple[str, ...],
    owner: str,
    description: str,
    severity: str,
    valid_until: str | None,
) -> None:
    """Create the store (when missing) and, given LIST_ID, an empty list bound to one template model."""
    if list_id is None:
        click.echo(f"store {store.path}: {len(store.lists())} list(s)")
        return
    if model_id is None:
        from matcher.models import load_manifest

        model_id = load_manifest(verify=False).default("embedder").model_id
    policy = make_policy(fmr, per, score, category_fmr)
    info = store.create_list(
        list_id,
        model_id=model_id,
        dim=dim,
        policy=policy,
        owner=owner,
        description=description,
        severity=severity,
        valid_until=valid_until,
    )
    click.echo(f"created {info.list_id} (model {info.model_id}, {info.dim}-d, version {info.version})")


@watchlist.command()
@click.argument("list_id")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--category", default="", help="Category of every entry (folder source).")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Severity (default: the list's).")
@click.option("--valid-until", help="ISO date after which the entries stop alerting (folder source).")
@click.option("--source", "origin", default="", help="Where the entries come from (folder source).")
@click.option("--replace", is_flag=True, help="Replace entries whose external reference exists already.")
@click.option("--json", "as_json", is_flag=True, help="Print the enrolment report as JSON.")
@_pass_store()
def add(
    store: WatchlistStore,
    list_id: str,
    source: Path,
    category: str,
    severity: str | None,
    valid_until: str | None,
    origin: str,
    replace: bool,
    as_json: bool,
) -> None:
    """Enrol SOURCE: a folder of images or .tpl templates (file stem = reference), or a CSV manifest
    (external_ref, image|template, category, severity, valid_until, source). Images without one usable
    face are reported and skipped; the rest are enrolled in one new version."""
    if source.is_dir():
        items = items_from_folder(
            source, category=category, severity=severity, valid_until=valid_until, source=origin
        )
    else:
        items = items_from_csv(source)
    report = enrol(store, list_id, items, _engine, replace=replace)
    if as_json:
        _echo_json(report.as_dict())
    else:
        for f in report.failures:
            click.echo(f"failed {f.external_ref} ({f.file}): {f.code}: {f.message}", err=True)
        click.echo(
            f"{list_id}: {len(report.added)} added, {len(report.failures)} failed, "
            f"version {store.info(list_id).version}"
        )
    if report.failures and not report.added:
        raise SystemExit(1)


@watchlist.command()
@click.argument("list_id")
@click.argument("refs", nargs=-1, required=True)
@_pass_store()
def remove(store: WatchlistStore, list_id: str, refs: tuple[str, ...]) -> None:
    """Remove entries by external reference (all or nothing)."""
    n = store.remove(list_id, refs)
    click.echo(f"{list_id}: {n} removed, version {store.info(list_id).version}")


@watchlist.command()
@click.argument("probe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top", "top_k", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--list", "lists", multiple=True, help="Search only these lists (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@_pass_store()
def search(store: WatchlistStore, probe: Path, top_k: int, lists: tuple[str, ...], as_json: bool) -> None:
    """Search an image or a .tpl template against the lists: candidates above each list's threshold."""
    if probe.suffix.lower() == TEMPLATE_SUFFIX:
        template = Template.from_bytes(probe.read_bytes())
    else:
        template = image_template(_engine(), probe)
    alerts = store.search(template, top_k=top_k, lists=list(lists) or None)
    if as_json:
        _echo_json({"alerts": [a.as_dict() for a in alerts]})
        return
    if not alerts:
        click.echo("no alert")
    for a in alerts:
        click.echo(
            f"{a.list_id} #{a.rank}: {a.external_ref} (entry {a.entry_id}, {a.category or '-'}, "
            f"{a.severity}) score {a.score:.4f} >= {a.threshold:.4f}"
        )


@watchlist.command()
@click.argument("list_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@_pass_store()
def info(store: WatchlistStore, list_id: str | None, as_json: bool) -> None:
    """Lists with version, content hash, size, index kind, threshold policy and current threshold."""
    infos = [store.info(list_id)] if list_id else store.lists()
    rows = []
    for li in infos:
        data = li.as_dict()
        search = store.search_table(li.model_id) if li.policy.per == "search" else None
        data["threshold_basis"] = li.policy.basis(li.entry_count, search)  # what the threshold stands for
        data["comparison_fmr"] = None if search else li.policy.comparison_fmr(li.entry_count)
        try:
            data["threshold"] = round(store.snapshot(li.list_id).threshold, 5)
        except Exception as exc:  # shown, not fatal: info must work on a list that cannot be searched
            data["threshold"] = f"unavailable: {exc}"
        rows.append(data)
    if as_json:
        _echo_json(rows)
        return
    for d in rows:
        click.echo(
            f"{d['list_id']}: v{d['version']} {d['entry_count']} entries ({d['index_kind']}), model "
            f"{d['model_id']}, policy {d['policy']}, threshold {d['threshold']} ({d['threshold_basis']}), "
            f"severity {d['severity']}, "
            f"owner {d['owner'] or '-'}, valid until {d['valid_until'] or '-'}"
            f", content {d['content_hash'][:16]}"
        )


@watchlist.command("policy")
@click.argument("list_id")
@_policy_options
@_pass_store()
def policy_cmd(
    store: WatchlistStore,
    list_id: str,
    fmr: float,
    per: str,
    score: float | None,
    category_fmr: tuple[str, ...],
) -> None:
    """Change a list's threshold policy (refused, with nothing changed, when the calibrated curve does not
    reach the rate the list's size needs)."""
    li = store.update_list(list_id, policy=make_policy(fmr, per, score, category_fmr))
    threshold, own = store.thresholds(list_id)
    per_category = "".join(f", {c} {t:.4f}" for c, t in own.items())
    click.echo(
        f"{list_id}: policy {li.policy.describe()}, threshold {threshold:.4f}{per_category} over "
        f"{li.entry_count} entries, version {li.version}"
    )


@watchlist.command()
@click.argument("list_id")
@_pass_store()
def rebuild(store: WatchlistStore, list_id: str) -> None:
    """Recreate a list's index from its stored templates (after a corrupt index file)."""
    li = store.rebuild(list_id)
    click.echo(f"{list_id}: rebuilt, {li.entry_count} entries ({li.index_kind}), version {li.version}")


@watchlist.command()
@click.argument("list_id")
@click.option("--yes", is_flag=True, required=True, help="Confirm the deletion.")
@_pass_store()
def delete(store: WatchlistStore, list_id: str, yes: bool) -> None:
    """Delete a list with its entries and index files."""
    store.delete_list(list_id)
    click.echo(f"deleted {list_id}")


@watchlist.command("export")
@click.argument("list_id")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--sign-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Ed25519 private key (PEM) signing the bundle.",
)
@_pass_store()
def export_cmd(store: WatchlistStore, list_id: str, out: Path, sign_key: Path) -> None:
    """Write a list as one signed bundle file for distribution."""
    b = export_bundle(store, list_id, out, load_signing_key(sign_key))
    click.echo(f"exported {b.list_id}: {b.entry_count} entries, key {b.key_id}, sha256 {b.sha256}")


@watchlist.command("import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--trusted-key",
    "trusted",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Trusted public key file or folder (repeatable); default <store>/trusted_keys.",
)
@click.option("--allow-older", is_flag=True, help="Accept a bundle older than the last one imported.")
@_pass_store()
def import_cmd(store: WatchlistStore, bundle: Path, trusted: tuple[Path, ...], allow_older: bool) -> None:
    """Verify a signed bundle and make its list match it (nothing changes if anything is wrong)."""
    default = store.path / "trusted_keys"
    keys = load_trusted_keys(list(trusted) or ([default] if default.is_dir() else []))
    versions = {li.list_id: li.version for li in store.lists()}
    li, b = import_bundle(store, bundle, keys, allow_older=allow_older)
    if versions.get(li.list_id) == li.version:
        click.echo(f"{li.list_id} already up to date: version {li.version}, content {li.content_hash[:16]}")
        return
    click.echo(f"imported {li.list_id}: {li.entry_count} entries, version {li.version}, signed by {b.key_id}")


@watchlist.command()
@click.argument("private_key", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("public_key", type=click.Path(dir_okay=False, path_type=Path))
def keygen(private_key: Path, public_key: Path) -> None:
    """Create an Ed25519 signing key pair for bundles (keep the private key upstream)."""
    kid = generate_signing_key(private_key, public_key)
    click.echo(f"key {kid}: private {private_key}, public {public_key}")


@watchlist.command()
@click.argument("list_id")
@click.option(
    "--probes-from",
    "probe_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of real probe images or .tpl templates, ideally of people on the list (mated searches).",
)
@click.option("--probes", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_pass_store()
def recall(store: WatchlistStore, list_id: str, probe_dir: Path | None, probes: int, as_json: bool) -> None:
    """How often the list's index returns exact search's first candidate (recall@1), and how much of exact
    search's top 10 (recall@10). With --probes-from, on those real probes (images without one usable face are
    skipped and counted); without, on --probes synthetic probes: the list's own entries perturbed at random
    to cosine 0.5-0.8, which tend to overstate recall against real captures."""
    from matcher.lab.watchlist_bench import list_recall, probe_templates

    queries, skipped = None, []
    if probe_dir is not None:
        queries, skipped = probe_templates(probe_dir, store.info(list_id).model_id, _engine)
    r = list_recall(store, list_id, probes=probes, queries=queries)
    if as_json:
        _echo_json({**r.__dict__, "skipped": skipped})
    else:
        click.echo(
            f"{list_id} v{r.version} ({r.index}): recall@1 {r.recall_at_1:.4f}, "
            f"recall@10 {r.recall_at_10:.4f} over {r.probes} probes ({r.probe_source})"
            + (f", {len(skipped)} images skipped (no usable face)" if skipped else "")
        )

"""What the upstream distributes to kiosks: signed watchlist bundles and chip trust lists.

Files are downloaded as the service serves them (signed by their issuers; the service is only a carrier)
into a folder of the kiosk, each replaced atomically and only when its bytes changed. Watchlist bundles are
then imported by :func:`matcher.watchlist.bundle.import_bundle`, which verifies the signature against the
store's trusted keys, refuses a rollback and changes nothing on any defect; a bundle already imported is a
no-op, so every pull imports every bundle (a pull interrupted between download and import catches up).
Trust lists (master lists, deviation lists, CRLs) are only downloaded: the kiosk reads its trust folder at
start and a bad list there stops it, so moving them in stays an operator's step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk.sync.client import SyncClient, SyncError
from matcher.atomic import replace_file
from matcher.errors import MatcherError
from matcher.watchlist.bundle import import_bundle
from matcher.watchlist.store import WatchlistStore

WATCHLISTS = "/v1/watchlists"
TRUST = "/v1/trust"


@dataclass
class PullReport:
    downloaded: list[str] = field(default_factory=list)  # files whose bytes changed
    imported: list[str] = field(default_factory=list)  # "list_id vN"
    refused: list[str] = field(default_factory=list)  # "file: reason"


def download(client: SyncClient, listing: str, folder: Path) -> tuple[list[Path], list[str]]:
    """Every file the service lists under ``listing``, kept in ``folder``: (all files, names changed)."""
    try:
        names = json.loads(client.get(listing))["files"]
    except (ValueError, KeyError, TypeError):
        raise SyncError(f"GET {listing}: malformed listing") from None
    folder.mkdir(parents=True, exist_ok=True)
    files, changed = [], []
    for name in names:
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            raise SyncError(f"GET {listing}: refusing file name {name!r}")
        data = client.get(f"{listing}/{name}")
        target = folder / name
        if not target.is_file() or target.read_bytes() != data:
            replace_file(target, data)
            changed.append(name)
        files.append(target)
    return files, changed


def import_bundles(
    store: WatchlistStore, files: list[Path], trusted_keys: dict[str, Ed25519PublicKey], report: PullReport
) -> None:
    """Import each bundle; one that fails verification is refused (named in the report), the others go on."""
    for path in files:
        try:
            info, _ = import_bundle(store, path, trusted_keys)
        except MatcherError as exc:
            report.refused.append(f"{path.name}: {exc}")
        else:
            report.imported.append(f"{info.list_id} v{info.version}")


def pull(
    client: SyncClient,
    folder: Path,
    *,
    store: WatchlistStore | None = None,
    trusted_keys: dict[str, Ed25519PublicKey] | None = None,
) -> PullReport:
    """Download bundles into ``folder/watchlists`` and trust lists into ``folder/trust``; import the bundles
    into ``store`` when given (verified against ``trusted_keys``)."""
    report = PullReport()
    bundles, changed = download(client, WATCHLISTS, folder / "watchlists")
    report.downloaded += changed
    _, changed = download(client, TRUST, folder / "trust")
    report.downloaded += changed
    if store is not None:
        import_bundles(store, bundles, trusted_keys or {}, report)
    return report

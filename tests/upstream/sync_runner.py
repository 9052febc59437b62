"""Subprocess of the SIGKILL test: syncs a kiosk's outbox in small batches until it is empty, then prints
"done". usage: python sync_runner.py LOG KIOSK_ID URL KEY_FILE CA_FILE"""

from __future__ import annotations

import sys
from pathlib import Path

from kiosk.sync.client import SyncClient
from kiosk.sync.settings import SyncConfig


def main(argv: list[str]) -> int:
    log, kiosk_id, url, key_file, ca_file = argv
    config = SyncConfig(url=url, key_file=Path(key_file), ca_file=Path(ca_file), batch_size=25, timeout_s=5.0)
    with SyncClient(log, kiosk_id, config) as client:
        while True:
            report = client.drain()
            if not report.errors and client.backlog().waiting == 0:
                print("done", flush=True)
                return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Subprocess of the reliability tests: appends decisions (some with evidence, some resolved, an occasional
purge) to a log in a loop, and prints each id to stdout only after its transaction committed.

usage: python store_appender.py DB [--shared] [--count N] [--normal]   (key from EGATE_LOG_KEY)
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from kiosk.decision import Decision
from kiosk.store import DecisionLog, Evidence, KeyRing, StoreError


def main(argv: list[str]) -> int:
    path, shared = argv[0], "--shared" in argv
    count = int(argv[argv.index("--count") + 1]) if "--count" in argv else 10**9
    keys = KeyRing.from_env()
    try:
        log = DecisionLog(
            path, keys, exclusive=not shared, synchronous="NORMAL" if "--normal" in argv else "FULL"
        )
    except StoreError as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr, flush=True)
        return 2
    past = datetime.now(UTC) - timedelta(days=1)
    with log:
        for n in range(count):
            refer = n % 4 == 1
            decision = Decision(
                kiosk_id="kiosk-crash",
                outcome="REFER" if refer else "PASS",
                reason_codes=("FACE_MISMATCH",) if refer else (),
                document_number_hash=keys.hash_document_number(f"C{n:08d}", "UTO"),
                face_score=0.25 if refer else 0.7,
                face_threshold=0.36,
                quality={"n": n},
            )
            evidence = None
            if refer:  # every other one already expired, so the purges below have work to do
                evidence = Evidence(
                    live_face=b"face%d" % n, live_template=b"tpl", retain_until=past if n % 8 == 1 else None
                )
            log.append(decision, evidence=evidence)
            print(f"D {decision.id}", flush=True)
            if n % 8 == 5:
                print(f"R {log.resolve(decision.id, 'officer-9', 'ADMITTED')}", flush=True)
            if n % 50 == 49:
                log.purge()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The kiosk's side of the upstream sync: outbox -> signed batches -> acknowledgements -> ``mark_sent``.

Delivery is at least once and the service drops repeats (the record id and ``(kiosk, seq)`` are unique
upstream), so the client may resend anything it is not sure about: a row is marked sent only after the
service acknowledged it, and a crash at any point just resends the rows not marked. The client has its own
connection to the log (never the gate's), reads a batch, closes that read, talks to the service and writes
the outcome in a short transaction: no transaction spans network I/O, so the gate's appends never wait on the
network. A record the service refuses (a 4xx answer for that record) is quarantined with an alert, so it
cannot stall the records behind it; 5xx answers, time-outs and network errors are retried with exponential
back-off and jitter.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import shutil
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from kiosk.errors import KioskError
from kiosk.store.chain import canonical_json
from kiosk.store.errors import AlreadyResolvedError, StoreError
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog
from kiosk.sync.evidence import load_officer_public_key, seal_for_officer
from kiosk.sync.protocol import RECORDS_PATH, RESOLUTIONS_PATH, BatchAnswer, forbidden_keys, sign_request
from kiosk.sync.settings import SyncConfig
from matcher.signing import load_signing_key
from matcher.utc import iso_utc, utc_now

log = logging.getLogger("kiosk.sync")


class SyncError(KioskError):
    """A round did not get through; nothing was marked sent. ``retry`` says whether trying again can help
    without an operator (network, 5xx) or not (refused authentication, a replaced log)."""

    code = "SYNC_FAILED"

    def __init__(self, message: str, *, retry: bool = True, split: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        self.split = split  # the batch was refused as a whole: retry now with a smaller one


@dataclass(frozen=True)
class Backlog:
    waiting: int  # records not yet acknowledged upstream (quarantined ones excluded)
    oldest_age_s: float | None  # age of the oldest waiting record
    quarantined: int
    log_bytes: int  # the log database with its WAL
    free_bytes: int  # free space on the log's file system
    disk_low: bool
    anchor: tuple[int, str] | None  # the last head the upstream verified

    def summary(self) -> str:
        """One line for a status bar (the officer console): backlog, quarantine, low disk."""
        if self.waiting == 0:
            text = "upstream: up to date"
        else:
            age = self.oldest_age_s or 0.0
            oldest = (
                f"{age / 3600:.1f} h"
                if age >= 3600
                else f"{age / 60:.0f} min"
                if age >= 60
                else f"{age:.0f} s"
            )
            text = f"upstream: {self.waiting} waiting, oldest {oldest}"
        if self.quarantined:
            text += f"; {self.quarantined} quarantined"
        if self.disk_low:
            text += f"; LOW DISK ({self.free_bytes / 1e6:.0f} MB free)"
        return text


@dataclass
class RoundResult:
    sent: int = 0  # records acknowledged in this round
    quarantined: int = 0
    head: tuple[int, str] | None = None
    held: int = 0  # records the service holds back behind a gap


@dataclass
class SyncReport:
    sent: int = 0
    quarantined: int = 0
    rounds: int = 0
    head: tuple[int, str] | None = None
    errors: list[str] = field(default_factory=list)


def backoff_delay(failures: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential back-off with full jitter: uniform in [0.5, 1] x min(max, base x 2^(failures-1))."""
    ceiling = min(max_s, base_s * 2 ** max(0, failures - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def backlog(log_: DecisionLog, config: SyncConfig, *, now: datetime | None = None) -> Backlog:
    """The outbox backlog and the disk it sits on (what `kiosk sync status` and the console show)."""
    waiting, oldest, quarantined = log_.outbox_backlog()
    age = None
    if oldest is not None:
        age = ((now or utc_now()) - datetime.fromisoformat(oldest.replace("Z", "+00:00"))).total_seconds()
    files = [log_.path, log_.path.with_name(log_.path.name + "-wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    free = shutil.disk_usage(log_.path.parent).free
    return Backlog(
        waiting,
        age,
        quarantined,
        size,
        free,
        free < config.disk_warn_free_mb * 1024 * 1024,
        log_.upstream_anchor(),
    )


class SyncClient:
    """Sends one kiosk's outbox to the upstream. Opens the log at ``log_path`` on its own connection."""

    def __init__(
        self,
        log_path: str | Path,
        kiosk_id: str,
        config: SyncConfig,
        *,
        key: Ed25519PrivateKey | None = None,
        keys: KeyRing | None = None,
    ) -> None:
        """``keys`` (the log's key ring) is needed only to send evidence (``config.evidence_key``)."""
        if not config.enabled:
            raise KioskError("sync is not configured ([sync] url and key_file)")
        self.kiosk_id = kiosk_id
        self.config = config
        if key is None:
            assert config.key_file is not None
            if not config.key_file.is_file():
                raise KioskError(f"sync key file {config.key_file} does not exist")
            key = load_signing_key(config.key_file)
        self._key = key
        if not Path(log_path).is_file():
            raise KioskError(f"decision log {log_path} does not exist")
        self._officer_key: X25519PublicKey | None = None
        if config.evidence_key is not None:
            if keys is None:
                raise KioskError(
                    "sync.evidence_key: sending evidence needs the log's key ring (store.key_file)"
                )
            self._officer_key = load_officer_public_key(config.evidence_key)
        self.log = DecisionLog(log_path, keys, exclusive=False)
        self.batch_size = config.batch_size
        verify: ssl.SSLContext | bool = True
        if config.ca_file is not None:
            if not config.ca_file.is_file():
                self.log.close()
                raise KioskError(f"sync CA file {config.ca_file} does not exist")
            verify = ssl.create_default_context(cafile=str(config.ca_file))
        self.http = httpx.Client(base_url=config.url, verify=verify, timeout=config.timeout_s)

    def close(self) -> None:
        self.http.close()
        self.log.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _quarantine(self, record_id: str, reason: str) -> int:
        if self.log.quarantine(record_id, reason):
            log.error("sync: record %s quarantined: %s", record_id, reason)  # an alert; no record content
            return 1
        return 0

    def send_round(self) -> RoundResult:
        """Send the oldest waiting records as one batch; SyncError when the round did not get through."""
        result = RoundResult()
        items = self.log.outbox_pending(self.batch_size)
        records = []
        for item in items:
            try:
                record = json.loads(item.payload)
                canonical_json(record)  # what cannot be sent as canonical JSON would stop every batch
            except ValueError as exc:
                result.quarantined += self._quarantine(item.record_id, f"UNREADABLE: {exc}")
                continue
            found = forbidden_keys(record) if isinstance(record, dict) else set()
            if found:  # never sent: a record carrying these was built wrongly
                result.quarantined += self._quarantine(item.record_id, f"PRIVACY: holds {sorted(found)}")
            else:
                records.append(record)
        if not records:
            return result
        batch: dict[str, object] = {"log_id": self.log.log_id, "records": records}
        evidence = self._evidence(records)
        if evidence:
            batch["evidence"] = evidence
        response = self._post(RECORDS_PATH, batch)
        status = response.status_code
        if status == 200:
            try:
                answer = BatchAnswer.from_json(response.json())
            except (ValueError, KeyError, TypeError):
                raise SyncError("upstream answered 200 with a malformed body") from None
            result.sent = self.log.mark_sent(answer.acked)
            for rejected in answer.rejected:
                result.quarantined += self._quarantine(
                    rejected.record_id, f"{rejected.code}: {rejected.reason}"
                )
            self.log.set_upstream_anchor(answer.head_seq, answer.head_hash)
            result.head, result.held = (answer.head_seq, answer.head_hash), answer.held
            self.batch_size = min(self.config.batch_size, self.batch_size * 2)
            return result
        message = _error_text(response)
        if status >= 500 or status in (408, 429):
            raise SyncError(f"upstream answered {status}: {message}")
        if status in (401, 403, 409):
            # the kiosk itself is refused (not enrolled, wrong key, clock far off, a replaced log): no record
            # is at fault, so none is quarantined; an operator must act
            log.error("sync: upstream refused the kiosk (%s): %s", status, message)
            raise SyncError(f"upstream refused the kiosk ({status}): {message}", retry=False)
        if len(records) > 1:  # the batch as a whole was refused: find the record by halving
            self.batch_size = max(1, len(records) // 2)
            raise SyncError(
                f"upstream refused a batch of {len(records)} ({status}): {message}; splitting", split=True
            )
        result.quarantined += self._quarantine(records[0]["id"], f"HTTP {status}: {message}")
        return result

    def _post(self, path: str, payload: dict[str, object]) -> httpx.Response:
        """A signed POST of ``payload`` as canonical JSON; SyncError when the service cannot be reached."""
        body = canonical_json(payload).encode()
        headers = sign_request(self._key, self.kiosk_id, "POST", path, body)
        headers["content-type"] = "application/json"
        try:
            return self.http.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SyncError(f"upstream unreachable: {type(exc).__name__}: {exc}") from None

    def _evidence(self, records: list[dict]) -> dict[str, list[dict[str, str]]]:
        """Evidence of the referred decisions among ``records``, sealed to the officer service's key; none
        unless ``evidence_key`` is configured. Purged evidence is simply absent."""
        if self._officer_key is None:
            return {}
        found = {}
        for record in records:
            if record["kind"] != "decision" or record["outcome"] != "REFER" or record["evidence"] == "[]":
                continue
            items = self.log.evidence(record["id"])
            if items:
                found[record["id"]] = [
                    {
                        "kind": kind,
                        "sealed": base64.b64encode(
                            seal_for_officer(self._officer_key, data, record["id"], kind)
                        ).decode("ascii"),
                    }
                    for kind, data in sorted(items.items())
                ]
        return found

    def drain(self, *, max_rounds: int | None = None) -> SyncReport:
        """Send rounds until the outbox is empty (or ``max_rounds``); stops at the first failed round."""
        report = SyncReport()
        while max_rounds is None or report.rounds < max_rounds:
            try:
                result = self.send_round()
            except SyncError as exc:
                report.errors.append(str(exc))
                if exc.split:
                    continue  # go on at once with the smaller batch
                break
            report.rounds += 1
            report.sent += result.sent
            report.quarantined += result.quarantined
            report.head = result.head or report.head
            if result.sent == 0 and result.quarantined == 0:
                break
        return report

    def backlog(self) -> Backlog:
        return backlog(self.log, self.config)

    def pull_resolutions(self) -> int:
        """Chain the resolutions officers made upstream for this kiosk's cases into its log, each under its
        upstream id (the outbox sends the chained copy back and the upstream recognises it), so a gate
        holding the traveller acts on it. One the log refuses because its own console closed the case first
        is skipped: the log's resolution stands and, once sent, marks the upstream one overtaken. The
        request also reports the outbox backlog for the officers' view of the gate. Returns the number
        newly chained; SyncError when the service could not be asked."""
        response = self._post(RESOLUTIONS_PATH, {"backlog": self.log.outbox_backlog()[0]})
        if response.status_code != 200:
            raise SyncError(
                f"pulling resolutions: upstream answered {response.status_code}: {_error_text(response)}"
            )
        try:
            pulled = [
                (r["id"], r["decision_id"], r["officer"], r["resolution"], r["reason_code"], r["note"],
                 datetime.fromisoformat(r["time_utc"]))
                for r in response.json()["resolutions"]
            ]  # fmt: skip
        except (ValueError, KeyError, TypeError):
            raise SyncError("pulling resolutions: upstream answered 200 with a malformed body") from None
        chained = 0
        for resolution_id, decision_id, officer, resolution, reason_code, note, when in pulled:
            before = self.log.head()
            try:
                self.log.resolve(
                    decision_id,
                    officer,
                    resolution,
                    note,
                    reason_code=reason_code,
                    now=when,
                    resolution_id=resolution_id,
                )
            except AlreadyResolvedError as exc:  # this kiosk's console closed it first: its resolution stands
                log.warning("sync: resolution %s of case %s overtaken: %s", resolution_id, decision_id, exc)
                continue
            except StoreError as exc:  # an unknown case or a malformed resolution: never chained
                log.error("sync: resolution %s from upstream refused: %s", resolution_id, exc)
                continue
            chained += self.log.head() != before
        return chained

    def get(self, path: str) -> bytes:
        """A signed GET of ``path``; SyncError unless the service answers 200."""
        headers = sign_request(self._key, self.kiosk_id, "GET", path, b"")
        try:
            response = self.http.get(path, headers=headers)
        except httpx.HTTPError as exc:
            raise SyncError(f"upstream unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise SyncError(f"GET {path}: upstream answered {response.status_code}: {_error_text(response)}")
        return response.content


class SyncWorker:
    """The background sync of a running kiosk: a daemon thread draining the outbox, backing off with jitter
    while the upstream is away. ``notify()`` wakes it after an append; ``status()`` is for the console."""

    def __init__(
        self, log_path: str | Path, kiosk_id: str, config: SyncConfig, *, keys: KeyRing | None = None
    ) -> None:
        self._client = SyncClient(log_path, kiosk_id, config, keys=keys)
        self._config = config
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failures = 0
        self.last_error: str | None = None
        self.last_success_utc: str | None = None
        self._disk_warned = -1e9
        self._thread = threading.Thread(target=self._run, name="kiosk-sync", daemon=True)

    def start(self) -> SyncWorker:
        self._thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._client.close()

    def status(self) -> Backlog:
        return self._client.backlog()

    def _warn_disk(self) -> None:
        """While offline the outbox grows: warn (at most every 10 minutes) once free space runs low."""
        now = time.monotonic()
        if now - self._disk_warned < 600:
            return
        try:
            state = self._client.backlog()
        except KioskError:
            return
        if state.disk_low:
            self._disk_warned = now
            log.warning(
                "sync: %.0f MB free beside the decision log, %d records waiting (oldest %.0f s)",
                state.free_bytes / 1e6,
                state.waiting,
                state.oldest_age_s or 0.0,
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self._client.drain()
                if not report.errors and self._client.pull_resolutions():
                    self._wake.set()  # send the resolutions just chained back at once
            except SyncError as exc:
                report = SyncReport(errors=[str(exc)])
            except Exception as exc:  # the log failed (busy, disk) or a bug: never a silently dead sync
                log.exception("sync: round failed")
                report = SyncReport(errors=[f"{type(exc).__name__}: {exc}"])
            if report.sent:
                self.last_success_utc = iso_utc(utc_now())
            self._warn_disk()
            if report.errors:
                self._failures += 1
                self.last_error = report.errors[-1]
                delay = backoff_delay(self._failures, self._config.interval_s, self._config.max_backoff_s)
                log.warning("sync: %s; retrying in %.1f s", self.last_error, delay)
                self._stop.wait(delay)  # appends do not cut a back-off short
                self._wake.clear()
            else:
                self._failures = 0
                self._wake.wait(self._config.interval_s)
                self._wake.clear()


def start_worker(
    log_path: str | Path | None, kiosk_id: str, config: SyncConfig, *, keys: KeyRing | None = None
) -> SyncWorker | None:
    """The background sync of ``kiosk run``: started when ``[sync] url`` is set and a log is kept, else None.
    A configured sync whose key, CA file or log is missing stops the kiosk at start (never silently off)."""
    if not config.enabled or log_path is None:
        return None
    return SyncWorker(log_path, kiosk_id, config, keys=keys).start()


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:300]
    except ValueError:
        return response.text[:300]


def run_once(
    log_path: str | Path, kiosk_id: str, config: SyncConfig, *, keys: KeyRing | None = None
) -> tuple[SyncReport, Backlog]:
    """``kiosk sync once``: drain the outbox now and chain the resolutions made upstream; the report and
    the backlog left."""
    with SyncClient(log_path, kiosk_id, config, keys=keys) as client:
        report = client.drain()
        if not report.errors:
            try:
                if client.pull_resolutions():  # chained now: send them back in the same run
                    more = client.drain()
                    report.sent += more.sent
                    report.errors += more.errors
            except SyncError as exc:
                report.errors.append(str(exc))
        return report, client.backlog()

"""The commands end to end: `kiosk upstream serve` as its own process (TLS from the configured files, one
line and exit 1 without them), enrolment, `kiosk sync once|status|keygen`, the anchor into `verify-log`, the
service restarted between two syncs."""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from upstream_helpers import Tls, new_kiosk

from kiosk.upstream.db import UpstreamDB

KIOSK = str(Path(sys.executable).parent / "kiosk")


def _kiosk(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([KIOSK, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _service_toml(path: Path, database: str, port: int, cert: Path, key: Path) -> Path:
    path.write_text(
        f'[upstream]\ndatabase = "{database}"\nlisten = "127.0.0.1:{port}"\n'
        f'tls_cert = "{cert}"\ntls_key = "{key}"\nconfig_version = "v7"\n'
    )
    return path


def _serve(config: Path, port: int, ca: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [KIOSK, "upstream", "serve", "--config", str(config)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context(cafile=str(ca)))
            return process
        except httpx.HTTPError:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.2)
    raise AssertionError("the service did not come up")


def test_serve_refuses_to_start_without_its_certificate(tmp_path: Path, tls: Tls) -> None:
    config = _service_toml(
        tmp_path / "upstream.toml",
        f"sqlite://{tmp_path / 'u.db'}",
        _free_port(),
        tmp_path / "none.pem",
        tls.key,
    )
    done = _kiosk("upstream", "serve", "--config", str(config), check=False)
    assert done.returncode == 2  # the console's exit status for an expected failure
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "none.pem does not exist" in lines[0] and "never makes one up" in lines[0]
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    config = _service_toml(tmp_path / "upstream.toml", f"sqlite://{tmp_path / 'u.db'}", 1, bad, tls.key)
    done = _kiosk("upstream", "serve", "--config", str(config), check=False)
    assert done.returncode == 2 and "unusable" in done.stderr + done.stdout


def test_enrol_serve_sync_restart_and_anchor(backend: str, db: UpstreamDB, tls: Tls, tmp_path: Path) -> None:
    port = _free_port()
    config = _service_toml(tmp_path / "upstream.toml", backend, port, tls.cert, tls.key)
    kiosk = new_kiosk(db, tmp_path / "k", "gate-cli", enrol=False)
    private, public = tmp_path / "sync.key", tmp_path / "sync.pub"
    assert "wrote" in _kiosk("sync", "keygen", str(private), str(public)).stdout
    enrol = ("upstream", "kiosk", "add", "--config", str(config), "--id", "gate-cli")
    added = _kiosk(*enrol, "--public-key", str(public))
    assert "enrolled kiosk gate-cli" in added.stdout
    again = _kiosk(*enrol, "--public-key", str(public), check=False)
    assert again.returncode == 2 and "already enrolled" in again.stdout + again.stderr
    kiosk_toml = tmp_path / "kiosk.toml"
    kiosk_toml.write_text(
        f'[kiosk]\nid = "gate-cli"\n[store]\npath = "{kiosk.log_path}"\n'
        f'[sync]\nurl = "https://127.0.0.1:{port}"\nkey_file = "{private}"\nca_file = "{tls.ca}"\n'
    )
    kiosk.append(120)
    status = _kiosk("sync", "status", "--config", str(kiosk_toml)).stdout
    assert "backlog: 120 waiting" in status and "anchor (verify-log --expect-head): none yet" in status
    down = _kiosk("sync", "once", "--config", str(kiosk_toml), check=False)  # no service yet
    assert down.returncode == 1 and "unreachable" in down.stdout

    service = _serve(config, port, tls.ca)
    try:
        once = _kiosk("sync", "once", "--config", str(kiosk_toml)).stdout
        assert "sent 120 record(s)" in once and "backlog: 0 waiting" in once
        service.send_signal(signal.SIGTERM)
        assert service.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutdown
        kiosk.append(30)
        service = _serve(config, port, tls.ca)
        once = _kiosk("sync", "once", "--config", str(kiosk_toml)).stdout
        assert "sent 30 record(s)" in once
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
    anchor = once.split("--expect-head): ")[1].split()[0]
    assert anchor.startswith("150:")
    assert "ok: 150 rows" in _kiosk("verify-log", str(kiosk.log_path), "--expect-head", anchor).stdout
    assert db.head("gate-cli")[0] == 150 and len(db.record_ids("gate-cli")) == 150
    assert '"head_seq": 150' in _kiosk("upstream", "status", "--config", str(config)).stdout

"""``kiosk run`` opens the traveller kiosk when the configuration's [ui] mode says so (offscreen here), serves
a traveller on folder devices, and stops cleanly on SIGTERM; --headless keeps the screenless loop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.store import DecisionLog
from tests.gate.run_setup import GENUINE, write_run_setup
from tests.ui.gate_helpers import process_gone

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _kiosk(*args: str) -> subprocess.Popen[str]:
    script = Path(sys.executable).with_name("kiosk")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c", "from kiosk.cli import main; main()"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@contextlib.contextmanager
def _ready_kiosk(config: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``kiosk run --config config`` under a systemd notify socket, yielded once it has said READY=1 (its
    standard error a pipe); killed when the block ends."""
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(120)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
        env["NOTIFY_SOCKET"] = address
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("kiosk")), "run", "--config", str(config)],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert sock.recv(4096).decode().startswith("READY=1")
            yield proc
        finally:
            proc.kill()
            proc.wait()


def _gate_workers(pid: int) -> list[int]:
    """The gate worker processes (multiprocessing's spawned children) of the kiosk process ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _window_setup(demo_setup, folder: Path, labels: tuple[str, ...], hold_s: float) -> Path:
    return write_run_setup(demo_setup, folder, labels, hold_s=hold_s, extra='[ui]\nmode = "window"\n')


def test_run_opens_the_traveller_kiosk_from_the_configuration(demo_setup, tmp_path: Path) -> None:
    config = _window_setup(demo_setup, tmp_path, (GENUINE,), 0.5)
    proc = _kiosk("run", "--config", str(config), "--windowed")
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "done" / "01-collins").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.2)
        workers = _gate_workers(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert len(workers) == 1 and process_gone(workers[0])  # the gate's worker stopped with the kiosk
    assert out == ""  # the window, not the terminal, speaks to the traveller
    with DecisionLog(tmp_path / "var" / "decisions.sqlite", readonly=True) as log:
        assert log.head()[0] == 1 and log.verify().ok


def test_headless_overrides_the_window_mode(demo_setup, tmp_path: Path) -> None:
    config = _window_setup(demo_setup, tmp_path, (GENUINE,), 0.0)
    proc = _kiosk("run", "--config", str(config), "--headless", "--max-transactions", "1")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.startswith("PASS") and "served 1 traveller(s)" in err


def test_full_screen_on_an_x_server_without_a_window_manager(demo_setup, tmp_path: Path) -> None:
    """The kiosk session without a desktop: Xvfb, no window manager, `kiosk run` full screen (xcb)."""
    display = f":{90 + os.getpid() % 9}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x1280x24", "-nolisten", "tcp"])
    try:
        time.sleep(1.0)
        assert xvfb.poll() is None, "Xvfb did not start"
        config = _window_setup(demo_setup, tmp_path, (GENUINE,), 0.5)
        env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display, "PYTHONPATH": str(REPO)}
        script = Path(sys.executable).with_name("kiosk")
        proc = subprocess.Popen(
            [str(script), "run", "--config", str(config)], stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            deadline = time.monotonic() + 120
            while not (tmp_path / "done" / "01-collins").exists() and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.2)
            tree = subprocess.run(
                ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True, check=True
            ).stdout
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == 0, err
        window = next(line for line in tree.splitlines() if '"e-gate"' in line)
        assert "1024x1280+0+0" in window, window  # the whole screen, no frame: nothing to touch outside it
    finally:
        xvfb.terminate()
        xvfb.wait()


def test_screenshots_of_a_real_x_window(tmp_path: Path, output_dir: Path, qm_dir: Path) -> None:
    """The screens on a real X server (Xvfb), grabbed from the X screen itself."""
    from PySide6.QtGui import QImage

    display = f":{80 + os.getpid() % 9}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x1280x24", "-nolisten", "tcp"])
    try:
        time.sleep(1.0)
        env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display, "PYTHONPATH": str(REPO)}
        script = Path(__file__).with_name("xvfb_screenshots.py")
        subprocess.run(
            [sys.executable, str(script), str(output_dir), str(qm_dir)], env=env, check=True, timeout=60
        )
    finally:
        xvfb.terminate()
        xvfb.wait()
    for name in ("xvfb-en-welcome", "xvfb-ar-welcome", "xvfb-ar-camera", "xvfb-fr-officer"):
        image = QImage(str(output_dir / f"{name}.png"))
        assert (image.width(), image.height()) == (1024, 1280), name
        assert len({image.pixel(x, y) for x in range(0, 1024, 64) for y in range(0, 1280, 64)}) > 3, name


def test_sigterm_as_soon_as_it_is_ready_stops_it(demo_setup, tmp_path: Path) -> None:
    """systemd may stop the kiosk the moment it says READY, before Qt's event loop runs: it still stops."""
    with _ready_kiosk(_window_setup(demo_setup, tmp_path, (), 0.0), tmp_path) as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_killed_kiosk_leaves_no_gate_worker_behind(demo_setup, tmp_path: Path) -> None:
    """SIGKILL on the kiosk (no chance to stop its worker): the worker sees its pipe close, closes the gate
    and exits (a restarted kiosk then finds its decision log free)."""
    with _ready_kiosk(_window_setup(demo_setup, tmp_path, (), 0.0), tmp_path) as proc:
        workers = _gate_workers(proc.pid)
        assert len(workers) == 1
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while not process_gone(workers[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process_gone(workers[0]), "the gate worker outlived the kiosk"


def test_systemds_stop_of_the_whole_control_group_stops_the_kiosk_cleanly(demo_setup, tmp_path: Path) -> None:
    """systemd stops a unit by SIGTERM to every process of it, the gate worker too, in no set order: the
    worker leaves the stopping to the kiosk (never dies in the middle of a step, is never taken for dead and
    replaced), and the kiosk stops it and exits 0."""
    with _ready_kiosk(_window_setup(demo_setup, tmp_path, (), 0.0), tmp_path) as proc:
        (worker,) = _gate_workers(proc.pid)
        os.kill(worker, signal.SIGTERM)  # reaching the worker first
        time.sleep(1.0)
        assert not process_gone(worker) and _gate_workers(proc.pid) == [worker]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "gate worker" not in err, err  # not taken for dead, no second worker
    assert process_gone(worker)

"""The kiosk session unit: Cage on tty1 running the traveller kiosk, restarted on a crash or a hang.

The unit is checked by systemd-analyze, and its command is run: Cage on a headless wlroots backend (no
display hardware: an output in memory), as an unprivileged user (Cage refuses root), the traveller kiosk in it
on Qt's Wayland platform, its READY=1 received on a notify socket as systemd would, the screen grabbed with
grim. Then the kiosk is killed (SIGKILL): Cage ends with its only application, and the session is started
again after the unit's ``RestartSec``, as systemd's ``Restart=always`` does (systemd itself is not PID 1 in
a container, so that one step is the test's); the time from the kill to the welcome page on screen is
printed."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "egate-traveller.service"
REPO = Path(__file__).resolve().parents[2]
SESSION_USER = "egate-session-test"  # Cage refuses to run as root: the session runs as this user
PAPER = (0x0B, 0x25, 0x45)  # the pages' background (kiosk.ui.theme.PAPER)
ACCENT = (0xFF, 0xD4, 0x47)  # the primary buttons' yellow (kiosk.ui.theme.ACCENT)


def test_the_session_unit_is_valid_for_systemd() -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze (Debian package systemd) is needed"
    result = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_session_shows_one_full_screen_application_and_comes_back() -> None:
    unit = UNIT.read_text()
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start.startswith("ExecStart=/usr/bin/cage -d -- ") and " -s " not in start  # no VT switching
    assert start.endswith("kiosk run --config /etc/egate/kiosk.toml")
    for line in ("Restart=always", "RestartSec=1", "WatchdogSec=5", "NotifyAccess=all", "Type=notify"):
        assert line in unit.splitlines(), line
    assert "egate-kiosk.service" in next(line for line in unit.splitlines() if line.startswith("Conflicts="))


# ----- the session, run ---------------------------------------------------------------------------------
def _unit_values() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values.setdefault(key, []).append(value)
    return values


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


@pytest.fixture(scope="module")
def session_user() -> pwd.struct_passwd | None:
    """The unprivileged user the session runs as; None: the tests run unprivileged themselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SESSION_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SESSION_USER],
            check=True,
        )
        return pwd.getpwnam(SESSION_USER)


def _as(user: pwd.struct_passwd | None) -> list[str]:
    return ["runuser", "-u", user.pw_name, "--"] if user is not None else []


def _kiosk_command(root: Path, user: pwd.struct_passwd | None) -> Path:
    """What the unit's /opt/egate/.venv/bin/kiosk is: this checkout's kiosk. A virtual environment made from
    a Python the session user cannot reach (e.g. under /root) is run with the system's Python 3 of the same
    version and the environment's packages on the path."""
    python = Path(sys.executable)
    probe = subprocess.run([*_as(user), str(python), "-c", "pass"], capture_output=True)
    if probe.returncode != 0:
        python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    paths = ":".join([str(REPO), *(p for p in sys.path if p.endswith("site-packages"))])
    script = root / "kiosk"
    script.write_text(
        f'#!/bin/sh\nPYTHONPATH="{paths}" exec {python} -c "from kiosk.cli import main; main()" "$@"\n'
    )
    script.chmod(0o755)
    return script


class Session:
    """The unit's ExecStart and Environment, run on a headless wlroots backend with a notify socket standing
    in for systemd's; ``start`` again is what ``Restart=always`` does after ``RestartSec``."""

    def __init__(self, root: Path, config: Path, key_file: Path, user: pwd.struct_passwd | None) -> None:
        unit = _unit_values()
        assert unit["Restart"] == ["always"]
        self.restart_s = float(unit["RestartSec"][0])
        command = unit["ExecStart"][0].replace("/opt/egate/.venv/bin/kiosk", str(_kiosk_command(root, user)))
        self.argv = command.replace("/etc/egate/kiosk.toml", str(config)).split()
        environment = dict(e.split("=", 1) for e in unit["Environment"])
        environment["EGATE_LOG_KEY_FILE"] = str(key_file)  # /etc/egate/log.key in the unit
        runtime = root / "runtime"
        runtime.mkdir(mode=0o700)
        self.notify_path = root / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.notify_path))
        self.notify_path.chmod(0o777)
        if user is not None:
            subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(root)], check=True)
        self.user = user
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(root),
            "XDG_RUNTIME_DIR": str(runtime),
            "WLR_BACKENDS": "headless",
            "WLR_LIBINPUT_NO_DEVICES": "1",
            "WLR_RENDERER": "pixman",  # no GPU
            "NOTIFY_SOCKET": str(self.notify_path),
            **environment,
        }
        self.log = root / "session.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = ["env", "-i", *(f"{k}={v}" for k, v in self.env.items())]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*_as(self.user), *env, *self.argv], stdout=log, stderr=log)

    def wait_ready(self, timeout_s: float = 240.0) -> None:
        """Until the kiosk says READY=1, as it does to systemd once its gate is stepping."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, min(0.5, end - time.monotonic())))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                assert self.alive(), f"the session ended: {self.log.read_text()[-3000:]}"
                continue
            if "READY=1" in message.splitlines():
                return
        raise AssertionError(f"the kiosk never said READY=1: {self.log.read_text()[-3000:]}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def screen(self) -> np.ndarray:
        """The compositor's output now (grim over wlr-screencopy), H x W x 3 RGB."""
        env = ["env", f"XDG_RUNTIME_DIR={self.env['XDG_RUNTIME_DIR']}", "WAYLAND_DISPLAY=wayland-0"]
        grab = subprocess.run(
            [*_as(self.user), *env, "grim", "-t", "ppm", "-"], capture_output=True, timeout=30
        )
        assert grab.returncode == 0, grab.stderr.decode()
        _, width, height, _ = grab.stdout.split(maxsplit=4)[:4]  # P6 header; the pixels are the tail
        w, h = int(width), int(height)
        return np.frombuffer(grab.stdout[-w * h * 3 :], np.uint8).reshape(h, w, 3)

    def wait_screen(self, shown: Callable[[np.ndarray], bool], timeout_s: float = 120.0) -> np.ndarray:
        """Until the screen shows what ``shown`` looks for."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            screen = self.screen()
            if shown(screen):
                return screen
            time.sleep(0.1)
        cv2.imwrite(str(self.log.with_suffix(".png")), screen[:, :, ::-1])
        raise AssertionError(
            f"not on the screen (last: {self.log.with_suffix('.png')}): {self.log.read_text()[-2000:]}"
        )

    def kiosk_pid(self) -> int:
        assert self.process is not None
        found = [p for p in _descendants(self.process.pid) if "kiosk.cli" in _cmdline(p)]
        assert len(found) == 1, found
        return found[0]

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            for pid in reversed(_descendants(self.process.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in _descendants(self.process.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.kill()
                self.process.wait()


def _share(screen: np.ndarray, colour: tuple[int, int, int]) -> float:
    return float((np.abs(screen.astype(int) - np.array(colour)).max(axis=2) < 12).mean())


def _welcome(screen: np.ndarray) -> bool:
    """The welcome page over the whole output: the pages' background blue, and the yellow Start button
    (no other page has that much yellow: the progress dots are the only other yellow)."""
    return _share(screen, PAPER) > 0.5 and _share(screen, ACCENT) > 0.005


@pytest.mark.slow
def test_the_session_runs_under_cage_and_is_back_at_welcome_after_a_crash(
    session_user, engine, output_dir
) -> None:
    from kiosk.lab.demo import build_demo, write_demo_config

    for tool in ("cage", "grim", "Xwayland"):
        assert shutil.which(tool), f"{tool} is needed (packaging/setup.sh --test installs it)"
    root = Path(tempfile.mkdtemp(prefix="egate-cage-session-"))  # pytest's own folder is root's alone
    root.chmod(0o755)
    demo = root / "demo"
    config = write_demo_config(build_demo(demo, engine), demo)
    shutil.rmtree(demo / "reader")  # no passport on the reader: the kiosk waits at welcome
    (demo / "reader").mkdir()
    config.write_text(config.read_text() + '\n[ui]\nmode = "window"\nspeech = false\n')
    session = Session(root, config, demo / "log.key", session_user)
    try:
        started = time.monotonic()
        session.start()
        session.wait_ready()
        first = session.wait_screen(_welcome)
        print(f"session start -> welcome: {time.monotonic() - started:.1f} s")
        assert first.shape[:2] == (720, 1280)  # the headless output, all of it the kiosk's window
        cv2.imwrite(str(output_dir / "cage-welcome.png"), first[:, :, ::-1])

        crashed = session.kiosk_pid()
        killed_at = time.monotonic()
        os.kill(crashed, signal.SIGKILL)
        assert session.process is not None
        session.process.wait(timeout=30)  # Cage ends with its only application: systemd sees the unit fail
        cage_gone = time.monotonic() - killed_at
        time.sleep(session.restart_s)  # RestartSec, then systemd starts the unit again (Restart=always)
        session.start()
        session.wait_ready()
        session.wait_screen(lambda screen: bool(np.abs(screen.astype(int) - first).mean() < 2.0))
        back = time.monotonic() - killed_at
        assert session.kiosk_pid() != crashed
        print(
            f"kiosk SIGKILL -> Cage gone {cage_gone:.2f} s -> welcome on screen again {back:.1f} s "
            f"(RestartSec {session.restart_s:g} s included)"
        )
    finally:
        session.stop()
        session.sock.close()
        if sys.exc_info()[0] is None:
            shutil.rmtree(root, ignore_errors=True)

"""systemd service notifications (``sd_notify``): readiness, status and watchdog pings, without a library.

Does nothing when the process was not started by systemd with ``Type=notify`` (no ``NOTIFY_SOCKET``)."""

from __future__ import annotations

import os
import socket
import time


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``, ``STATUS=...``, ``WATCHDOG=1``) to systemd; False when not
    supervised. A socket error is not fatal to the kiosk: systemd then restarts it by its watchdog."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


class Watchdog:
    """Pings systemd at half the unit's ``WatchdogSec`` (``WATCHDOG_USEC``) when :meth:`tick` is called
    from the kiosk's main loop: a loop that stops turning (a hung device) stops the pings, and systemd
    restarts the service."""

    def __init__(self) -> None:
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self.interval = usec / 2e6
        self._last = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if self.interval and now - self._last >= self.interval:
            notify("WATCHDOG=1")
            self._last = now

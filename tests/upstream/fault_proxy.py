"""A small fault-injecting proxy between a kiosk and the service, for the tests.

It terminates the kiosk's TLS with the test server certificate and opens its own TLS connection to the
service, so it sees each HTTP/1.1 request and can, per request: drop the connection, reset it halfway through
the body, answer 500 itself, hold the request beyond the kiosk's time-out and deliver it late (a reordered,
then duplicated delivery), forward it and lose the answer (acknowledgement lost after the commit), or
deliver it twice.
"""

from __future__ import annotations

import contextlib
import random
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from pathlib import Path

FAULTS = ("drop", "reset", "error500", "delay", "lost_ack", "duplicate")


def _read_message(stream) -> tuple[bytes, bytes] | None:  # type: ignore[no-untyped-def]
    """(head, body) of one HTTP/1.1 message with a Content-Length (or none), or None at end of stream."""
    lines = []
    while True:
        line = stream.readline(65537)
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    head = b"".join(lines)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = stream.read(length) if length else b""
    return head, body


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        cert: Path,
        key: Path,
        ca: Path,
        *,
        rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        delay_s: float = 2.0,
        seed: int = 7,
    ) -> None:
        self.upstream_port = upstream_port
        self.rate, self.faults, self.delay_s = rate, faults, delay_s
        self.rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self._server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_ctx.load_cert_chain(cert, key)
        self._client_ctx = ssl.create_default_context(cafile=str(ca))
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self.sock.close()

    def _choose(self, is_batch: bool) -> str | None:
        with self._lock:
            if not is_batch or self.rng.random() >= self.rate:
                return None
            fault = self.rng.choice(self.faults)
            self.injected[fault] += 1
            return fault

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, raw_client: socket.socket) -> None:
        try:
            client = self._server_ctx.wrap_socket(raw_client, server_side=True)
        except (OSError, ssl.SSLError):
            _reset(raw_client)
            return
        upstream: ssl.SSLSocket | None = None
        try:
            upstream = self._client_ctx.wrap_socket(
                socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30),
                server_hostname="127.0.0.1",
            )
            from_client, from_upstream = client.makefile("rb"), upstream.makefile("rb")
            while True:
                request = _read_message(from_client)
                if request is None:
                    return
                head, body = request
                fault = self._choose(head.startswith(b"POST "))
                if fault == "drop":
                    return
                if fault == "reset":
                    upstream.sendall(head + body[: len(body) // 2])
                    _reset(upstream)
                    _reset(client)
                    return
                if fault == "error500":
                    client.sendall(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
                    continue
                if fault == "delay":
                    time.sleep(self.delay_s)  # the kiosk has given up; the request still arrives, late
                upstream.sendall(head + body)
                answer = _read_message(from_upstream)
                if answer is None:
                    return
                if fault == "duplicate":
                    upstream.sendall(head + body)
                    _read_message(from_upstream)  # the copy: refused as a replay (same nonce)
                if fault in ("delay", "lost_ack"):
                    _reset(client)
                    return
                client.sendall(answer[0] + answer[1])
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            _reset(client)
            if upstream is not None:
                _reset(upstream)

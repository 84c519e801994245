"""The egress guard: an HTTP proxy on loopback that refuses every request and remembers it.

Tests point ``HTTPS_PROXY``/``HTTP_PROXY`` at it (with ``NO_PROXY`` for loopback), so a client library
that tries to reach Microsoft's cloud — a missed ``instance_discovery=False`` — fails loudly here
instead of leaving the machine.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Refuse(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        self.server.attempts.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        body = b"egress blocked by the Consentry test suite"
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_CONNECT = do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _refuse

    def log_message(self, *args: object) -> None:
        pass


class EgressGuard:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
        self.server.attempts = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def attempts(self) -> list[str]:
        return self.server.attempts  # type: ignore[attr-defined,no-any-return]

    def start(self) -> EgressGuard:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

"""A real SMTP server for tests (aiosmtpd on loopback) that keeps every message it accepts, and a local CA
(trustme) for its TLS.

    with SmtpSink() as sink:                     # plain SMTP on 127.0.0.1, a free port
        ... deliver to sink.url ...
        sink.messages                            # parsed messages, in order of arrival
        sink.count_by_message_id()               # how many times each Message-ID arrived

``SmtpSink(port=p)`` listens on a given port (reserve one with :func:`free_port` to test "SMTP down, then
up"); ``tls=LocalCa(...)`` with ``implicit_tls=True`` serves SMTPS, else offers STARTTLS; ``users`` turns on
authentication (AUTH PLAIN and LOGIN, or only ``mechanisms``), required before MAIL FROM.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

MECHANISMS = ("PLAIN", "LOGIN")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalCa:
    """A CA and a server certificate for 127.0.0.1 and localhost, with the CA written to ``ca_path``."""

    directory: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.server_cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = self.directory / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None
    starttls: bool  # the session was upgraded with STARTTLS (aiosmtpd does not see implicit TLS)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.delay:
            time.sleep(self.sink.delay)  # a slow server: lets concurrent senders overlap
        message = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with self.sink.lock:
            self.sink.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, login,
                                               bool(session.ssl)))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port: int | None = None, *, tls: LocalCa | None = None, implicit_tls: bool = False,
                 users: dict[str, str] | None = None, mechanisms: tuple[str, ...] = MECHANISMS,
                 delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.users = users
        self.delay = delay
        self.lock = threading.Lock()
        self.received: list[Received] = []
        kwargs: dict[str, Any] = {}
        if tls is not None and implicit_tls:
            kwargs["ssl_context"] = tls.server_context()
        elif tls is not None:
            kwargs["tls_context"] = tls.server_context()
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_exclude_mechanism=[m for m in MECHANISMS if m not in mechanisms],
                          # aiosmtpd only knows of TLS it started itself (STARTTLS); SMTPS is TLS throughout.
                          auth_require_tls=not implicit_tls)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and self.users is not None
              and self.users.get(data.login.decode()) == data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]

    def count_by_message_id(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

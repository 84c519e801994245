"""The SMTP adapter of the Mailer port (stdlib :mod:`smtplib`): the only SMTP in Consentry.

The server is one URL (``--smtp-url`` / ``CONSENTRY_SMTP_URL``)::

    smtp://host[:port]                  plain SMTP (default port 25)
    smtp://host[:port]?starttls=1       upgraded with STARTTLS before anything else (default port 25)
    smtp+starttls://host[:port]         STARTTLS (default port 587)
    smtps://host[:port]                 implicit TLS, "SMTP submission over TLS" (default port 465)

    user:password@                      authenticate (AUTH PLAIN or LOGIN, whichever the server offers);
                                        percent-encode reserved characters: p%40ss for p@ss (ASCII only:
                                        smtplib sends credentials as ASCII)
    ?from=Name%20%3Caddr%40host%3E      the sender, overriding CONSENTRY_SMTP_FROM

TLS always verifies the server's certificate and host name, against the system's trust store, or only the
CA certificates in ``CONSENTRY_SMTP_CA_FILE`` when that is set; a server that does not offer STARTTLS when it
was asked for is a failed attempt, never a silent downgrade. Credentials are refused over a plain
connection to anything but a loopback address. The password is never logged, shown or put in an error.

Each message goes out on its own connection (connect, optional STARTTLS, optional AUTH, one transaction,
QUIT), with ``timeout`` seconds for the connection and each command.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
from email.charset import QP, Charset
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, unquote, urlsplit

from consentry.domain.clock import Clock, SystemClock
from consentry.domain.mail import OutgoingMail
from consentry.errors import INVALID_VALUE, ConsentryError

PLAIN = "plain"
STARTTLS = "starttls"
TLS = "tls"
DEFAULT_PORTS = {PLAIN: 25, STARTTLS: 587, TLS: 465}
SCHEMES = {"smtp": PLAIN, "smtp+starttls": STARTTLS, "smtps": TLS}
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
QUERY_KEYS = frozenset({"starttls", "from"})
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in transit, unlike base64


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def parse_sender(value: str) -> Address:
    """``Name <addr@host>`` or ``addr@host`` as an address (the display name may be any Unicode)."""
    name, addr = parseaddr(value.strip())
    try:
        address = Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError, TypeError, HeaderParseError) as exc:
        raise _invalid(f"The mail sender '{value[:100]}' is not an address such as "
                       "'Consentry <no-reply@example.com>'.") from exc
    if not address.username or not address.domain:
        raise _invalid(f"The mail sender '{value[:100]}' is not an address such as "
                       "'Consentry <no-reply@example.com>'.")
    return address


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_message(mail: OutgoingMail, message_id: str, sender: Address, date_header: str) -> Message:
    """A ``multipart/alternative`` message (plain text first, then HTML, both UTF-8 quoted-printable) with
    the given Message-ID.

    Non-ASCII subjects and display names become RFC 2047 encoded words. (The legacy ``email.header`` API
    does this: the modern EmailMessage loses the space between two encoded words when it folds a long
    subject.) Line breaks in the subject are folded into spaces, so that text from the directory (an
    app's name) cannot add headers."""
    subject = " ".join(mail.subject.split())
    message = MIMEMultipart("alternative")
    message["Message-ID"] = message_id
    message["Date"] = date_header
    message["From"] = formataddr((sender.display_name, sender.addr_spec), charset="utf-8")
    message["To"] = ascii_address(mail.recipient)
    # A Header object (str in typeshed's signature) is folded by the legacy folder, which keeps the spaces.
    message["Subject"] = cast(str, Header(subject, "us-ascii" if subject.isascii() else "utf-8"))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to notifications
    for body, subtype in ((mail.text, "plain"), (mail.html, "html")):
        part = MIMENonMultipart("text", subtype)
        del part["MIME-Version"]
        part.set_payload(body, _UTF8)
        message.attach(part)
    return message


def ascii_address(address: str) -> str:
    """A recipient as SMTP without the SMTPUTF8 extension takes it: the domain in IDNA (xn--) form. A local
    part outside ASCII, or anything that is not one address, raises ValueError (a failed attempt)."""
    name, addr = parseaddr(address)
    local, at, domain = addr.rpartition("@")
    if name or addr != address.strip() or not at or not local or not domain or any(c in address for c in "\r\n"):
        raise ValueError("the recipient is not an e-mail address")
    if not local.isascii():
        raise ValueError("the recipient's address is not ASCII (SMTPUTF8 is not supported)")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


class SmtpMailer:
    """Delivers one message per :meth:`send` to one SMTP server; raises on any failure."""

    def __init__(self, host: str, port: int, *, security: str = PLAIN, username: str | None = None,
                 password: str | None = None, sender: Address, timeout: float = 30.0,
                 ca_file: Path | None = None, clock: Clock | None = None) -> None:
        if security not in DEFAULT_PORTS:
            raise ValueError(f"unknown SMTP security {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password or ""
        self.sender = sender
        self.timeout = timeout
        self.ca_file = ca_file
        self.clock: Clock = clock or SystemClock()
        self._tls: ssl.SSLContext | None = None
        self._local_hostname: str | None = None

    @classmethod
    def from_url(cls, url: str, sender: str, *, ca_file: Path | None = None, timeout: float = 30.0,
                 clock: Clock | None = None) -> SmtpMailer:
        """A mailer for the server at ``url`` (the forms are in the module's docstring), sending as
        ``sender`` unless the URL's ``?from=`` says otherwise. Raises ConsentryError (invalid value) for a
        URL, sender or CA file that cannot work; the message never contains the password."""
        parts = urlsplit(url.strip())
        security = SCHEMES.get(parts.scheme.lower())
        if security is None:
            raise _invalid("The SMTP URL must begin with smtp://, smtp+starttls:// or smtps://.")
        try:
            port = parts.port
        except ValueError as exc:
            raise _invalid("The SMTP URL has an invalid port.") from exc
        host = parts.hostname
        if not host:
            raise _invalid("The SMTP URL has no host, as in smtp://mail.example.com:587.")
        if parts.path not in ("", "/") or parts.fragment:
            raise _invalid("The SMTP URL takes no path: smtp://host:port?starttls=1.")
        options = _query(parts.query)
        port = port or DEFAULT_PORTS[security]  # by the scheme: smtp://host?starttls=1 is port 25
        security = _starttls_option(options.get("starttls"), security)
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if not (username or "").isascii() or not (password or "").isascii():
            raise _invalid("SMTP user names and passwords must be ASCII (smtplib's AUTH PLAIN and LOGIN).")
        if username and security == PLAIN and not is_loopback(host):
            raise _invalid("SMTP credentials would cross the network in clear: use smtps:// or "
                           "smtp+starttls:// (or ?starttls=1).")
        mailer = cls(host, port, security=security, username=username,
                     password=password, sender=parse_sender(options.get("from", sender)), timeout=timeout,
                     ca_file=ca_file, clock=clock)
        if security != PLAIN:
            mailer.tls_context()  # a CA file that cannot be read fails now, not at every delivery
        return mailer

    def __repr__(self) -> str:
        return f"SmtpMailer({self.describe()!r})"

    def describe(self) -> str:
        """Where mail goes, for logs and banners (never the password)."""
        scheme = {PLAIN: "smtp", STARTTLS: "smtp+starttls", TLS: "smtps"}[self.security]
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                self._tls = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            except (OSError, ssl.SSLError) as exc:
                raise _invalid(f"The SMTP CA file {self.ca_file} cannot be used: {exc.__class__.__name__}.") \
                    from exc
        return self._tls

    def send(self, mail: OutgoingMail, message_id: str) -> None:
        message = build_message(mail, message_id, self.sender, format_datetime(self.clock.now()))
        with self._connect() as smtp:
            if self.username is not None:
                smtp.login(self.username, self._password)
            smtp.send_message(message, from_addr=self.sender.addr_spec, to_addrs=[message["To"]])

    def _connect(self) -> smtplib.SMTP:
        if self._local_hostname is None:
            self._local_hostname = socket.getfqdn()
        if self.security == TLS:
            return smtplib.SMTP_SSL(self.host, self.port, local_hostname=self._local_hostname,
                                    timeout=self.timeout, context=self.tls_context())
        smtp = smtplib.SMTP(self.host, self.port, local_hostname=self._local_hostname, timeout=self.timeout)
        try:
            if self.security == STARTTLS:
                smtp.ehlo()
                smtp.starttls(context=self.tls_context())  # raises when the server does not offer it
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp


def _query(query: str) -> dict[str, str]:
    try:
        values = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise _invalid("The SMTP URL's query is not name=value pairs.") from exc
    unknown = sorted(set(values) - QUERY_KEYS)
    if unknown:
        raise _invalid(f"The SMTP URL has an unknown option '{unknown[0][:50]}' (known: from, starttls).")
    repeated = sorted(k for k, v in values.items() if len(v) > 1)
    if repeated:
        raise _invalid(f"The SMTP URL repeats the option '{repeated[0]}'.")
    return {k: v[0] for k, v in values.items()}


def _starttls_option(value: str | None, security: str) -> str:
    if value is None:
        return security
    flag = value.strip().lower()
    if flag not in TRUE | FALSE:
        raise _invalid("The SMTP URL's starttls option is 1 or 0.")
    if flag in TRUE:
        if security == TLS:
            raise _invalid("smtps:// is TLS from the start: it takes no starttls option.")
        return STARTTLS
    if security == STARTTLS:
        raise _invalid("smtp+starttls:// always uses STARTTLS: use smtp:// for plain SMTP.")
    return security

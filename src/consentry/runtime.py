"""The one place that wires concrete parts together: engine, clock, key-encryption key, keyring, mailer.

``build(settings)`` is called by the web app, the CLI and the tests alike; ``prepare(runtime)`` brings
the database schema up to date and makes sure a signing key exists.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import Engine

from consentry.config import Settings
from consentry.domain.clock import Clock, SystemClock
from consentry.mail import Mailer
from consentry.mail.smtp import SmtpMailer
from consentry.protocol.keys import Keyring
from consentry.services import keys as key_service
from consentry.services.context import ServiceContext
from consentry.store import migrate
from consentry.store.database import make_engine
from consentry.store.uow import UnitOfWork


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    ctx: ServiceContext
    kek: str
    keyring: Keyring
    mailer: Mailer | None = None  # None without CONSENTRY_SMTP_URL: mail waits in the outbox (portal "Outbox")

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def close(self) -> None:
        self.ctx.sign_ins.close()
        self.engine.dispose()


def key_encryption_key(settings: Settings) -> str:
    """The configured key-encryption key, or one generated once and kept in the data directory.

    Several hosts sharing one PostgreSQL must all be given the same ``CONSENTRY_KEY_ENCRYPTION_KEY``.
    """
    if settings.key_encryption_key:
        return settings.key_encryption_key
    path = Path(settings.data_dir) / "key-encryption-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def configure_logging(settings: Settings) -> None:
    """JSON lines on stdout (structlog), one per event, with the trace and correlation ids of requests."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    renderer: structlog.types.Processor = (structlog.processors.JSONRenderer() if settings.log_json
                                           else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(), cache_logger_on_first_use=True)
    logging.basicConfig(level=level, format="%(message)s")


def build_mailer(settings: Settings, clock: Clock | None = None) -> Mailer | None:
    """The SMTP mailer for ``CONSENTRY_SMTP_URL``, or None when it is not set; an unusable URL, sender or CA
    file raises ConsentryError (invalid value) here, at start-up."""
    if not settings.smtp_url:
        return None
    return SmtpMailer.from_url(settings.smtp_url, settings.smtp_from, ca_file=settings.smtp_ca_file,
                               timeout=settings.smtp_timeout, clock=clock)


def build(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    mailer = build_mailer(settings, clock)
    engine = make_engine(settings.database_url)
    ctx = ServiceContext(UnitOfWork(engine), clock, settings)
    kek = key_encryption_key(settings)
    keyring = Keyring(lambda now: key_service.load_keys(ctx, now, kek))
    return Runtime(settings, engine, clock, ctx, kek, keyring, mailer)


def prepare(runtime: Runtime) -> None:
    migrate.upgrade(runtime.engine)
    key_service.ensure_signing_key(runtime.ctx, runtime.kek)

"""Deployment settings, read once at start-up from ``CONSENTRY_*`` environment variables and CLI flags.

Settings are not policy: tenant policy lives in the database. Anything a command-line flag sets can also
be set in the environment (``CONSENTRY_PORT=9443``), and a flag wins over the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_", extra="ignore")

    data_dir: Path = Path(".consentry")
    db: str | None = None
    host: str = "127.0.0.1"
    port: int = 8443
    http: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    public_url: str | None = None
    # Mail (see consentry.mail.smtp for the URL forms): without smtp_url, mail stays in the outbox.
    smtp_url: str | None = None
    smtp_from: str = "Consentry <no-reply@localhost>"
    smtp_ca_file: Path | None = None  # trust only this CA for SMTP TLS (default: the system's trust store)
    smtp_timeout: float = Field(default=30.0, gt=0)  # seconds, per SMTP connection and command
    # Background jobs (request expiry and reminders, then mail delivery), every job_interval seconds in each
    # server process (0: not in the server; run `consentry jobs run-once` from a scheduler instead).
    job_interval: float = Field(default=60.0, ge=0)
    mail_batch: int = Field(default=50, ge=1)  # messages leased per claim
    mail_lease: int = Field(default=300, ge=1)  # seconds a claimed message is reserved for its sender (≥ 8 timeouts)
    mail_retry_base: int = Field(default=30, ge=1)  # seconds before the first retry; doubles per failure
    mail_retry_max: int = Field(default=3600, ge=1)  # the longest wait between two attempts
    workers: int = 1
    demo: bool = False
    key_encryption_key: str | None = None
    access_token_lifetime: int = 3599
    refresh_token_lifetime: int = 90 * 24 * 3600
    code_lifetime: int = 600
    device_code_lifetime: int = 900
    session_lifetime: int = 12 * 3600
    key_publish_delay: int = 0
    lockout_threshold: int = 10
    lockout_window: int = 600
    lockout_duration: int = 60
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    directory_cache_recheck_ms: int = 1000
    log_level: str = "info"
    log_json: bool = True

    @field_validator("mail_lease")
    @classmethod
    def _lease_outlasts_sends(cls, lease: int, info: ValidationInfo) -> int:
        """A sender stops starting sends four SMTP timeouts before its lease ends (services.outbox)."""
        timeout = info.data.get("smtp_timeout")
        if timeout is not None and lease < 8 * timeout:
            raise ValueError(f"must be at least 8 × CONSENTRY_SMTP_TIMEOUT ({8 * timeout:g} seconds)")
        return lease

    @property
    def database_url(self) -> str:
        if self.db:
            return self.db
        return f"sqlite:///{(self.data_dir / 'consentry.db').resolve()}"

    @property
    def scheme(self) -> str:
        return "http" if self.http else "https"

    @property
    def base_url(self) -> str:
        """The issuer base: ``--public-url`` when set, else the address this process listens on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else self.host  # noqa: S104
        return f"{self.scheme}://{host}:{self.port}"

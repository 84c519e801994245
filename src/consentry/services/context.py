"""What every service function needs: the unit of work, the clock, the settings and the password hasher."""

from __future__ import annotations

from dataclasses import dataclass, field

from consentry.config import Settings
from consentry.domain.clock import Clock
from consentry.services.cache import DirectoryCache
from consentry.services.credentials import PasswordHasher
from consentry.services.signin_log import SignInLog
from consentry.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, as the audit log records it."""

    kind: str  # "user", "app" or "system"
    id: str | None = None
    name: str | None = None  # userPrincipalName or app display name
    ip_address: str | None = None
    app_id: str | None = None

    def initiated_by(self) -> dict[str, object]:
        if self.kind == "user":
            return {"user": {"id": self.id, "userPrincipalName": self.name, "ipAddress": self.ip_address,
                             "displayName": None}, "app": None}
        if self.kind == "app":
            return {"user": None, "app": {"appId": self.app_id, "displayName": self.name,
                                          "servicePrincipalId": self.id, "servicePrincipalName": None}}
        return {"user": None, "app": {"appId": None, "displayName": self.name or "Consentry",
                                      "servicePrincipalId": None, "servicePrincipalName": None}}


SYSTEM = Actor("system", name="Consentry")
CLI = Actor("system", name="Consentry CLI")


@dataclass(slots=True)
class ServiceContext:
    uow: UnitOfWork
    clock: Clock
    settings: Settings
    passwords: PasswordHasher = field(init=False)
    cache: DirectoryCache = field(init=False)
    sign_ins: SignInLog = field(init=False)

    def __post_init__(self) -> None:
        self.passwords = PasswordHasher(self.settings.argon2_time_cost, self.settings.argon2_memory_kib,
                                        self.settings.argon2_parallelism)
        self.cache = DirectoryCache(self.settings.directory_cache_recheck_ms / 1000)
        self.uow.on_directory_change.append(self.cache.invalidate)
        self.sign_ins = SignInLog(self.uow)

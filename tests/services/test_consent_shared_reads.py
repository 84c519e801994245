"""The consent decision reads what does not depend on the user (the tenant, the client, the resource and its
permissions, the request policy) once per directory version, and reads it again after any change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event

from consentry.config import Settings
from consentry.domain.apps import Application, RequiredResourceAccess, ResourceAccess
from consentry.domain.builtin import MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.clock import ManualClock
from consentry.domain.consent import BLOCKED, CONSENT
from consentry.domain.directory import User
from consentry.domain.ids import new_guid
from consentry.services import apps, consent, directory
from consentry.services.context import SYSTEM, ServiceContext
from consentry.store import migrate
from consentry.store.database import make_engine
from consentry.store.uow import UnitOfWork

START = datetime(2026, 5, 4, 9, 0, 0, tzinfo=UTC)
GRAPH = find_builtin_application(MICROSOFT_GRAPH)
assert GRAPH is not None


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    url = f"sqlite:///{tmp_path / 'consentry.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    context = ServiceContext(UnitOfWork(engine), ManualClock(START), Settings(db=url, data_dir=tmp_path))
    try:
        yield context
    finally:
        context.sign_ins.close()
        engine.dispose()


class Statements:
    """The SQL statements the engine runs while counting."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.seen: list[str] = []
        event.listen(ctx.uow.engine, "before_cursor_execute", self._record)

    def _record(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        self.seen.append(" ".join(statement.split()).lower())

    def reading(self, table: str) -> list[str]:
        return [s for s in self.seen if s.startswith("select") and f"from {table} " in f"{s} "]


def _user(ctx: ServiceContext, tenant_id: str, name: str) -> User:
    return directory.create_user(ctx, tenant_id, f"{name}@contoso.test", name.title(), None, SYSTEM)


def test_a_second_users_decision_reads_only_what_is_about_that_user(ctx: ServiceContext) -> None:
    tenant = directory.create_tenant(ctx, "Contoso", ["contoso.test"])
    user_read = next(s.id for s in GRAPH.scopes if s.value == "User.Read")
    app = apps.register_application(ctx, tenant.id, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name="Reports",
        sign_in_audience="AzureADMyOrg", web_redirect_uris=("https://reports.contoso.test/cb",),
        required_resource_access=(RequiredResourceAccess(MICROSOFT_GRAPH, (ResourceAccess(user_read, "Scope"),)),)),
        SYSTEM)
    adele, bianca, carol = (_user(ctx, tenant.id, n) for n in ("adele", "bianca", "carol"))

    def decide(user: User) -> str:
        query = consent.ConsentQuery(tenant.id, app.app_id, user.id, "openid https://graph.microsoft.com/User.Read")
        return consent.evaluate(ctx, query).decision.step

    assert decide(adele) == CONSENT
    statements = Statements(ctx)
    assert decide(bianca) == CONSENT
    assert statements.reading("users"), "the user is read for every decision"
    for table in ("tenants", "applications", "service_principals", "service_principal_names",
                  "admin_consent_request_policies"):
        assert statements.reading(table) == [], table

    # Any directory change is a new version: the app disabled in the tenant is seen at once.
    apps.update_service_principal(ctx, tenant.id, app.app_id, SYSTEM, account_enabled=False)
    statements.seen.clear()
    assert decide(carol) == BLOCKED
    assert statements.reading("service_principals")

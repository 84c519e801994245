"""A tenant keeps an enabled Global Administrator, and nobody removes their own Global Administrator role:
through the directory services, on SQLite and PostgreSQL (a fresh database per test). Every refusal leaves
the directory and the audit log as they were; two changes at once that would each remove one of the last two
Global Administrators cannot both succeed."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.postgres import postgres_database, postgres_server_url_or_skip

from consentry.config import Settings
from consentry.domain.clock import ManualClock
from consentry.domain.directory import GLOBAL_ADMINISTRATOR, GLOBAL_READER, RoleAssignment, Tenant, User
from consentry.errors import GLOBAL_ADMIN_SELF_REMOVAL, LAST_GLOBAL_ADMIN, CatalogEntry, ConsentryError
from consentry.services import directory
from consentry.services.context import SYSTEM, Actor, ServiceContext
from consentry.store import migrate
from consentry.store.database import make_engine
from consentry.store.uow import UnitOfWork

START = datetime(2026, 5, 4, 9, 0, 0, tzinfo=UTC)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SELF_REMOVAL = "Removing self from Global Administrator built-in role is not allowed."
LAST_ONE = "The tenant must keep at least one enabled Global Administrator."


@pytest.fixture(params=BACKENDS)
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceContext]:
    """Services over a fresh, migrated database."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'consentry.db'}"
        else:
            url = stack.enter_context(postgres_database(postgres_server_url_or_skip()))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        migrate.upgrade(engine)
        context = ServiceContext(UnitOfWork(engine), ManualClock(START), Settings(db=url, data_dir=tmp_path))
        stack.callback(context.sign_ins.close)
        yield context


@pytest.fixture
def tenant(ctx: ServiceContext) -> Tenant:
    return directory.create_tenant(ctx, "Contoso", ["contoso.test"])


def _user(ctx: ServiceContext, tenant: Tenant, name: str, *roles: str, enabled: bool = True) -> User:
    user = directory.create_user(ctx, tenant.id, f"{name}@{tenant.default_domain}", name.title(), None, SYSTEM,
                                 account_enabled=enabled)
    for role in roles:
        directory.assign_role(ctx, tenant.id, user.id, role, SYSTEM)
    return user


def _as(user: User) -> Actor:
    return Actor("user", user.id, user.user_principal_name)


def _global_admin(ctx: ServiceContext, tenant: Tenant, user: User) -> RoleAssignment:
    with ctx.uow.read() as tx:
        found = tx.tenant(tenant.id).directory.find_role_assignment(user.id, GLOBAL_ADMINISTRATOR.id)
    assert found is not None
    return found


def _enabled_global_admins(ctx: ServiceContext, tenant: Tenant) -> list[str]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant.id).directory.list_enabled_role_holders(GLOBAL_ADMINISTRATOR.id)


def _audit_count(ctx: ServiceContext, tenant: Tenant) -> int:
    with ctx.uow.read() as tx:
        return len(tx.tenant(tenant.id).audit.list_events(limit=100_000))


def _refused(ctx: ServiceContext, tenant: Tenant, entry: CatalogEntry, message: str,
             change: Callable[[], object]) -> None:
    """``change`` raises ``entry`` with exactly ``message`` and writes no audit record."""
    before = _audit_count(ctx, tenant)
    with pytest.raises(ConsentryError) as caught:
        change()
    assert caught.value.entry is entry
    assert caught.value.message == message
    assert caught.value.entry.http_status == 400 and caught.value.entry.graph_code == "Request_BadRequest"
    assert _audit_count(ctx, tenant) == before


# --- one's own role -------------------------------------------------------------------------------------

def test_an_administrator_cannot_remove_her_own_global_administrator_role(ctx: ServiceContext,
                                                                         tenant: Tenant) -> None:
    ada = _user(ctx, tenant, "ada", GLOBAL_ADMINISTRATOR.id, GLOBAL_READER.id)
    bob = _user(ctx, tenant, "bob", GLOBAL_ADMINISTRATOR.id)
    own = _global_admin(ctx, tenant, ada)
    _refused(ctx, tenant, GLOBAL_ADMIN_SELF_REMOVAL, SELF_REMOVAL,
             lambda: directory.delete_role_assignment(ctx, tenant.id, own.id, _as(ada)))
    _refused(ctx, tenant, GLOBAL_ADMIN_SELF_REMOVAL, SELF_REMOVAL,
             lambda: directory.remove_role_member(ctx, tenant.id, GLOBAL_ADMINISTRATOR.id, ada.id.upper(), _as(ada)))
    assert _enabled_global_admins(ctx, tenant) == sorted([ada.id, bob.id])

    directory.remove_role_member(ctx, tenant.id, GLOBAL_READER.id, ada.id, _as(ada))  # another role of her own
    directory.delete_role_assignment(ctx, tenant.id, own.id, _as(bob))  # her role, removed by someone else
    assert _enabled_global_admins(ctx, tenant) == [bob.id]


def test_only_a_user_can_be_removing_herself(ctx: ServiceContext, tenant: Tenant) -> None:
    ada = _user(ctx, tenant, "ada", GLOBAL_ADMINISTRATOR.id)
    bob = _user(ctx, tenant, "bob", GLOBAL_ADMINISTRATOR.id)
    app = Actor("app", ada.id, "An app whose object id happens to match", app_id=ada.id)
    directory.delete_role_assignment(ctx, tenant.id, _global_admin(ctx, tenant, ada).id, app)
    assert _enabled_global_admins(ctx, tenant) == [bob.id]


# --- the last enabled Global Administrator ----------------------------------------------------------------

@pytest.mark.parametrize("path", ["assignment", "member"])
def test_the_last_global_administrators_role_is_not_removed(ctx: ServiceContext, tenant: Tenant,
                                                            path: str) -> None:
    ada = _user(ctx, tenant, "ada", GLOBAL_ADMINISTRATOR.id)
    reader = _user(ctx, tenant, "reader", GLOBAL_READER.id)
    assignment = _global_admin(ctx, tenant, ada)
    remove = {"assignment": lambda: directory.delete_role_assignment(ctx, tenant.id, assignment.id, _as(reader)),
              "member": lambda: directory.remove_role_member(ctx, tenant.id, GLOBAL_ADMINISTRATOR.id, ada.id,
                                                             SYSTEM)}[path]
    _refused(ctx, tenant, LAST_GLOBAL_ADMIN, LAST_ONE, remove)
    assert _global_admin(ctx, tenant, ada) == assignment

    _user(ctx, tenant, "bob", GLOBAL_ADMINISTRATOR.id)
    remove()
    assert ada.id not in _enabled_global_admins(ctx, tenant)


def test_a_disabled_global_administrator_does_not_count(ctx: ServiceContext, tenant: Tenant) -> None:
    ada = _user(ctx, tenant, "ada", GLOBAL_ADMINISTRATOR.id)
    dormant = _user(ctx, tenant, "dormant", GLOBAL_ADMINISTRATOR.id)
    directory.update_user(ctx, tenant.id, dormant.id, SYSTEM, {"account_enabled": False})
    _refused(ctx, tenant, LAST_GLOBAL_ADMIN, LAST_ONE,
             lambda: directory.delete_role_assignment(ctx, tenant.id, _global_admin(ctx, tenant, ada).id, SYSTEM))
    directory.delete_role_assignment(ctx, tenant.id, _global_admin(ctx, tenant, dormant).id, SYSTEM)
    assert _enabled_global_admins(ctx, tenant) == [ada.id]


def test_the_last_enabled_global_administrator_is_not_disabled(ctx: ServiceContext, tenant: Tenant) -> None:
    ada = _user(ctx, tenant, "ada", GLOBAL_ADMINISTRATOR.id)
    _refused(ctx, tenant, LAST_GLOBAL_ADMIN, LAST_ONE, lambda: directory.update_user(
        ctx, tenant.id, ada.user_principal_name, SYSTEM, {"account_enabled": False, "job_title": "Former admin"}))
    unchanged = directory.find_user(ctx, tenant.id, ada.id)
    assert unchanged.account_enabled is True and unchanged.job_title is None
    _refused(ctx, tenant, LAST_GLOBAL_ADMIN, LAST_ONE, lambda: directory.update_user(
        ctx, tenant.id, ada.id, _as(ada), {"account_enabled": False}))  # nor by herself
    directory.update_user(ctx, tenant.id, ada.id, SYSTEM, {"job_title": "Still the admin"})  # other changes are fine

    bob = _user(ctx, tenant, "bob", GLOBAL_ADMINISTRATOR.id)
    directory.update_user(ctx, tenant.id, ada.id, SYSTEM, {"account_enabled": False})
    assert _enabled_global_admins(ctx, tenant) == [bob.id]
    _refused(ctx, tenant, LAST_GLOBAL_ADMIN, LAST_ONE, lambda: directory.update_user(
        ctx, tenant.id, bob.id, SYSTEM, {"account_enabled": False}))


def test_the_last_enabled_global_administrator_is_not_deleted(ctx: ServiceContext, tenant: Tenant) -> None:
    ada = _user(ctx, tenant, "ada", GLOBAL_ADMINISTRATOR.id, GLOBAL_READER.id)
    group = directory.create_group(ctx, tenant.id, "Admins", SYSTEM, member_ids=[ada.id])
    _refused(ctx, tenant, LAST_GLOBAL_ADMIN, LAST_ONE, lambda: directory.delete_user(ctx, tenant.id, ada.id, SYSTEM))
    assert directory.find_user(ctx, tenant.id, ada.id) == ada
    groups, roles = directory.memberships_of(ctx, tenant.id, ada.id)
    assert [g.id for g in groups] == [group.id]
    assert {r.id for r in roles} == {GLOBAL_ADMINISTRATOR.id, GLOBAL_READER.id}

    bob = _user(ctx, tenant, "bob", GLOBAL_ADMINISTRATOR.id)
    directory.delete_user(ctx, tenant.id, ada.id, SYSTEM)
    assert _enabled_global_admins(ctx, tenant) == [bob.id]


def test_a_tenant_without_an_enabled_global_administrator_is_left_as_it_is(ctx: ServiceContext,
                                                                          tenant: Tenant) -> None:
    dormant = _user(ctx, tenant, "dormant", GLOBAL_ADMINISTRATOR.id, enabled=False)
    carol = _user(ctx, tenant, "carol")
    directory.update_user(ctx, tenant.id, carol.id, SYSTEM, {"account_enabled": False})
    directory.delete_user(ctx, tenant.id, carol.id, SYSTEM)
    directory.update_user(ctx, tenant.id, dormant.id, SYSTEM, {"account_enabled": False})
    directory.remove_role_member(ctx, tenant.id, GLOBAL_ADMINISTRATOR.id, dormant.id, SYSTEM)
    directory.delete_user(ctx, tenant.id, dormant.id, SYSTEM)
    assert directory.list_users(ctx, tenant.id) == []


# --- at the same time ----------------------------------------------------------------------------------

def _take_away(ctx: ServiceContext, tenant: Tenant, how: str, user: User) -> None:
    if how == "remove role":
        directory.delete_role_assignment(ctx, tenant.id, _global_admin(ctx, tenant, user).id, SYSTEM)
    elif how == "disable":
        directory.update_user(ctx, tenant.id, user.id, SYSTEM, {"account_enabled": False})
    else:
        directory.delete_user(ctx, tenant.id, user.id, SYSTEM)


def _at_once(changes: list[Callable[[], object]]) -> list[str]:
    """Run the changes in threads released together: "done", or the name of the error each raised."""
    barrier = threading.Barrier(len(changes))
    outcomes: list[str] = []

    def run(change: Callable[[], object]) -> None:
        barrier.wait()
        try:
            change()
            outcomes.append("done")
        except ConsentryError as exc:
            outcomes.append(exc.entry.name)

    threads = [threading.Thread(target=run, args=(change,)) for change in changes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.parametrize("hows", [("remove role", "remove role"), ("disable", "delete"), ("remove role", "disable")])
def test_two_changes_at_once_leave_one_of_the_last_two_global_administrators(
        ctx: ServiceContext, hows: tuple[str, str]) -> None:
    for attempt in range(5):
        tenant = directory.create_tenant(ctx, f"Round {attempt}", [f"round{attempt}.test"])
        admins = [_user(ctx, tenant, f"admin{i}", GLOBAL_ADMINISTRATOR.id) for i in range(2)]
        outcomes = _at_once([functools.partial(_take_away, ctx, tenant, how, admin)
                             for how, admin in zip(hows, admins, strict=True)])
        assert sorted(outcomes) == ["done", LAST_GLOBAL_ADMIN.name]
        [kept] = _enabled_global_admins(ctx, tenant)
        assert kept in {a.id for a in admins}

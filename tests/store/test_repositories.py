"""Behaviour of the repositories on SQLite and PostgreSQL: lookups, uniqueness, tenant isolation, and the
single-use guarantees the database enforces for codes, refresh tokens and client assertions."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError

from consentry.domain.apps import (
    Application,
    AppRole,
    KeyCredential,
    PasswordCredential,
    PermissionScope,
    RequiredResourceAccess,
    ResourceAccess,
    ServicePrincipal,
)
from consentry.domain.directory import GLOBAL_ADMINISTRATOR, GLOBAL_READER, Group, RoleAssignment, Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS, PRINCIPAL, OAuth2PermissionGrant
from consentry.domain.ids import new_guid
from consentry.domain.lockout import EMPTY, LockoutState
from consentry.store import migrate
from consentry.store.database import make_engine
from consentry.store.uow import UnitOfWork

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
HOUR = timedelta(hours=1)


# -- builders ------------------------------------------------------------------------------------------

def _slug() -> str:
    return uuid.uuid4().hex[:10]


def _tenant(name: str = "Contoso") -> Tenant:
    slug = _slug()
    return Tenant(new_guid(), name, (f"{slug}.example", f"{slug}.onmicrosoft.example"), NOW)


def _user(tenant_id: str, upn: str | None = None) -> User:
    upn = upn or f"user-{_slug()}@example.org"
    return User(new_guid(), tenant_id, upn.lower(), "Adele Vance", upn.lower(), True, "$argon2id$x", NOW,
                "Adele", "Vance", "Engineer")


def _scope(value: str, type_: str = "User") -> PermissionScope:
    return PermissionScope(new_guid(), value, type_, f"Admin {value}", f"Lets the app {value}",
                           f"User {value}", None)


def _role(value: str) -> AppRole:
    return AppRole(new_guid(), value, value, f"{value} role", ("Application",))


def _application(tenant_id: str, **values: object) -> Application:
    app_id = new_guid()
    defaults: dict[str, object] = dict(
        id=new_guid(), app_id=app_id, tenant_id=tenant_id, display_name="Contoso Timesheets",
        sign_in_audience="AzureADMultipleOrgs", web_redirect_uris=("https://app.example/callback",),
        spa_redirect_uris=("https://app.example/spa",), public_client_redirect_uris=("http://localhost",),
        identifier_uris=(f"api://{app_id}",),
        required_resource_access=(RequiredResourceAccess(
            "00000003-0000-0000-c000-000000000000", (ResourceAccess(new_guid(), "Scope"),)),),
        scopes=(_scope("Timesheets.Read"),), app_roles=(_role("Timesheets.Admin"),),
        homepage_url="https://app.example", info={"marketingUrl": "https://app.example/about",
                                                  "privacyStatementUrl": None},
        publisher_name="Contoso", verified_publisher={"displayName": "Contoso", "verifiedPublisherId": "42"},
        created_at=NOW)
    defaults.update(values)
    return Application(**defaults)


def _service_principal(tenant_id: str, app_id: str | None = None, names: tuple[str, ...] = (),
                       **values: object) -> ServicePrincipal:
    app_id = app_id or new_guid()
    defaults: dict[str, object] = dict(
        id=new_guid(), tenant_id=tenant_id, app_id=app_id, display_name="Contoso API",
        app_owner_organization_id=new_guid(), tags=("WindowsAzureActiveDirectoryIntegratedApp",),
        scopes=(_scope("Files.Read"), _scope("Files.ReadWrite.All", "Admin")),
        app_roles=(_role("Files.All"),),
        service_principal_names=(*names, app_id), reply_urls=("https://api.example/cb",),
        homepage="https://api.example", publisher_name="Contoso", sign_in_audience="AzureADMultipleOrgs",
        verified_publisher={}, notes="note", created_at=NOW)
    defaults.update(values)
    return ServicePrincipal(**defaults)


def _grant(tenant_id: str, client_id: str, resource_id: str, principal_id: str | None,
           scope: str = "Files.Read") -> OAuth2PermissionGrant:
    consent_type = PRINCIPAL if principal_id else ALL_PRINCIPALS
    return OAuth2PermissionGrant(uuid.uuid4().hex, tenant_id, client_id, consent_type, principal_id,
                                 resource_id, scope, NOW, NOW)


@dataclass
class World:
    """One tenant with a user, a group, an application and a granted client–resource pair."""

    tenant: Tenant
    user: User
    other_user: User
    group: Group
    app: Application
    client: ServicePrincipal
    resource: ServicePrincipal
    all_principals: OAuth2PermissionGrant
    user_grant: OAuth2PermissionGrant
    other_user_grant: OAuth2PermissionGrant


def _add_world(engine: Engine) -> World:
    tenant = _tenant()
    tid = tenant.id
    user, other_user = _user(tid), _user(tid)
    group = Group(new_guid(), tid, "Engineering", "Builders", NOW)
    app = _application(tid)
    client = _service_principal(tid, app.app_id)
    resource = _service_principal(tid, names=(f"https://api-{_slug()}.example",))
    world = World(tenant, user, other_user, group, app, client, resource,
                  _grant(tid, client.id, resource.id, None, "Files.Read"),
                  _grant(tid, client.id, resource.id, user.id, "Files.ReadWrite.All"),
                  _grant(tid, client.id, resource.id, other_user.id, "Files.Read offline_access"))
    with UnitOfWork(engine).begin() as tx:
        tx.tenants.add(tenant)
        scope = tx.tenant(tid)
        scope.directory.add_user(user)
        scope.directory.add_user(other_user)
        scope.directory.add_group(group)
        scope.directory.add_member(group.id, user.id)
        scope.apps.add_application(app)
        scope.apps.add_service_principal(client)
        scope.apps.add_service_principal(resource)
        for grant in (world.all_principals, world.user_grant, world.other_user_grant):
            scope.grants.add_grant(grant)
    return world


@pytest.fixture
def uow(engine: Engine) -> UnitOfWork:
    return UnitOfWork(engine)


@pytest.fixture
def world(engine: Engine) -> World:
    return _add_world(engine)


@pytest.fixture
def other_tenant(uow: UnitOfWork) -> Tenant:
    tenant = _tenant("Fabrikam")
    with uow.begin() as tx:
        tx.tenants.add(tenant)
    return tenant


# -- tenants -------------------------------------------------------------------------------------------

def test_a_tenant_is_found_by_id_with_its_domains_in_order(uow: UnitOfWork) -> None:
    tenant = _tenant()
    with uow.begin() as tx:
        tx.tenants.add(tenant)

    with uow.begin() as tx:
        found = tx.tenants.find(tenant.id)

    assert found == tenant
    assert found is not None and found.default_domain == tenant.domains[0]


def test_a_tenant_is_found_by_any_of_its_domains_in_any_case(uow: UnitOfWork) -> None:
    slug = _slug()
    tenant = Tenant(new_guid(), "Contoso", (f"Contoso-{slug}.Example", f"contoso-{slug}.onmicrosoft.example"),
                    NOW)
    with uow.begin() as tx:
        tx.tenants.add(tenant)

    with uow.begin() as tx:
        assert tx.tenants.find_by_domain(f"CONTOSO-{slug}.EXAMPLE").id == tenant.id
        assert tx.tenants.find_by_domain(f"contoso-{slug}.example").id == tenant.id
        assert tx.tenants.find_by_domain(f"Contoso-{slug}.OnMicrosoft.Example").id == tenant.id
        assert tx.tenants.find(tenant.id).domains == tuple(d.lower() for d in tenant.domains)


def test_an_unknown_tenant_or_domain_is_not_found(uow: UnitOfWork) -> None:
    with uow.begin() as tx:
        assert tx.tenants.find(new_guid()) is None
        assert tx.tenants.find_by_domain(f"{_slug()}.example") is None


# -- users, groups, directory roles ----------------------------------------------------------------------

def test_a_user_is_found_by_id_and_by_upn_in_any_case(uow: UnitOfWork, world: World) -> None:
    upn = world.user.user_principal_name

    with uow.begin() as tx:
        directory = tx.tenant(world.tenant.id).directory
        assert directory.find_user(world.user.id) == world.user
        assert directory.find_user_by_upn(upn.upper()) == world.user
        assert tx.tenants.find_user_by_upn(upn.upper()) == world.user
        assert directory.find_user_by_upn(f"nobody-{_slug()}@example.org") is None


def test_a_upn_is_unique_across_the_installation(uow: UnitOfWork, world: World, other_tenant: Tenant) -> None:
    duplicate = _user(other_tenant.id, world.user.user_principal_name.upper())

    with pytest.raises(IntegrityError), uow.begin() as tx:
        tx.tenant(other_tenant.id).directory.add_user(duplicate)

    with uow.begin() as tx:
        assert tx.tenants.find_user_by_upn(world.user.user_principal_name) == world.user
        assert tx.tenant(other_tenant.id).directory.list_users() == []


def test_a_group_lists_its_members_until_they_are_removed(uow: UnitOfWork, world: World) -> None:
    with uow.begin() as tx:
        directory = tx.tenant(world.tenant.id).directory
        directory.add_member(world.group.id, world.other_user.id)

    with uow.begin() as tx:
        directory = tx.tenant(world.tenant.id).directory
        group = directory.find_group(world.group.id)
        assert group is not None
        assert sorted(group.member_ids) == sorted([world.user.id, world.other_user.id])
        assert directory.list_group_ids_of(world.other_user.id) == [world.group.id]
        assert [g.id for g in directory.list_groups()] == [world.group.id]
        directory.remove_member(world.group.id, world.other_user.id)

    with uow.begin() as tx:
        directory = tx.tenant(world.tenant.id).directory
        assert directory.find_group(world.group.id).member_ids == (world.user.id,)
        assert directory.list_group_ids_of(world.other_user.id) == []


def test_a_member_is_in_a_group_only_once(uow: UnitOfWork, world: World) -> None:
    with pytest.raises(IntegrityError), uow.begin() as tx:
        tx.tenant(world.tenant.id).directory.add_member(world.group.id, world.user.id)


def test_a_role_assignment_is_found_and_listed(uow: UnitOfWork, world: World) -> None:
    assignment = RoleAssignment(new_guid(), world.tenant.id, world.user.id, GLOBAL_ADMINISTRATOR.id, NOW)
    with uow.begin() as tx:
        tx.tenant(world.tenant.id).directory.add_role_assignment(assignment)

    with uow.begin() as tx:
        directory = tx.tenant(world.tenant.id).directory
        assert directory.find_role_assignment(world.user.id, GLOBAL_ADMINISTRATOR.id) == assignment
        assert directory.list_role_assignments(world.user.id) == [assignment]
        assert directory.list_role_assignments(world.other_user.id) == []
        assert directory.find_role_assignment(world.other_user.id, GLOBAL_ADMINISTRATOR.id) is None


def test_a_principal_holds_a_directory_role_only_once(uow: UnitOfWork, world: World) -> None:
    with uow.begin() as tx:
        tx.tenant(world.tenant.id).directory.add_role_assignment(
            RoleAssignment(new_guid(), world.tenant.id, world.user.id, GLOBAL_ADMINISTRATOR.id, NOW))

    with pytest.raises(IntegrityError), uow.begin() as tx:
        tx.tenant(world.tenant.id).directory.add_role_assignment(
            RoleAssignment(new_guid(), world.tenant.id, world.user.id, GLOBAL_ADMINISTRATOR.id, NOW))

    with uow.begin() as tx:
        assert len(tx.tenant(world.tenant.id).directory.list_role_assignments(world.user.id)) == 1


def test_the_enabled_holders_of_a_role_are_listed_without_disabled_users_or_other_tenants(
        uow: UnitOfWork, world: World) -> None:
    disabled = dataclasses.replace(_user(world.tenant.id), account_enabled=False)
    other = _tenant("Fabrikam")
    stranger = _user(other.id)
    with uow.begin() as tx:
        tx.tenants.add(other)
        tx.tenant(world.tenant.id).directory.add_user(disabled)
        tx.tenant(other.id).directory.add_user(stranger)
        for holder in (world.user, world.other_user, disabled, stranger):
            tx.tenant(holder.tenant_id).directory.add_role_assignment(
                RoleAssignment(new_guid(), holder.tenant_id, holder.id, GLOBAL_ADMINISTRATOR.id, NOW))
        tx.tenant(world.tenant.id).directory.add_role_assignment(
            RoleAssignment(new_guid(), world.tenant.id, world.user.id, GLOBAL_READER.id, NOW))

    with uow.read() as tx:
        directory = tx.tenant(world.tenant.id).directory
        assert directory.list_enabled_role_holders(GLOBAL_ADMINISTRATOR.id) == sorted(
            [world.user.id, world.other_user.id])
        assert directory.list_enabled_role_holders(GLOBAL_READER.id) == [world.user.id]
        assert tx.tenant(other.id).directory.list_enabled_role_holders(GLOBAL_ADMINISTRATOR.id) == [stranger.id]


# -- applications and service principals -----------------------------------------------------------------

def test_an_application_round_trips_with_its_password_and_key_credentials(
        uow: UnitOfWork, world: World) -> None:
    secret = PasswordCredential(new_guid(), "CI secret", "abc", "0" * 64, NOW, NOW + timedelta(days=180))
    key = KeyCredential(new_guid(), "CN=ci", "AsymmetricX509Cert", "Verify", b"\x30\x82\x01\x00der",
                        "a" * 40, "b" * 64, NOW - HOUR, NOW + timedelta(days=365))
    with uow.begin() as tx:
        apps = tx.tenant(world.tenant.id).apps
        apps.add_password_credential(world.app.id, secret)
        apps.add_key_credential(world.app.id, key)
    expected = dataclasses.replace(world.app, password_credentials=(secret,), key_credentials=(key,))

    with uow.begin() as tx:
        apps = tx.tenant(world.tenant.id).apps
        assert apps.find_application(world.app.id) == expected
        assert apps.find_application_by_app_id(world.app.app_id.upper()) == expected
        assert tx.applications.find_home_registration(world.app.app_id.upper()) == expected
        assert apps.list_applications() == [expected]


def test_a_removed_credential_is_gone(uow: UnitOfWork, world: World) -> None:
    secret = PasswordCredential(new_guid(), None, "abc", "1" * 64, NOW, NOW + HOUR)
    with uow.begin() as tx:
        tx.tenant(world.tenant.id).apps.add_password_credential(world.app.id, secret)

    with uow.begin() as tx:
        apps = tx.tenant(world.tenant.id).apps
        assert apps.remove_password_credential(world.app.id, secret.key_id) == 1
        assert apps.remove_password_credential(world.app.id, secret.key_id) == 0
        assert apps.find_application(world.app.id).password_credentials == ()


@pytest.mark.parametrize("spelling", [
    "https://files.contoso.example", "https://files.contoso.example/", "HTTPS://Files.Contoso.Example/",
])
def test_a_service_principal_is_found_by_identifier_uri_with_or_without_trailing_slash(
        uow: UnitOfWork, other_tenant: Tenant, spelling: str) -> None:
    sp = _service_principal(other_tenant.id, names=("https://Files.Contoso.Example/",))
    with uow.begin() as tx:
        tx.tenant(other_tenant.id).apps.add_service_principal(sp)

    with uow.begin() as tx:
        assert tx.tenant(other_tenant.id).apps.find_service_principal_by_name(spelling) == sp


def test_a_service_principal_is_found_by_app_id(uow: UnitOfWork, world: World) -> None:
    with uow.begin() as tx:
        apps = tx.tenant(world.tenant.id).apps
        assert apps.find_service_principal_by_name(world.resource.app_id) == world.resource
        assert apps.find_service_principal_by_name(world.resource.app_id.upper()) == world.resource
        assert apps.find_service_principal_by_app_id(world.resource.app_id.upper()) == world.resource
        assert apps.find_service_principal(world.resource.id) == world.resource
        assert apps.find_service_principal_by_name(f"https://{_slug()}.example") is None


def test_a_service_principal_is_found_by_its_new_names_after_they_change(
        uow: UnitOfWork, world: World) -> None:
    new_name = f"https://renamed-{_slug()}.example"
    old_name = world.resource.service_principal_names[0]
    with uow.begin() as tx:
        tx.tenant(world.tenant.id).apps.update_service_principal(
            world.resource.id, service_principal_names=[new_name, world.resource.app_id])

    with uow.begin() as tx:
        apps = tx.tenant(world.tenant.id).apps
        assert apps.find_service_principal_by_name(new_name).id == world.resource.id
        assert apps.find_service_principal_by_name(old_name) is None
        assert apps.find_service_principal_by_name(world.resource.app_id).id == world.resource.id


def test_a_tenant_has_one_service_principal_per_application(uow: UnitOfWork, world: World) -> None:
    with pytest.raises(IntegrityError), uow.begin() as tx:
        tx.tenant(world.tenant.id).apps.add_service_principal(
            _service_principal(world.tenant.id, world.client.app_id))


def test_each_tenant_has_its_own_service_principal_for_an_application(
        uow: UnitOfWork, world: World, other_tenant: Tenant) -> None:
    sp = _service_principal(other_tenant.id, world.client.app_id)
    with uow.begin() as tx:
        tx.tenant(other_tenant.id).apps.add_service_principal(sp)

    with uow.begin() as tx:
        assert tx.tenant(other_tenant.id).apps.find_service_principal_by_app_id(world.client.app_id) == sp
        assert tx.tenant(world.tenant.id).apps.find_service_principal_by_app_id(
            world.client.app_id) == world.client


# -- delegated permission grants -------------------------------------------------------------------------

def _ids(grants: list[OAuth2PermissionGrant]) -> set[str]:
    return {g.id for g in grants}


def test_a_users_grants_are_the_all_principals_grant_and_their_own(uow: UnitOfWork, world: World) -> None:
    with uow.begin() as tx:
        grants = tx.tenant(world.tenant.id).grants.list_grants_for_user(
            world.client.id, world.resource.id, world.user.id)

    assert _ids(grants) == {world.all_principals.id, world.user_grant.id}
    assert world.user_grant in grants


def test_without_a_user_only_the_all_principals_grant_applies(uow: UnitOfWork, world: World) -> None:
    with uow.begin() as tx:
        grants = tx.tenant(world.tenant.id).grants.list_grants_for_user(
            world.client.id, world.resource.id, None)

    assert grants == [world.all_principals]


def test_grants_for_another_client_resource_pair_do_not_apply(uow: UnitOfWork, world: World) -> None:
    with uow.begin() as tx:
        grants = tx.tenant(world.tenant.id).grants
        assert grants.list_grants_for_user(world.resource.id, world.client.id, world.user.id) == []
        assert _ids(grants.list_grants(principal_id=world.other_user.id)) == {world.other_user_grant.id}


# -- tenant isolation ----------------------------------------------------------------------------------

def test_another_tenant_never_sees_a_tenants_objects_even_with_their_ids(
        uow: UnitOfWork, world: World, other_tenant: Tenant) -> None:
    with uow.begin() as tx:
        b = tx.tenant(other_tenant.id)
        assert b.directory.find_user(world.user.id) is None
        assert b.directory.find_user_by_upn(world.user.user_principal_name) is None
        assert b.directory.list_users() == []
        assert b.directory.count_users() == 0
        assert b.directory.find_group(world.group.id) is None
        assert b.directory.list_groups() == []
        assert b.directory.list_group_ids_of(world.user.id) == []
        assert b.apps.find_application(world.app.id) is None
        assert b.apps.find_application_by_app_id(world.app.app_id) is None
        assert b.apps.list_applications() == []
        assert b.apps.find_service_principal(world.resource.id) is None
        assert b.apps.find_service_principal_by_app_id(world.resource.app_id) is None
        assert b.apps.find_service_principal_by_name(world.resource.service_principal_names[0]) is None
        assert b.apps.find_service_principal_by_name(world.resource.app_id) is None
        assert b.apps.list_service_principals() == []
        assert b.grants.find_grant(world.user_grant.id) is None
        assert b.grants.list_grants() == []
        assert b.grants.list_grants_for_user(world.client.id, world.resource.id, world.user.id) == []


def test_another_tenant_cannot_change_or_remove_a_tenants_objects(
        uow: UnitOfWork, world: World, other_tenant: Tenant) -> None:
    with uow.begin() as tx:
        b = tx.tenant(other_tenant.id)
        b.directory.update_user(world.user.id, display_name="Mallory")
        b.directory.remove_user(world.other_user.id)
        b.apps.remove_application(world.app.id)
        b.apps.update_service_principal(world.resource.id, account_enabled=False)
        b.apps.remove_service_principal(world.client.id)
        assert b.grants.remove_grant(world.user_grant.id) == 0

    with uow.begin() as tx:
        a = tx.tenant(world.tenant.id)
        assert a.directory.find_user(world.user.id) == world.user
        assert a.directory.find_user(world.other_user.id) == world.other_user
        assert a.apps.find_application(world.app.id) == world.app
        assert a.apps.find_service_principal(world.resource.id) == world.resource
        assert a.apps.find_service_principal(world.client.id) == world.client
        assert a.grants.find_grant(world.user_grant.id) == world.user_grant


def test_another_tenant_cannot_add_or_remove_a_tenants_credentials(
        uow: UnitOfWork, world: World, other_tenant: Tenant) -> None:
    secret = PasswordCredential(new_guid(), "stolen", "abc", "0" * 64, NOW, NOW + timedelta(days=1))
    with uow.begin() as tx:
        tx.tenant(world.tenant.id).apps.add_password_credential(world.app.id, secret)
    with pytest.raises(LookupError), uow.begin() as tx:
        tx.tenant(other_tenant.id).apps.add_password_credential(world.app.id, PasswordCredential(
            new_guid(), "planted", "xyz", "1" * 64, NOW, NOW + timedelta(days=1)))
    with uow.begin() as tx:
        assert tx.tenant(other_tenant.id).apps.remove_password_credential(world.app.id, secret.key_id) == 0
    with uow.read() as tx:
        stored = tx.tenant(world.tenant.id).apps.find_application(world.app.id)
        assert stored is not None
        assert [c.key_id for c in stored.password_credentials] == [secret.key_id]


def test_another_tenant_cannot_add_members_to_a_tenants_group(
        uow: UnitOfWork, world: World, other_tenant: Tenant) -> None:
    with pytest.raises(LookupError), uow.begin() as tx:
        tx.tenant(other_tenant.id).directory.add_member(world.group.id, world.other_user.id)
    with uow.read() as tx:
        group = tx.tenant(world.tenant.id).directory.find_group(world.group.id)
        assert group is not None
        assert group.member_ids == (world.user.id,)


def test_an_app_id_written_in_upper_case_is_found(uow: UnitOfWork, world: World) -> None:
    app = _application(world.tenant.id)
    with uow.begin() as tx:
        scope = tx.tenant(world.tenant.id)
        scope.apps.add_application(dataclasses.replace(app, app_id=app.app_id.upper()))
        scope.apps.add_service_principal(_service_principal(world.tenant.id, app.app_id.upper()))
    with uow.read() as tx:
        scope = tx.tenant(world.tenant.id)
        assert scope.apps.find_application_by_app_id(app.app_id) is not None
        assert scope.apps.find_service_principal_by_app_id(app.app_id) is not None


# -- single-use protocol state ---------------------------------------------------------------------------

def _code(code_hash: str) -> dict[str, object]:
    return dict(code_hash=code_hash, tenant_id=new_guid(), client_app_id=new_guid(), user_id=new_guid(),
                redirect_uri="https://app.example/callback", scope="openid User.Read", nonce="n",
                code_challenge="c" * 43, code_challenge_method="S256", session_id_hash=None, auth_time=NOW,
                created_at=NOW, expires_at=NOW + timedelta(minutes=10))


def _refresh_token(token_hash: str) -> dict[str, object]:
    return dict(token_hash=token_hash, family_id=uuid.uuid4().hex, tenant_id=new_guid(),
                client_app_id=new_guid(), user_id=new_guid(), scope="openid offline_access", auth_time=NOW,
                created_at=NOW, expires_at=NOW + timedelta(days=90))


def test_an_authorization_code_is_redeemed_only_once(uow: UnitOfWork) -> None:
    code_hash = uuid.uuid4().hex
    with uow.begin() as tx:
        tx.tokens.add_code(**_code(code_hash))

    with uow.begin() as tx:
        assert tx.tokens.redeem_code(code_hash, NOW + HOUR) is True
    with uow.begin() as tx:
        assert tx.tokens.redeem_code(code_hash, NOW + 2 * HOUR) is False
        assert tx.tokens.find_code(code_hash)["redeemed_at"] == NOW + HOUR


def test_concurrent_redemptions_of_one_code_have_one_winner(engine: Engine) -> None:
    code_hash = uuid.uuid4().hex
    with UnitOfWork(engine).begin() as tx:
        tx.tokens.add_code(**_code(code_hash))
    start = threading.Barrier(4)
    results: list[bool] = []

    def redeem() -> None:
        start.wait(timeout=10)
        with UnitOfWork(engine).begin() as tx:
            results.append(tx.tokens.redeem_code(code_hash, NOW))

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [False, False, False, True]


def test_a_refresh_token_is_spent_only_once(uow: UnitOfWork) -> None:
    token_hash = uuid.uuid4().hex
    with uow.begin() as tx:
        tx.tokens.add_refresh_token(**_refresh_token(token_hash))

    with uow.begin() as tx:
        assert tx.tokens.spend_refresh_token(token_hash, NOW) is True
    with uow.begin() as tx:
        assert tx.tokens.spend_refresh_token(token_hash, NOW) is False
        assert tx.tokens.find_refresh_token(token_hash)["spent_at"] == NOW


def test_a_revoked_refresh_token_cannot_be_spent(uow: UnitOfWork) -> None:
    values = _refresh_token(uuid.uuid4().hex)
    with uow.begin() as tx:
        tx.tokens.add_refresh_token(**values)
        tx.tokens.revoke_refresh_family(str(values["family_id"]), NOW)

    with uow.begin() as tx:
        assert tx.tokens.spend_refresh_token(str(values["token_hash"]), NOW) is False


def test_a_client_assertion_is_accepted_only_once(uow: UnitOfWork) -> None:
    jti_hash = uuid.uuid4().hex
    with uow.begin() as tx:
        assert tx.tokens.spend_assertion(jti_hash, NOW + HOUR) is True

    with uow.begin() as tx:
        assert tx.tokens.spend_assertion(jti_hash, NOW + HOUR) is False


def test_a_replayed_assertion_leaves_the_transaction_usable(uow: UnitOfWork) -> None:
    replayed, fresh = uuid.uuid4().hex, uuid.uuid4().hex
    tenant = _tenant()

    with uow.begin() as tx:
        assert tx.tokens.spend_assertion(replayed, NOW + HOUR) is True
        assert tx.tokens.spend_assertion(replayed, NOW + HOUR) is False
        assert tx.tokens.spend_assertion(fresh, NOW + HOUR) is True
        tx.tenants.add(tenant)

    with uow.begin() as tx:
        assert tx.tenants.find(tenant.id) == tenant
        assert tx.tokens.spend_assertion(fresh, NOW + HOUR) is False


# -- lockout counters and signing keys ---------------------------------------------------------------------

def test_lockout_state_round_trips(uow: UnitOfWork, world: World) -> None:
    user_id = world.user.id
    first = LockoutState(3, NOW, None)
    locked = LockoutState(10, NOW, NOW + timedelta(minutes=1))

    with uow.begin() as tx:
        assert tx.tokens.get_lockout(user_id) == EMPTY
        tx.tokens.save_lockout(user_id, first)
    with uow.begin() as tx:
        assert tx.tokens.get_lockout(user_id, for_update=True) == first
        tx.tokens.save_lockout(user_id, locked)
    with uow.begin() as tx:
        state = tx.tokens.get_lockout(user_id)
        assert state == locked
        assert state.is_locked(NOW + timedelta(seconds=30))
        tx.tokens.clear_lockout(user_id)
    with uow.begin() as tx:
        assert tx.tokens.get_lockout(user_id) == EMPTY


def _key(kid: str, signs_from: datetime, published_until: datetime | None) -> dict[str, object]:
    return dict(kid=kid, alg="RS256", public_jwk={"kty": "RSA", "kid": kid, "n": "AQAB", "e": "AQAB"},
                private_key=b"encrypted", created_at=signs_from, signs_from=signs_from,
                signs_until=None if published_until is None else published_until - HOUR,
                published_until=published_until)


def test_published_keys_exclude_those_past_their_published_until(uow: UnitOfWork) -> None:
    current, retiring, retired = (f"{name}-{_slug()}" for name in ("current", "retiring", "retired"))
    with uow.begin() as tx:
        tx.keys.add(**_key(current, NOW - HOUR, None))
        tx.keys.add(**_key(retiring, NOW - 48 * HOUR, NOW + HOUR))
        tx.keys.add(**_key(retired, NOW - 96 * HOUR, NOW - HOUR))

    with uow.begin() as tx:
        published = [k for k in tx.keys.list_published(NOW) if k["kid"] in {current, retiring, retired}]
        later = [k["kid"] for k in tx.keys.list_published(NOW + 2 * HOUR) if k["kid"] in {current, retiring}]

    assert [k["kid"] for k in published] == [current, retiring]
    assert published[1]["published_until"] == NOW + HOUR
    assert published[0]["public_jwk"]["kid"] == current
    assert later == [current]


# -- time zones ------------------------------------------------------------------------------------------

def test_times_read_back_are_utc(uow: UnitOfWork, world: World) -> None:
    with uow.begin() as tx:
        user = tx.tenant(world.tenant.id).directory.find_user(world.user.id)

    assert user is not None
    assert user.created_at == NOW
    assert user.created_at.utcoffset() == timedelta(0)


@pytest.fixture
def postgres_engine(postgres_module_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_module_url)
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine_in_another_time_zone(postgres_module_url: str) -> Iterator[Engine]:
    """The module's PostgreSQL database, through sessions whose TimeZone is not UTC."""
    engine = make_engine(postgres_module_url)

    @event.listens_for(engine, "connect")
    def _time_zone(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("SET TIME ZONE 'Asia/Kolkata'")
        cursor.close()

    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_times_read_back_are_utc_whatever_the_postgresql_session_time_zone(
        postgres_engine: Engine, engine_in_another_time_zone: Engine) -> None:
    world = _add_world(postgres_engine)
    with UnitOfWork(engine_in_another_time_zone).begin() as tx:
        user = tx.tenant(world.tenant.id).directory.find_user(world.user.id)

    assert user is not None
    assert user.created_at == NOW
    assert user.created_at.utcoffset() == timedelta(0)

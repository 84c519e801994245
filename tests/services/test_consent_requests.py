"""The admin consent request workflow through its services, on SQLite and PostgreSQL (a fresh database per
test): the policy, submitting (aggregate, reviewer snapshot, audit, mail in the outbox), concurrency,
approve / deny / block with their permission rules, expiry and reminders with ``run_due(as_of=…)``, and
reading for Graph and the portal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.postgres import postgres_database, postgres_server_url_or_skip

from consentry.config import Settings
from consentry.domain.apps import Application, RequiredResourceAccess, ResourceAccess
from consentry.domain.builtin import MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.clock import ManualClock
from consentry.domain.consent_requests import (
    APPROVE,
    COMPLETED,
    DENY,
    DYNAMIC,
    EXPIRED,
    IN_PROGRESS,
    NOT_REVIEWED,
    STATIC,
    Reviewer,
    group_reviewer,
    role_reviewer,
    user_reviewer,
)
from consentry.domain.directory import (
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    Tenant,
    User,
)
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import new_guid
from consentry.domain.odata import ODataQuery, decode_skiptoken, encode_skiptoken, parse_filter
from consentry.errors import (
    APP_DISABLED,
    GRAPH_FORBIDDEN,
    INVALID_VALUE,
    NOT_AUTHORIZED_TO_GRANT,
    ConsentryError,
)
from consentry.services import apps, consent, consent_requests, directory, grants
from consentry.services.context import SYSTEM, Actor, ServiceContext
from consentry.services.request_outcomes import complete_for_app
from consentry.store import migrate
from consentry.store.consent_requests import AppRequestFilter
from consentry.store.database import make_engine
from consentry.store.tables import app_consent_requests, audit_events, outbox, user_consent_requests
from consentry.store.uow import UnitOfWork

START = datetime(2026, 5, 4, 9, 0, 0, tzinfo=UTC)
BASE_URL = "https://id.contoso.test"
DAY = timedelta(days=1)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
GRAPH = find_builtin_application(MICROSOFT_GRAPH)
assert GRAPH is not None


def _graph_scope_id(value: str) -> str:
    return next(s.id for s in GRAPH.scopes if s.value == value)


def _graph_role_id(value: str) -> str:
    return next(r.id for r in GRAPH.app_roles if r.value == value)


# --- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceContext]:
    """Services over a fresh, migrated database, with a clock that stands still at START."""
    with _database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        context = ServiceContext(UnitOfWork(engine), ManualClock(START),
                                 Settings(db=url, data_dir=tmp_path, public_url=BASE_URL))
        try:
            yield context
        finally:
            context.sign_ins.close()
            engine.dispose()


class _database_url:
    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend, self.tmp_path = backend, tmp_path
        self._pg: Any = None

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp_path / 'consentry.db'}"
        self._pg = postgres_database(postgres_server_url_or_skip())
        return str(self._pg.__enter__())

    def __exit__(self, *exc: object) -> None:
        if self._pg is not None:
            self._pg.__exit__(*exc)


@dataclass
class World:
    ctx: ServiceContext
    tenant: Tenant
    admin: User  # Global Administrator, a reviewer
    app_admin: User  # Cloud Application Administrator, a reviewer through the role
    helper: User  # no directory role; a reviewer through the group
    outsider: User  # no role, not a reviewer
    requesters: list[User]
    group_id: str
    app: Application  # multi-tenant, registered in another tenant: no service principal here yet
    users: dict[str, User] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        return self.tenant.id

    def actor(self, user: User) -> Actor:
        return Actor("user", user.id, user.user_principal_name)

    def user(self, name: str, role: str | None = None) -> User:
        user = directory.create_user(self.ctx, self.tenant_id, f"{name}@contoso.test", name.title(), None, SYSTEM)
        if role:
            directory.assign_role(self.ctx, self.tenant_id, user.id, role, SYSTEM)
        return user

    def enable(self, **changes: Any) -> None:
        values: dict[str, Any] = dict(
            is_enabled=True, notify_reviewers=True, reminders_enabled=True,
            reviewers=[user_reviewer(self.admin.id), group_reviewer(self.group_id),
                       role_reviewer(CLOUD_APPLICATION_ADMINISTRATOR.id)])
        values.update(changes)
        consent_requests.update_request_policy(self.ctx, self.tenant_id, self.actor(self.admin), **values)

    def submit(self, user: User, scope: str = "https://graph.microsoft.com/.default",
               reason: str = "I need it for the quarterly report.", app_id: str | None = None) -> Any:
        return consent_requests.submit_request(self.ctx, self.tenant_id, app_id or self.app.app_id, user.id, scope,
                                               reason, self.actor(user))


def _app(publisher: Tenant, ctx: ServiceContext, *, with_graph_role: bool = False) -> Application:
    access = [ResourceAccess(_graph_scope_id("User.Read"), "Scope"), ResourceAccess(_graph_scope_id("Mail.Read"),
                                                                                     "Scope")]
    if with_graph_role:
        access.append(ResourceAccess(_graph_role_id("User.Read.All"), "Role"))
    app = Application(id=new_guid(), app_id=new_guid(), tenant_id=publisher.id, display_name="Fabrikam <Reports>",
                      sign_in_audience="AzureADMultipleOrgs", web_redirect_uris=("https://reports.fabrikam.test/cb",),
                      required_resource_access=(RequiredResourceAccess(MICROSOFT_GRAPH, tuple(access)),),
                      homepage_url="https://reports.fabrikam.test")
    return apps.register_application(ctx, publisher.id, app, SYSTEM)


@pytest.fixture
def world(ctx: ServiceContext) -> World:
    tenant = directory.create_tenant(ctx, "Contoso", ["contoso.test"])
    publisher = directory.create_tenant(ctx, "Fabrikam", ["fabrikam.test"])
    w = World(ctx, tenant, None, None, None, None, [], "", _app(publisher, ctx))  # type: ignore[arg-type]
    w.admin = w.user("admin", GLOBAL_ADMINISTRATOR.id)
    w.app_admin = w.user("appadmin", CLOUD_APPLICATION_ADMINISTRATOR.id)
    w.helper = w.user("helper")
    w.outsider = w.user("outsider")
    w.requesters = [w.user("adele"), w.user("bianca")]
    w.group_id = directory.create_group(ctx, tenant.id, "Consent reviewers", SYSTEM, member_ids=[w.helper.id]).id
    return w


def _rows(ctx: ServiceContext, table: Any, *where: Any) -> list[Any]:
    with ctx.uow.engine.connect() as conn:
        return list(conn.execute(select(table).where(*where)))


def _mail(ctx: ServiceContext, **filters: str) -> list[Any]:
    rows = _rows(ctx, outbox)
    return [r for r in rows if all(v in getattr(r, k) for k, v in filters.items())]


def _activities(ctx: ServiceContext, tenant_id: str) -> list[str]:
    rows = _rows(ctx, audit_events, audit_events.c.tenant_id == tenant_id)
    return [r.activity_display_name for r in sorted(rows, key=lambda r: r.activity_date_time)]


def _raises(entry: Any, call: Callable[[], object]) -> ConsentryError:
    with pytest.raises(ConsentryError) as info:
        call()
    assert info.value.entry is entry, info.value.message
    return info.value


# --- the policy -----------------------------------------------------------------------------------------
def test_a_never_configured_policy_reads_as_graph_shows_it(world: World) -> None:
    policy = consent_requests.get_request_policy(world.ctx, world.tenant_id)
    assert (policy.is_enabled, policy.notify_reviewers, policy.reminders_enabled, policy.request_duration_in_days,
            policy.reviewers, policy.version) == (False, False, False, 0, (), 0)


def test_enabling_without_reviewers_is_refused_and_changes_nothing(world: World) -> None:
    error = _raises(INVALID_VALUE, lambda: consent_requests.update_request_policy(
        world.ctx, world.tenant_id, SYSTEM, is_enabled=True))
    assert "reviewer" in error.message
    assert consent_requests.get_request_policy(world.ctx, world.tenant_id).version == 0


def test_each_change_bumps_the_version_and_is_audited_with_entra_names(world: World) -> None:
    update = consent_requests.update_request_policy
    first = update(world.ctx, world.tenant_id, SYSTEM, is_enabled=True, reviewers=[user_reviewer(world.admin.id)])
    assert (first.is_enabled, first.request_duration_in_days, first.version) == (True, 30, 1)
    second = update(world.ctx, world.tenant_id, SYSTEM, request_duration_in_days=7, notify_reviewers=True)
    assert (second.request_duration_in_days, second.notify_reviewers, second.version) == (7, True, 2)
    same = update(world.ctx, world.tenant_id, SYSTEM, request_duration_in_days=7)
    assert same.version == 2  # nothing changed: nothing written
    third = update(world.ctx, world.tenant_id, SYSTEM, is_enabled=False)
    assert (third.is_enabled, third.reviewers, third.version) == (False, second.reviewers, 3)
    assert consent_requests.get_request_policy(world.ctx, world.tenant_id) == third
    assert [a for a in _activities(world.ctx, world.tenant_id) if "governance" in a] == [
        "Create governance policy template", "Update governance policy template",
        "Delete governance policy template"]


@pytest.mark.parametrize("changes", [
    {"is_enabled": True, "reviewers": [Reviewer("/users/not-a-guid")]},
    {"is_enabled": True, "reviewers": [Reviewer("/me")]},
    {"is_enabled": True, "reviewers": [user_reviewer(new_guid())]},
    {"is_enabled": True, "reviewers": [group_reviewer(new_guid())]},
    {"is_enabled": True, "reviewers": [role_reviewer(new_guid())]},
    {"is_enabled": True, "reviewers": [Reviewer(user_reviewer(new_guid()).query, "Other")]},
    {"is_enabled": True, "request_duration_in_days": 0},
    {"request_duration_in_days": 31},
    {"request_duration_in_days": True},
    {"notify_reviewers": "yes"},
])
def test_invalid_policy_values_are_refused(world: World, changes: dict[str, Any]) -> None:
    changes = dict(changes)
    if "reviewers" not in changes:
        changes["reviewers"] = [user_reviewer(world.admin.id)]
    _raises(INVALID_VALUE, lambda: consent_requests.update_request_policy(world.ctx, world.tenant_id, SYSTEM,
                                                                          **changes))
    assert consent_requests.get_request_policy(world.ctx, world.tenant_id).version == 0


def test_a_user_of_another_tenant_cannot_be_a_reviewer(world: World) -> None:
    other = directory.create_tenant(world.ctx, "Tailspin", ["tailspin.test"])
    stranger = directory.create_user(world.ctx, other.id, "eve@tailspin.test", "Eve", None, SYSTEM)
    _raises(INVALID_VALUE, lambda: world.enable(reviewers=[user_reviewer(stranger.id)]))


def test_at_most_max_reviewers(world: World) -> None:
    many = [world.user(f"reviewer{i}") for i in range(26)]
    _raises(INVALID_VALUE, lambda: world.enable(reviewers=[user_reviewer(u.id) for u in many]))
    world.enable(reviewers=[user_reviewer(u.id) for u in many[:25]])


# --- submitting ----------------------------------------------------------------------------------------
def test_submitting_creates_the_aggregate_the_snapshot_the_audit_record_and_the_mail(world: World) -> None:
    world.enable()
    adele = world.requesters[0]
    request = world.submit(adele, reason="<script>alert('x')</script> for the <b>audit</b>")
    assert (request.status, request.review_result, request.expires_at) == (IN_PROGRESS, NOT_REVIEWED, START + 30 * DAY)
    assert set(request.reviewer_ids) == {world.admin.id, world.helper.id, world.app_admin.id}
    aggregate = consent_requests.get_app_request(world.ctx, world.tenant_id, request.app_request_id)
    assert (aggregate.app_id, aggregate.consent_type, aggregate.pending_scopes) == (world.app.app_id, STATIC, ())
    assert "Create request" in _activities(world.ctx, world.tenant_id)

    to_reviewers = _mail(world.ctx, event_key="/review/reviewer/")
    assert sorted(m.recipient for m in to_reviewers) == sorted(
        u.user_principal_name for u in (world.admin, world.helper, world.app_admin))
    mail = to_reviewers[0]
    assert mail.subject == "Review request: Adele requested access to Fabrikam <Reports>"
    assert "<script>" not in mail.body_html and "&lt;script&gt;" in mail.body_html
    assert "Fabrikam &lt;Reports&gt;" in mail.body_html
    link = f"{BASE_URL}/portal/consent-requests/{aggregate.id}"
    assert link in mail.body_html and link in mail.body_text
    assert "<script>alert('x')</script>" in mail.body_text  # plain text stays as written
    assert "User.Read (Microsoft Graph)" in mail.body_text and "Mail.Read (Microsoft Graph)" in mail.body_text
    (confirmation,) = _mail(world.ctx, event_key="/submitted/requester")
    assert confirmation.recipient == adele.user_principal_name
    assert confirmation.subject == "Your request for access to Fabrikam <Reports> was sent for approval"


def test_without_notifications_only_the_requester_is_mailed(world: World) -> None:
    world.enable(notify_reviewers=False)
    world.submit(world.requesters[0])
    assert [m.event_key.split("/")[2] for m in _mail(world.ctx)] == ["submitted"]


def test_submitting_is_refused_while_the_workflow_is_off(world: World) -> None:
    _raises(INVALID_VALUE, lambda: world.submit(world.requesters[0]))


def test_a_justification_is_required_and_bounded(world: World) -> None:
    world.enable()
    _raises(INVALID_VALUE, lambda: world.submit(world.requesters[0], reason="   "))
    _raises(INVALID_VALUE, lambda: world.submit(world.requesters[0], reason="x" * 1001))
    assert _rows(world.ctx, user_consent_requests) == []


def test_submitting_again_returns_the_request_in_progress_without_new_work(world: World) -> None:
    world.enable()
    first = world.submit(world.requesters[0])
    mails = len(_mail(world.ctx))
    again = world.submit(world.requesters[0], reason="Please, it is urgent.")
    assert again.id == first.id and again.reason == first.reason
    assert len(_mail(world.ctx)) == mails
    assert len(_rows(world.ctx, user_consent_requests)) == 1
    assert consent_requests.find_in_progress(world.ctx, world.tenant_id, world.app.app_id, world.requesters[0].id,
                                             STATIC).id == first.id


def test_dynamic_requests_aggregate_apart_with_the_union_of_their_scopes(world: World) -> None:
    world.enable()
    adele, bianca = world.requesters
    a = world.submit(adele, scope="openid profile User.Read Mail.Read")
    b = world.submit(bianca, scope="openid https://graph.microsoft.com/calendars.read Mail.Read")
    static = world.submit(bianca)
    assert a.app_request_id == b.app_request_id != static.app_request_id
    aggregate = consent_requests.get_app_request(world.ctx, world.tenant_id, a.app_request_id)
    assert aggregate.consent_type == DYNAMIC
    assert aggregate.pending_scopes == ("openid", "profile", "User.Read", "Mail.Read", "Calendars.Read")
    assert consent_requests.consent_type_for("openid profile offline_access") == STATIC
    assert consent_requests.consent_type_for("User.Read openid") == DYNAMIC


def test_unknown_scopes_and_blocked_apps_take_no_request(world: World) -> None:
    world.enable()
    with pytest.raises(ConsentryError):
        world.submit(world.requesters[0], scope="User.Read Not.A.Permission")
    apps.create_service_principal(world.ctx, world.tenant_id, world.app.app_id, SYSTEM)
    apps.update_service_principal(world.ctx, world.tenant_id, world.app.app_id, SYSTEM, account_enabled=False)
    _raises(APP_DISABLED, lambda: world.submit(world.requesters[0]))


def _in_threads(count: int, work: Callable[[int], object]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_fifty_users_at_once_make_one_aggregate_and_fifty_requests(world: World) -> None:
    world.enable(notify_reviewers=False)
    users = [world.user(f"crowd{i}") for i in range(50)]
    assert _in_threads(50, lambda i: world.submit(users[i], scope="User.Read Mail.Read")) == []
    assert len(_rows(world.ctx, app_consent_requests)) == 1
    rows = _rows(world.ctx, user_consent_requests)
    assert sorted(r.user_id for r in rows) == sorted(u.id for u in users)
    assert len(_mail(world.ctx, event_key="/submitted/")) == 50


def test_one_user_ten_times_at_once_makes_one_request(world: World) -> None:
    world.enable()
    adele = world.requesters[0]
    assert _in_threads(10, lambda i: world.submit(adele, reason=f"attempt {i}")) == []
    assert len(_rows(world.ctx, user_consent_requests)) == 1
    assert len(_mail(world.ctx, event_key="/submitted/")) == 1
    assert len(_mail(world.ctx, event_key="/review/")) == 3


# --- deciding -------------------------------------------------------------------------------------------
def test_only_reviewers_of_the_request_may_decide(world: World) -> None:
    world.enable()
    adele = world.requesters[0]
    request = world.submit(adele)
    for who in (world.outsider, adele):  # a user deciding her own request without being a reviewer
        _raises(GRAPH_FORBIDDEN, lambda u=who: consent_requests.approve_request(
            world.ctx, world.tenant_id, request.app_request_id, u.id, None, world.actor(u)))
        _raises(GRAPH_FORBIDDEN, lambda u=who: consent_requests.deny_request(
            world.ctx, world.tenant_id, request.app_request_id, u.id, "no", world.actor(u)))
    other = directory.create_tenant(world.ctx, "Tailspin", ["tailspin.test"])
    with pytest.raises(ConsentryError):  # a reviewer of another tenant does not even see it
        consent_requests.deny_request(world.ctx, other.id, request.app_request_id, world.admin.id, "no",
                                      world.actor(world.admin))


def test_a_reviewer_without_consent_rights_may_deny_but_not_approve(world: World) -> None:
    world.enable()
    request = world.submit(world.requesters[0])
    _raises(NOT_AUTHORIZED_TO_GRANT, lambda: consent_requests.approve_request(
        world.ctx, world.tenant_id, request.app_request_id, world.helper.id, None, world.actor(world.helper)))
    closed = consent_requests.deny_request(world.ctx, world.tenant_id, request.app_request_id, world.helper.id,
                                           "Use the approved reporting tool instead.", world.actor(world.helper))
    assert [(r.status, r.review_result, r.outcome, r.reviewed_by_id) for r in closed] == [
        (COMPLETED, DENY, "denied", world.helper.id)]


def test_an_application_administrator_cannot_approve_microsoft_graph_app_roles(ctx: ServiceContext,
                                                                                world: World) -> None:
    publisher = directory.create_tenant(ctx, "Litware", ["litware.test"])
    app = _app(publisher, ctx, with_graph_role=True)
    world.enable()
    request = world.submit(world.requesters[0], app_id=app.app_id)
    _raises(NOT_AUTHORIZED_TO_GRANT, lambda: consent_requests.approve_request(
        ctx, world.tenant_id, request.app_request_id, world.app_admin.id, None, world.actor(world.app_admin)))
    consent_requests.approve_request(ctx, world.tenant_id, request.app_request_id, world.admin.id,
                                     None, world.actor(world.admin))


def _tenant_wide_scopes(world: World, app_id: str) -> set[str]:
    sp = apps.find_service_principal(world.ctx, world.tenant_id, app_id=app_id)
    return {v for g in grants.list_grants(world.ctx, world.tenant_id, sp.id) if g.consent_type == ALL_PRINCIPALS
            for v in g.scope.split()}


def test_approving_grants_admin_consent_and_completes_every_pending_request(world: World) -> None:
    world.enable()
    adele, bianca = world.requesters
    first, second = world.submit(adele), world.submit(bianca)
    closed = consent_requests.approve_request(world.ctx, world.tenant_id, first.app_request_id, world.app_admin.id,
                                              "Fine for reports.", world.actor(world.app_admin))
    assert {r.id for r in closed} == {first.id, second.id}
    assert {(r.status, r.review_result, r.outcome, r.review_justification, r.reviewed_by_id) for r in closed} == {
        (COMPLETED, APPROVE, "approved", "Fine for reports.", world.app_admin.id)}
    assert _tenant_wide_scopes(world, world.app.app_id) == {"User.Read", "Mail.Read"}
    approved = _mail(world.ctx, event_key="/approved/requester")
    assert sorted(m.recipient for m in approved) == sorted([adele.user_principal_name, bianca.user_principal_name])
    activities = _activities(world.ctx, world.tenant_id)
    assert "Consent to application" in activities and "Approve all requests in business flow" in activities
    assert activities.count("Request approved") == 2
    assert consent_requests.find_in_progress(world.ctx, world.tenant_id, world.app.app_id, adele.id, STATIC) is None


def test_approving_dynamic_scopes_merges_with_what_is_granted(world: World) -> None:
    world.enable()
    world.submit(world.requesters[0])
    static_id = world.submit(world.requesters[1]).app_request_id
    closed = consent_requests.approve_request(world.ctx, world.tenant_id, static_id, world.admin.id, None,
                                              world.actor(world.admin))
    assert {r.review_justification for r in closed} == {"Admin consent granted."}
    dynamic = world.submit(world.requesters[0], scope="Calendars.Read")
    consent_requests.approve_request(world.ctx, world.tenant_id, dynamic.app_request_id, world.admin.id,
                                     None, world.actor(world.admin))
    assert _tenant_wide_scopes(world, world.app.app_id) == {"User.Read", "Mail.Read", "Calendars.Read"}
    aggregate = consent_requests.get_app_request(world.ctx, world.tenant_id, dynamic.app_request_id)
    assert aggregate.pending_scopes == ()


def test_a_removed_reviewer_still_may_act_and_a_new_one_may_not(world: World) -> None:
    world.enable(reviewers=[user_reviewer(world.admin.id), group_reviewer(world.group_id)])
    request = world.submit(world.requesters[0])
    newcomer = world.user("newcomer", GLOBAL_ADMINISTRATOR.id)
    world.enable(reviewers=[user_reviewer(newcomer.id)])
    directory.remove_group_member(world.ctx, world.tenant_id, world.group_id, world.helper.id, SYSTEM)
    _raises(GRAPH_FORBIDDEN, lambda: consent_requests.approve_request(
        world.ctx, world.tenant_id, request.app_request_id, newcomer.id, None, world.actor(newcomer)))
    consent_requests.approve_request(world.ctx, world.tenant_id, request.app_request_id, world.admin.id,
                                     None, world.actor(world.admin))


def test_deny_changes_nothing_tells_the_requesters_and_lets_them_ask_again(world: World) -> None:
    world.enable()
    adele = world.requesters[0]
    request = world.submit(adele)
    consent_requests.deny_request(world.ctx, world.tenant_id, request.app_request_id, world.admin.id,
                                  "Not <approved> for finance data.", world.actor(world.admin))
    with pytest.raises(ConsentryError):
        apps.find_service_principal(world.ctx, world.tenant_id, app_id=world.app.app_id)
    (denied,) = _mail(world.ctx, event_key="/denied/requester")
    assert denied.subject == "Your request for access to Fabrikam <Reports> was denied"
    assert "Not &lt;approved&gt; for finance data." in denied.body_html
    assert "Not <approved> for finance data." in denied.body_text
    assert "Deny all requests in business flow" in _activities(world.ctx, world.tenant_id)
    again = world.submit(adele)
    assert again.id != request.id and again.app_request_id == request.app_request_id
    _raises(INVALID_VALUE, lambda: consent_requests.deny_request(
        world.ctx, world.tenant_id, request.app_request_id, world.admin.id, "", world.actor(world.admin)))


def test_block_creates_a_disabled_service_principal(world: World) -> None:
    world.enable()
    request = world.submit(world.requesters[0])
    dynamic = world.submit(world.requesters[1], scope="Calendars.Read")
    closed = consent_requests.block_request(world.ctx, world.tenant_id, request.app_request_id, world.helper.id,
                                            "Unsanctioned app.", world.actor(world.helper))
    assert {(r.id, r.outcome, r.review_result) for r in closed} == {(request.id, "blocked", DENY),
                                                                     (dynamic.id, "blocked", DENY)}
    sp = apps.find_service_principal(world.ctx, world.tenant_id, app_id=world.app.app_id)
    assert sp.account_enabled is False
    assert len(_mail(world.ctx, event_key="/blocked/requester")) == 2
    _raises(APP_DISABLED, lambda: world.submit(world.requesters[0]))


def test_block_disables_an_existing_service_principal(world: World) -> None:
    world.enable()
    apps.create_service_principal(world.ctx, world.tenant_id, world.app.app_id, SYSTEM)
    request = world.submit(world.requesters[0])
    consent_requests.block_request(world.ctx, world.tenant_id, request.app_request_id, world.admin.id,
                                   "Blocked.", world.actor(world.admin))
    assert apps.find_service_principal(world.ctx, world.tenant_id, app_id=world.app.app_id).account_enabled is False
    assert "Update service principal" in _activities(world.ctx, world.tenant_id)


def test_an_admin_consent_completes_each_aggregate_whose_permissions_it_grants(world: World) -> None:
    world.enable()
    static = world.submit(world.requesters[0])
    dynamic = world.submit(world.requesters[1], scope="Mail.Read Calendars.Read")
    # The portal's "Grant admin consent" grants the static list (User.Read, Mail.Read): the Static request is
    # covered; the Dynamic one also asks for Calendars.Read, so it stays pending.
    consent.grant_admin_consent_for_tenant(world.ctx, world.tenant_id, world.app.app_id, world.admin.id,
                                           world.actor(world.admin))
    assert _status(world, static) == (COMPLETED, "approved")
    assert _status(world, dynamic) == (IN_PROGRESS, None)
    with world.ctx.uow.begin() as tx:  # the hook again: still not covered, nothing written
        assert complete_for_app(tx, world.tenant_id, world.app.app_id, world.admin.id, START,
                                world.actor(world.admin), base_url=BASE_URL) == []
    before = len(_rows(world.ctx, audit_events))
    consent_requests.approve_request(world.ctx, world.tenant_id, dynamic.app_request_id, world.admin.id, None,
                                     world.actor(world.admin))
    assert _status(world, dynamic) == (COMPLETED, "approved")
    assert len(_rows(world.ctx, audit_events)) > before
    before = len(_rows(world.ctx, audit_events))
    with world.ctx.uow.begin() as tx:  # nothing pending: nothing written
        assert complete_for_app(tx, world.tenant_id, world.app.app_id, None, START, SYSTEM, base_url=BASE_URL) == []
    assert len(_rows(world.ctx, audit_events)) == before


def test_approving_one_aggregate_completes_the_other_only_when_it_is_granted_too(world: World) -> None:
    world.enable()
    static = world.submit(world.requesters[0])
    dynamic = world.submit(world.requesters[1], scope="Calendars.Read")
    closed = consent_requests.approve_request(world.ctx, world.tenant_id, dynamic.app_request_id, world.admin.id,
                                              None, world.actor(world.admin))
    assert [r.id for r in closed] == [dynamic.id]
    assert _status(world, static) == (IN_PROGRESS, None)  # its User.Read and Mail.Read are not granted
    later = world.submit(world.user("carol"), scope="openid profile User.Read Mail.Read")
    assert later.app_request_id == dynamic.app_request_id
    closed = consent_requests.approve_request(world.ctx, world.tenant_id, static.app_request_id, world.admin.id,
                                              None, world.actor(world.admin))
    # The static list covers what Carol asked for (OpenID Connect scopes never hold a sign-in back).
    assert {r.id for r in closed} == {static.id, later.id}
    assert _status(world, later) == (COMPLETED, "approved")


def _status(world: World, request: Any) -> tuple[str, str | None]:
    found = consent_requests.get_user_request(world.ctx, world.tenant_id, request.app_request_id, request.id)
    return found.status, found.outcome


# --- the clock ------------------------------------------------------------------------------------------
def test_requests_expire_once_with_mail_to_requester_and_reviewers(world: World) -> None:
    world.enable(request_duration_in_days=3, reminders_enabled=False)
    request = world.submit(world.requesters[0])
    assert consent_requests.run_due(world.ctx, START + 3 * DAY - timedelta(seconds=1)).expired == 0
    assert consent_requests.run_due(world.ctx, START + 3 * DAY).expired == 1
    assert consent_requests.run_due(world.ctx, START + 4 * DAY).expired == 0
    (row,) = _rows(world.ctx, user_consent_requests)
    assert (row.status, row.outcome) == (EXPIRED, "expired")
    assert len(_mail(world.ctx, event_key="/expired/requester")) == 1
    assert len(_mail(world.ctx, event_key="/expired_for_reviewer/reviewer/")) == 3
    assert _activities(world.ctx, world.tenant_id).count("Request expired") == 1
    again = world.submit(world.requesters[0])
    assert again.id != request.id


def test_expiry_from_two_threads_happens_once(world: World) -> None:
    world.enable(request_duration_in_days=1, notify_reviewers=False)
    for user in [*world.requesters, world.outsider, world.helper]:
        world.submit(user)
    reports: list[Any] = []
    assert _in_threads(2, lambda i: reports.append(consent_requests.run_due(world.ctx, START + 2 * DAY))) == []
    assert sum(r.expired for r in reports) == 4
    assert len(_mail(world.ctx, event_key="/expired/requester")) == 4
    assert _activities(world.ctx, world.tenant_id).count("Request expired") == 4


def test_expiry_works_in_batches(world: World) -> None:
    world.enable(request_duration_in_days=1, notify_reviewers=False)
    users = [world.user(f"batch{i}") for i in range(7)]
    for user in users:
        world.submit(user, scope="User.Read")
    report = consent_requests.run_due(world.ctx, START + 2 * DAY, batch_size=3)
    assert report.expired == 7
    (aggregate,) = _rows(world.ctx, app_consent_requests)
    assert aggregate.pending_scopes == []


def test_an_overdue_request_the_job_has_not_reached_gives_way_to_a_new_one(world: World) -> None:
    world.enable(request_duration_in_days=1)
    first = world.submit(world.requesters[0])
    assert isinstance(world.ctx.clock, ManualClock)
    world.ctx.clock.advance(2 * DAY)
    assert consent_requests.find_in_progress(world.ctx, world.tenant_id, world.app.app_id, world.requesters[0].id,
                                             STATIC) is None
    second = world.submit(world.requesters[0])
    assert second.id != first.id
    statuses = {r.id: r.status for r in _rows(world.ctx, user_consent_requests)}
    assert statuses == {first.id: EXPIRED, second.id: IN_PROGRESS}


def test_reminders_go_halfway_and_the_day_before_each_once(world: World) -> None:
    world.enable(request_duration_in_days=4)
    world.submit(world.requesters[0])
    run = consent_requests.run_due
    assert run(world.ctx, START + 2 * DAY - timedelta(minutes=1)).first_reminders == 0
    assert run(world.ctx, START + 2 * DAY).first_reminders == 1
    assert run(world.ctx, START + 2 * DAY + timedelta(hours=1)).first_reminders == 0
    assert len(_mail(world.ctx, event_key="/first_reminder/reviewer/")) == 3
    reports: list[Any] = []
    assert _in_threads(2, lambda i: reports.append(run(world.ctx, START + 3 * DAY))) == []
    assert sum(r.last_reminders for r in reports) == 1
    final = _mail(world.ctx, event_key="/final_reminder/reviewer/")
    assert len(final) == 3 and final[0].subject.startswith("Final reminder: Adele's request")
    assert run(world.ctx, START + 4 * DAY) == consent_requests.DueReport(expired=1)


def test_when_both_reminders_are_due_only_the_final_one_goes(world: World) -> None:
    world.enable(request_duration_in_days=10)
    world.submit(world.requesters[0])
    report = consent_requests.run_due(world.ctx, START + 9 * DAY + timedelta(hours=1))
    assert (report.first_reminders, report.last_reminders) == (0, 1)
    assert consent_requests.run_due(world.ctx, START + 9 * DAY + timedelta(hours=2)).first_reminders == 0
    assert _mail(world.ctx, event_key="/first_reminder/") == []


def test_no_reminders_unless_reminders_and_notifications_are_on(world: World) -> None:
    world.enable(request_duration_in_days=4, reminders_enabled=False)
    world.submit(world.requesters[0])
    assert consent_requests.run_due(world.ctx, START + 3 * DAY + timedelta(hours=1)) == consent_requests.DueReport()
    world.enable(reminders_enabled=True, notify_reviewers=False)
    assert consent_requests.run_due(world.ctx, START + 3 * DAY + timedelta(hours=1)) == consent_requests.DueReport()


# --- reading --------------------------------------------------------------------------------------------
def test_listing_filters_and_pages(world: World) -> None:
    world.enable(reviewers=[user_reviewer(world.admin.id)])
    static = world.submit(world.requesters[0])
    world.ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    dynamic = world.submit(world.requesters[1], scope="Mail.Read")
    consent_requests.deny_request(world.ctx, world.tenant_id, static.app_request_id, world.admin.id, "No.",
                                  world.actor(world.admin))
    page = consent_requests.page_app_requests
    items, _ = page(world.ctx, world.tenant_id, ODataQuery())
    assert [a.id for a in items] == [dynamic.app_request_id, static.app_request_id]  # newest first
    pending = ODataQuery(filter=parse_filter("userConsentRequests/any(u:u/status eq 'InProgress')"))
    assert [a.id for a in page(world.ctx, world.tenant_id, pending)[0]] == [dynamic.app_request_id]
    by_type = ODataQuery(filter=parse_filter("consentType eq 'Static'"), count=True)
    items, info = page(world.ctx, world.tenant_id, by_type)
    assert [a.id for a in items] == [static.app_request_id] and info.count == 1
    assert [a.id for a in page(world.ctx, world.tenant_id, ODataQuery(), AppRequestFilter(outcome="denied"))[0]] \
        == [static.app_request_id]
    mine = consent_requests.requests_for_reviewer(world.ctx, world.tenant_id, world.admin.id, ODataQuery())[0]
    assert [a.id for a in mine] == [dynamic.app_request_id]
    assert consent_requests.requests_for_reviewer(world.ctx, world.tenant_id, world.helper.id, ODataQuery())[0] == []
    first, info = page(world.ctx, world.tenant_id, ODataQuery(top=1))
    assert info.next_after is not None
    token = decode_skiptoken(encode_skiptoken(info.next_after))
    second, info = page(world.ctx, world.tenant_id, ODataQuery(top=1, after=token))
    assert [a.id for a in first + second] == [dynamic.app_request_id, static.app_request_id]
    assert info.next_after is None
    by_name = ODataQuery(orderby=(("appDisplayName", False),))
    assert len(page(world.ctx, world.tenant_id, by_name)[0]) == 2
    users = consent_requests.list_user_requests(world.ctx, world.tenant_id, static.app_request_id)
    assert [(u.id, u.status, u.reviewer_ids) for u in users] == [(static.id, COMPLETED, (world.admin.id,))]
    got = consent_requests.get_user_request(world.ctx, world.tenant_id, static.app_request_id, static.id)
    assert got.reviewed_by_id == world.admin.id
    user_page, _ = consent_requests.page_user_requests(
        world.ctx, world.tenant_id, dynamic.app_request_id,
        ODataQuery(filter=parse_filter("status eq 'InProgress'")), reviewer_id=world.admin.id)
    assert [u.id for u in user_page] == [dynamic.id]

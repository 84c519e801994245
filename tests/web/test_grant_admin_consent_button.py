"""The portal's consent actions as services (spec §8.3, §13.2): "Grant admin consent for {tenant}" replaces
the tenant-wide grants with the static list, and "Revoke permission" takes one permission out of a grant."""

from __future__ import annotations

import pytest
from tests.protocol.helpers import TEST_ACTOR, make_tenant, make_user
from tests.support.server import RunningServer
from tests.web.test_consent import grants_of, make_admin, register, scope_of

from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.errors import ConsentryError
from consentry.services import consent, grants


def test_the_button_replaces_tenant_wide_grants_with_the_static_list(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)},
                   roles={EXCHANGE_ONLINE: ("full_access_as_app",)})
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, "Contacts.Read", TEST_ACTOR)
    grants.add_grant(server.ctx, tenant.id, app.app_id, EXCHANGE_ONLINE, ALL_PRINCIPALS, "EAS.AccessAsUser.All",
                     TEST_ACTOR)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, "Principal", "Calendars.Read", TEST_ACTOR,
                     principal_id=user.id)
    done = consent.grant_admin_consent_for_tenant(server.ctx, tenant.id, app.app_id, admin.id, TEST_ACTOR)
    assert {p.value for p in done.permissions} == {"User.Read", "full_access_as_app"}
    found = {(g.consent_type, g.resource_id): g for g in grants_of(server, tenant.id, app.app_id)}
    assert [scope_of(g) for (kind, _), g in found.items() if kind == ALL_PRINCIPALS] == [{"User.Read"}]
    assert [scope_of(g) for (kind, _), g in found.items() if kind == "Principal"] == [{"Calendars.Read"}]
    with server.ctx.uow.read() as tx:
        scope = tx.tenant(tenant.id)
        client = scope.apps.find_service_principal_by_app_id(app.app_id)
        assert client is not None
        held = scope.grants.list_assignments(principal_ids=[client.id])
    assert len(held) == 1 and held[0].principal_type == "ServicePrincipal"


def test_the_button_refuses_graph_app_roles_to_a_cloud_application_administrator(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, roles={MICROSOFT_GRAPH: ("User.Read.All",)})
    alex = make_admin(server, tenant, "Cloud Application Administrator")
    with pytest.raises(ConsentryError) as refused:
        consent.grant_admin_consent_for_tenant(server.ctx, tenant.id, app.app_id, alex.id, TEST_ACTOR)
    assert refused.value.entry.aadsts == 90093
    assert grants_of(server, tenant.id, app.app_id) == []


def test_revoking_permissions_one_by_one_removes_the_grant_at_the_end(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant)
    grant = grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS,
                             "User.Read Contacts.Read", TEST_ACTOR)
    grants.revoke_permission(server.ctx, tenant.id, grant.id, "contacts.read", TEST_ACTOR)
    [left] = grants_of(server, tenant.id, app.app_id)
    assert scope_of(left) == {"User.Read"} and left.granted_by == TEST_ACTOR.name
    with pytest.raises(ConsentryError):
        grants.revoke_permission(server.ctx, tenant.id, grant.id, "Mail.Read", TEST_ACTOR)
    grants.revoke_permission(server.ctx, tenant.id, grant.id, "User.Read", TEST_ACTOR)
    assert grants_of(server, tenant.id, app.app_id) == []

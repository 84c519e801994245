"""``/organization``: the caller's tenant and nobody else's."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from tests.graph.conftest import OtherTenant
from tests.graph.helpers import assert_graph_error as _error
from tests.support.server import RunningServer

from consentry.services.demo import CONTOSO_TENANT_ID

Graph = Callable[..., httpx.Client]


def test_the_organization_is_the_callers_tenant_with_its_verified_domains(
        server: RunningServer, user_token: Callable[..., str], graph: Graph) -> None:
    r = graph(user_token("adele@contoso.example")).get("/v1.0/organization")
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"] == f"{server.base_url}/v1.0/$metadata#organization"
    [org] = body["value"]
    assert (org["id"], org["displayName"], org["tenantType"]) == (CONTOSO_TENANT_ID, "Contoso", "AAD")
    assert org["verifiedDomains"] == [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                                       "isInitial": True, "name": "contoso.example", "type": "Managed"}]
    assert org["createdDateTime"].endswith("Z")


def test_the_organization_is_found_by_its_id_and_selected(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).get(f"/v1.0/organization/{CONTOSO_TENANT_ID}",
                               params={"$select": "id,displayName,verifiedDomains"})
    assert r.status_code == 200
    assert set(r.json()) == {"@odata.context", "id", "displayName", "verifiedDomains"}
    _error(graph(admin_token).get("/v1.0/organization", params={"$select": "motto"}), 400, "Request_BadRequest")


def test_count_on_the_organization_needs_consistency_level(admin_token: str, graph: Graph) -> None:
    _error(graph(admin_token).get("/v1.0/organization", params={"$count": "true"}), 400, "Request_BadRequest",
           "$count is not currently supported.")
    r = graph(admin_token, ConsistencyLevel="eventual").get("/v1.0/organization", params={"$count": "true"})
    assert r.json()["@odata.count"] == 1


def test_an_app_reads_its_own_tenants_organization(app_token: Callable[..., str], graph: Graph,
                                                  other_tenant: OtherTenant) -> None:
    client = graph(app_token(other_tenant.tenant_id, ("Organization.Read.All",)))
    [org] = client.get("/v1.0/organization").json()["value"]
    assert (org["id"], org["displayName"]) == (other_tenant.tenant_id, "Fabrikam")
    assert [d["name"] for d in org["verifiedDomains"]] == [other_tenant.domain]
    _error(client.get(f"/v1.0/organization/{CONTOSO_TENANT_ID}"), 404, "Request_ResourceNotFound")


def test_another_tenants_organization_is_404(admin_token: str, graph: Graph, other_tenant: OtherTenant) -> None:
    _error(graph(admin_token).get(f"/v1.0/organization/{other_tenant.tenant_id}"), 404, "Request_ResourceNotFound")


def test_an_app_without_permission_may_not_read_the_organization(app_token: Callable[..., str],
                                                                 graph: Graph) -> None:
    _error(graph(app_token()).get("/v1.0/organization"), 403, "Authorization_RequestDenied")

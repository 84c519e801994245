"""``/organization``: the caller's tenant, as a one-item collection (and by its id)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.directory import Tenant
from consentry.errors import GRAPH_NOT_FOUND, ConsentryError
from consentry.services import authz
from consentry.services import directory as directory_service
from consentry.web.graph.common import caller, collection, entity, iso, runtime_of
from consentry.web.graph.users import directory_query

router = APIRouter(tags=["organization"])


def organization_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id, "deletedDateTime": None, "businessPhones": [], "city": None, "country": None,
        "countryLetterCode": None, "createdDateTime": iso(tenant.created_at), "defaultUsageLocation": None,
        "displayName": tenant.display_name, "isMultipleDataLocationsForServicesEnabled": None,
        "marketingNotificationEmails": [], "onPremisesLastSyncDateTime": None, "onPremisesSyncEnabled": None,
        "partnerTenantType": None, "postalCode": None, "preferredLanguage": None, "privacyProfile": None,
        "securityComplianceNotificationMails": [], "securityComplianceNotificationPhones": [], "state": None,
        "street": None, "technicalNotificationMails": [], "tenantType": "AAD", "assignedPlans": [],
        "provisionedPlans": [],
        # The first domain is the default one, and the one the tenant was created with.
        "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": i == 0,
                             "isInitial": i == 0, "name": name, "type": "Managed"}
                            for i, name in enumerate(tenant.domains)],
    }


_PROPERTIES = frozenset(organization_json(Tenant("", "", (), datetime(2000, 1, 1, tzinfo=UTC))))


@router.get("/organization")
async def list_organization(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "organization", _PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_ORGANIZATION)
    tenant = await run_in_threadpool(directory_service.get_organization, rt.ctx, who.tenant_id)
    return collection(request, "organization", [organization_json(tenant)], query, None, 1 if query.count else None)


@router.get("/organization/{organization_id}")
async def get_organization(request: Request, organization_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "organization", _PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_ORGANIZATION)
    if organization_id.lower() != who.tenant_id.lower():
        raise ConsentryError(GRAPH_NOT_FOUND, id=organization_id)
    tenant = await run_in_threadpool(directory_service.get_organization, rt.ctx, who.tenant_id)
    return entity(request, "organization/$entity", organization_json(tenant), select=query.select)

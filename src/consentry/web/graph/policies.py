"""``/policies``: the tenant's consent policy in Microsoft Graph's shape (spec §6.1, §6.3).

``/policies/authorizationPolicy`` (also at the older ``/policies/authorizationPolicy/authorizationPolicy``):
GET and PATCH (204). Consentry keeps two of its properties:

- ``defaultUserRolePermissions.permissionGrantPoliciesAssigned`` — user consent; a PATCH replaces the whole
  list, as Graph does (read it first, change it, send it back);
- ``allowUserConsentForRiskyApps`` — the inverse of Entra's ``BlockUserConsentForRiskyApps`` setting.

The other properties show Entra's defaults for a new tenant, except the default user role's abilities that
Consentry decides itself: members cannot register applications, create security groups or create tenants
(Graph needs an administrator role for those here), and can read other users. A PATCH may send any of
them with the value a GET shows (so a read-modify-write round trip works); any other value is refused
with 400, never silently dropped.

``/policies/permissionGrantPolicies`` is :mod:`consentry.web.graph.grant_policies`, included here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError
from consentry.services import authz
from consentry.services import policies as service
from consentry.services.policies import ConsentSettings
from consentry.web.graph import grant_policies
from consentry.web.graph.common import actor_of, caller, entity, no_content, odata_query, read_body, runtime_of

router = APIRouter(tags=["policies"])
router.include_router(grant_policies.router)
PATH = "/policies/authorizationPolicy"
OLD_PATH = "/policies/authorizationPolicy/authorizationPolicy"
GUEST_USER_ROLE = "10dae51f-b6af-4016-8d66-8c2a99b929b3"
DESCRIPTION = "Used to manage authorization related settings across the company."
# Properties Consentry does not keep, with the value(s) a PATCH may send: what a GET shows first.
FIXED: dict[str, tuple[Any, ...]] = {
    "displayName": (service.AUTHORIZATION_POLICY_NAME,), "description": (DESCRIPTION,),
    "allowInvitesFrom": ("everyone",), "allowedToSignUpEmailBasedSubscriptions": (True,),
    "allowedToUseSSPR": (True,), "allowEmailVerifiedUsersToJoinOrganization": (True,),
    "blockMsolPowerShell": (False, None), "guestUserRoleId": (GUEST_USER_ROLE,),
    "id": (service.AUTHORIZATION_POLICY_ID,),
}
FIXED_ROLE_PERMISSIONS: dict[str, tuple[Any, ...]] = {
    "allowedToCreateApps": (False,), "allowedToCreateSecurityGroups": (False,), "allowedToCreateTenants": (False,),
    "allowedToReadBitlockerKeysForOwnedDevice": (True,), "allowedToReadOtherUsers": (True,),
}
ASSIGNED = "permissionGrantPoliciesAssigned"
PROPERTIES = {*FIXED, "allowUserConsentForRiskyApps", "defaultUserRolePermissions"}


def authorization_policy_json(settings: ConsentSettings) -> dict[str, Any]:
    fixed = {name: values[0] for name, values in FIXED.items()}
    role = {name: values[0] for name, values in FIXED_ROLE_PERMISSIONS.items()}
    return {**fixed, "allowUserConsentForRiskyApps": not settings.block_user_consent_for_risky_apps,
            "defaultUserRolePermissions": {**role, ASSIGNED: list(settings.permission_grant_policies_assigned)}}


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def _same(value: Any, allowed: tuple[Any, ...]) -> bool:
    # bool is an int in Python: compare types too, so 1 is not taken for true.
    return any(type(value) is type(a) and (value.lower() == a.lower() if isinstance(a, str) else value == a)
               for a in allowed)


def _fixed(body: dict[str, Any], fixed: dict[str, tuple[Any, ...]], prefix: str = "") -> None:
    for name, allowed in fixed.items():
        if name in body and not _same(body[name], allowed):
            shown = "null" if allowed[0] is None else str(allowed[0]).lower() if isinstance(allowed[0], bool) \
                else allowed[0]
            raise _bad(f"Setting '{prefix}{name}' is not supported by Consentry: only its current value "
                       f"({shown}) is accepted.")


def _assigned(value: Any) -> list[Any] | None:
    """``defaultUserRolePermissions``: its list of policies (None when absent); the rest is fixed."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("'defaultUserRolePermissions' must be an object.")
    value = {k: v for k, v in value.items() if not k.startswith("@odata.")}
    unknown = sorted(set(value) - {*FIXED_ROLE_PERMISSIONS, ASSIGNED})
    if unknown:
        raise _bad(f"Property 'defaultUserRolePermissions.{unknown[0][:100]}' is not supported here or does not "
                   "exist on this resource.")
    _fixed(value, FIXED_ROLE_PERMISSIONS, "defaultUserRolePermissions.")
    if ASSIGNED not in value:
        return None
    if not isinstance(value[ASSIGNED], list):
        raise _bad(f"'defaultUserRolePermissions.{ASSIGNED}' must be a list of strings.")
    return list(value[ASSIGNED])


def _allow_risky(body: dict[str, Any]) -> bool | None:
    if "allowUserConsentForRiskyApps" not in body:
        return None
    value = body["allowUserConsentForRiskyApps"]
    if not isinstance(value, bool):
        raise _bad("Invalid value for 'allowUserConsentForRiskyApps': a boolean is required.")
    return value


async def _get(request: Request, who: Caller) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.READ_AUTHORIZATION_POLICY)
    settings = await run_in_threadpool(service.get_consent_settings, rt.ctx, who.tenant_id)
    return entity(request, "policies/authorizationPolicy/$entity", authorization_policy_json(settings),
                  select=query.select)


async def _patch(request: Request, who: Caller) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.WRITE_AUTHORIZATION_POLICY)
    _fixed(body, FIXED)
    assigned = _assigned(body.get("defaultUserRolePermissions"))
    allow_risky = _allow_risky(body)
    await run_in_threadpool(lambda: service.update_authorization_policy(
        rt.ctx, who.tenant_id, actor_of(request, who), permission_grant_policies_assigned=assigned,
        block_user_consent_for_risky_apps=None if allow_risky is None else not allow_risky))
    return no_content()


@router.get(PATH)
async def get_authorization_policy(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _get(request, who)


@router.patch(PATH, status_code=204)
async def update_authorization_policy(request: Request, who: Caller = Depends(caller)) -> Response:
    return await _patch(request, who)


@router.get(OLD_PATH, include_in_schema=False)
async def get_authorization_policy_old_path(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _get(request, who)


@router.patch(OLD_PATH, status_code=204, include_in_schema=False)
async def update_authorization_policy_old_path(request: Request, who: Caller = Depends(caller)) -> Response:
    return await _patch(request, who)

"""``/policies/permissionGrantPolicies``: app consent policies (spec §6.3). List (built-ins first; ``$filter``
with ``eq``/``ne``/``startswith`` on ``id``, ``displayName`` and ``description``; ``$top``, ``$skiptoken``,
``$count``), get (``includes`` and ``excludes`` expanded, as Graph does), create (201), update of
``displayName``/``description`` (204), delete (204); ``/{id}/includes`` and ``/{id}/excludes``: list (whole,
only ``$select``), add a condition set (201), remove one (204). The rules live in
:mod:`consentry.services.grant_policies`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from odata_query import ast
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.consent_policy import POLICY_ID_PATTERN, ConditionSet, PermissionGrantPolicy
from consentry.domain.ids import is_guid
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, GRAPH_UNSUPPORTED_QUERY, ConsentryError
from consentry.services import authz
from consentry.services import grant_policies as service
from consentry.web.graph.common import (
    actor_of,
    caller,
    collection,
    entity,
    no_content,
    odata_query,
    read_body,
    runtime_of,
)

router = APIRouter(tags=["policies"])
POLICIES = "/policies/permissionGrantPolicies"
ONE = POLICIES + "/{policy_id}"
POLICY_PROPERTIES = {"id", "displayName", "description", "includes", "excludes"}
FILTERABLE = ("id", "displayName", "description")
# Graph's condition set properties and the service's names for them (``id`` is read-only and ignored).
CONDITION_SET_PROPERTIES = {
    "permissionType": "permission_type", "permissionClassification": "permission_classification",
    "resourceApplication": "resource_application", "permissions": "permissions",
    "clientApplicationIds": "client_application_ids", "clientApplicationTenantIds": "client_application_tenant_ids",
    "clientApplicationPublisherIds": "client_application_publisher_ids",
    "clientApplicationsFromVerifiedPublisherOnly": "client_applications_from_verified_publisher_only"}
MAX_ID_IN_MESSAGE = 128


def condition_set_json(cs: ConditionSet) -> dict[str, Any]:
    return {"id": cs.id, "permissionClassification": cs.permission_classification,
            "permissionType": cs.permission_type, "resourceApplication": cs.resource_application,
            "permissions": list(cs.permissions), "clientApplicationIds": list(cs.client_application_ids),
            "clientApplicationTenantIds": list(cs.client_application_tenant_ids),
            "clientApplicationPublisherIds": list(cs.client_application_publisher_ids),
            "clientApplicationsFromVerifiedPublisherOnly": cs.client_applications_from_verified_publisher_only}


def policy_json(p: PermissionGrantPolicy) -> dict[str, Any]:
    return {"id": p.id, "deletedDateTime": None, "displayName": p.display_name or None,
            "description": p.description or None, "includes": [condition_set_json(c) for c in p.includes],
            "excludes": [condition_set_json(c) for c in p.excludes]}


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def _policy_id(request: Request) -> str:
    """Policy ids are letters, digits, ``-`` and ``_``: anything else names no policy."""
    value = str(request.path_params["policy_id"])
    if not POLICY_ID_PATTERN.fullmatch(value):
        raise ConsentryError(GRAPH_NOT_FOUND, id=value[:MAX_ID_IN_MESSAGE])
    return value


def _set_id(request: Request) -> str:
    """Condition set ids are GUIDs: anything else names no condition set."""
    value = str(request.path_params["set_id"])
    if not is_guid(value):
        raise ConsentryError(GRAPH_NOT_FOUND, id=value[:MAX_ID_IN_MESSAGE])
    return value.lower()


def condition_set_values(raw: object, name: str) -> dict[str, Any]:
    """A condition set in Graph's shape, as the service's values (types are checked there)."""
    if not isinstance(raw, dict):
        raise _bad(f"Each item of '{name}' must be a permissionGrantConditionSet object.")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith("@odata.") or key == "id":
            continue
        if key not in CONDITION_SET_PROPERTIES:
            raise _bad(f"Property '{key[:100]}' is not supported here or does not exist on "
                       "permissionGrantConditionSet.")
        values[CONDITION_SET_PROPERTIES[key]] = value
    return values


def _condition_sets(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    raw = body.get(name)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad(f"'{name}' must be a list of permissionGrantConditionSet objects.")
    return [condition_set_values(item, name) for item in raw]


# --- $filter and paging over a small in-memory list -------------------------------------------------------
def _text_of(node: ast._Node, item: dict[str, Any]) -> str:
    if isinstance(node, ast.Identifier) and node.name in FILTERABLE:
        return str(item.get(node.name) or "").lower()
    raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason=(
        f"Unsupported query: filter on {', '.join(FILTERABLE)} with eq, ne or startswith."))


def _literal(node: ast._Node) -> str:
    if isinstance(node, ast.String):
        return str(node.val).lower()
    raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="Unsupported query: compare with a string literal.")


def matches(node: ast._Node, item: dict[str, Any]) -> bool:
    """``eq``, ``ne``, ``startswith`` on the filterable properties, combined with and, or, not."""
    if isinstance(node, ast.BoolOp):
        left, right = matches(node.left, item), matches(node.right, item)
        return left and right if isinstance(node.op, ast.And) else left or right
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not matches(node.operand, item)
    if isinstance(node, ast.Compare) and isinstance(node.comparator, ast.Eq | ast.NotEq):
        equal = _text_of(node.left, item) == _literal(node.right)
        return equal if isinstance(node.comparator, ast.Eq) else not equal
    if isinstance(node, ast.Call) and node.func.name.lower() == "startswith" and len(node.args) == 2:
        return _text_of(node.args[0], item).startswith(_literal(node.args[1]))
    raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason=(
        f"Unsupported query: filter on {', '.join(FILTERABLE)} with eq, ne or startswith."))


def page(items: Sequence[dict[str, Any]], query: ODataQuery,
         key: Callable[[dict[str, Any]], tuple[int, str]]) -> tuple[list[dict[str, Any]], tuple[Any, ...] | None]:
    """One page of an in-memory list in ``key`` order; the skiptoken is the key of the page's last item."""
    after = query.after
    if after is not None and not (len(after) == 2 and isinstance(after[0], int) and isinstance(after[1], str)):
        raise _bad("The $skiptoken is not valid.")
    keyed = sorted(((key(item), item) for item in items), key=lambda pair: pair[0])
    rest = [(k, item) for k, item in keyed if after is None or k > (after[0], after[1])]
    shown = rest[:query.top]
    return [item for _, item in shown], (shown[-1][0] if len(rest) > query.top else None)


# --- policies ------------------------------------------------------------------------------------------
@router.get(POLICIES)
async def list_permission_grant_policies(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.READ_GRANT_POLICIES)
    policies = await run_in_threadpool(service.list_policies, rt.ctx, who.tenant_id)
    items = [policy_json(p) for p in policies]
    if query.filter is not None:
        items = [i for i in items if matches(query.filter, i)]
    shown, after = page(items, query, lambda i: (0 if i["id"].startswith("microsoft-") else 1, i["id"].lower()))
    return collection(request, "policies/permissionGrantPolicies", shown, query, after,
                      len(items) if query.count else None)


@router.get(ONE)
async def get_permission_grant_policy(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.READ_GRANT_POLICIES)
    policy = await run_in_threadpool(service.get_policy, rt.ctx, who.tenant_id, _policy_id(request))
    return entity(request, "policies/permissionGrantPolicies/$entity", policy_json(policy), select=query.select)


@router.post(POLICIES, status_code=201)
async def create_permission_grant_policy(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, POLICY_PROPERTIES, required=("id",))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.WRITE_GRANT_POLICIES)
    includes, excludes = _condition_sets(body, "includes"), _condition_sets(body, "excludes")
    created = await run_in_threadpool(lambda: service.create_policy(
        rt.ctx, who.tenant_id, actor_of(request, who), policy_id=body["id"], display_name=body.get("displayName"),
        description=body.get("description"), includes=includes, excludes=excludes))
    return entity(request, "policies/permissionGrantPolicies/$entity", policy_json(created), status=201)


@router.patch(ONE, status_code=204)
async def update_permission_grant_policy(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, {"displayName", "description", "id"})
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.WRITE_GRANT_POLICIES)
    policy_id = _policy_id(request)
    if "id" in body and (not isinstance(body["id"], str) or body["id"].lower() != policy_id.lower()):
        raise _bad("The id of a permission grant policy cannot be changed.")
    for name in ("displayName", "description"):
        if name in body and not isinstance(body[name], str | None):
            raise _bad(f"Invalid value for '{name}': a string is required.")
    changes = service.PolicyChanges(
        display_name=(body["displayName"] or "") if "displayName" in body else None,
        description=(body["description"] or "") if "description" in body else None)
    await run_in_threadpool(service.update_policy, rt.ctx, who.tenant_id, policy_id, actor_of(request, who),
                            changes)
    return no_content()


@router.delete(ONE, status_code=204)
async def delete_permission_grant_policy(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.WRITE_GRANT_POLICIES)
    await run_in_threadpool(service.delete_policy, rt.ctx, who.tenant_id, _policy_id(request),
                            actor_of(request, who))
    return no_content()


# --- includes and excludes --------------------------------------------------------------------------------
def _condition_set_routes(kind: str) -> None:
    """List, add and remove the ``kind`` (includes or excludes) condition sets of a policy."""
    path = f"{ONE}/{kind}"

    async def list_sets(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
        rt = runtime_of(request)
        query = odata_query(request)
        if set(request.query_params) - {"$select", "select"}:
            raise _bad(f"Only $select is supported on {kind}: a policy's condition sets are returned whole.")
        await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.READ_GRANT_POLICIES)
        policy = await run_in_threadpool(service.get_policy, rt.ctx, who.tenant_id, _policy_id(request))
        items = [condition_set_json(cs) for cs in service.condition_sets(policy, kind)]
        return collection(request, f"policies/permissionGrantPolicies('{policy.id}')/{kind}", items, query)

    async def add_set(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
        rt = runtime_of(request)
        body = await read_body(request, {*CONDITION_SET_PROPERTIES, "id"}, required=("permissionType",))
        await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.WRITE_GRANT_POLICIES)
        policy_id = _policy_id(request)
        values = condition_set_values(body, kind)
        created = await run_in_threadpool(service.add_condition_set, rt.ctx, who.tenant_id, policy_id, kind,
                                          values, actor_of(request, who))
        return entity(request, f"policies/permissionGrantPolicies('{policy_id}')/{kind}/$entity",
                      condition_set_json(created), status=201)

    async def remove_set(request: Request, who: Caller = Depends(caller)) -> Response:
        rt = runtime_of(request)
        await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, service.WRITE_GRANT_POLICIES)
        await run_in_threadpool(service.remove_condition_set, rt.ctx, who.tenant_id, _policy_id(request), kind,
                                _set_id(request), actor_of(request, who))
        return no_content()

    for handler, verb in ((list_sets, "list"), (add_set, "add"), (remove_set, "remove")):
        handler.__name__ = f"{verb}_permission_grant_policy_{kind}"
    router.get(path)(list_sets)
    router.post(path, status_code=201)(add_set)
    router.delete(path + "/{set_id}", status_code=204)(remove_set)


for _kind in (service.INCLUDES, service.EXCLUDES):
    _condition_set_routes(_kind)

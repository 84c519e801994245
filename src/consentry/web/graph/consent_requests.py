"""``/identityGovernance/appConsent/appConsentRequests``: admin consent requests as Microsoft Graph shows them
(spec §7.1, §7.2). Reading only — Graph has no method to approve, deny or block; Consentry's decisions are
:mod:`consentry.web.consentry_api`, outside ``/v1.0``.

- ``appConsentRequests``: list (``$filter`` eq on ``id``, ``appId``, ``appDisplayName``, ``consentType`` and
  ``userConsentRequests/any(u: u/status eq '…')``; ``$orderby`` ``createdDateTime`` (the default, newest
  first), ``appDisplayName`` or ``appId``; ``$top``, ``$count``, ``$select``, ``$skiptoken``) and get. As in
  Graph's examples, ``userConsentRequests`` is ``[]`` unless ``$expand=userConsentRequests`` asks for it.
- ``appConsentRequests/filterByCurrentUser(on='reviewer')``: the aggregates with a request in progress whose
  reviewer snapshot names the signed-in user; ``$filter`` is required, as Graph documents.
- ``appConsentRequests/{id}/userConsentRequests``: list (``$filter`` on ``id``, ``status``, ``reason``;
  ``$orderby=createdDateTime``), get, and ``filterByCurrentUser(on='reviewer')`` (those naming the caller).
  Each carries its ``approval`` with its single stage, as Graph's examples do; ``$expand=approval`` and
  ``approval($expand=stages)`` are accepted. ``…/{id}/approval`` and ``…/approval/stages[/{id}]`` too.

The approval stage: ``status`` ``InProgress``, ``Completed`` or ``Expired``; ``reviewResult`` ``NotReviewed``,
``Approve`` or ``Deny`` (Graph's example value, spec §7.1); ``reviewedBy`` the reviewer (or the system's id
with empty strings, when an approval came from elsewhere without a person); ``assignedToMe`` whether the
request's reviewer snapshot names the caller. Its id is derived from the request's, so it is stable.

Who may: ``ConsentRequest.Read.All`` or ``ConsentRequest.ReadWrite.All``, and, delegated, Global Reader, Cloud
Application Administrator, Application Administrator or Global Administrator. ``filterByCurrentUser`` needs a
signed-in user with one of those permissions but no role: it only shows the requests she was asked to review.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.consent_requests import (
    COMPLETED,
    NOT_REVIEWED,
    AppConsentRequest,
    UserConsentRequest,
)
from consentry.domain.directory import (
    APPLICATION_ADMINISTRATOR,
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
)
from consentry.domain.odata import ODataQuery, parse_query
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, ConsentryError
from consentry.runtime import Runtime
from consentry.services import authz, directory
from consentry.services import consent_requests as service
from consentry.services.authz import ANY_USER, Operation
from consentry.services.context import ServiceContext
from consentry.services.request_outcomes import SYSTEM_REVIEWER_ID
from consentry.web.graph.common import caller, collection, context_url, entity, iso, odata_query, runtime_of

router = APIRouter(tags=["identityGovernance"])
BASE = "/identityGovernance/appConsent/appConsentRequests"
MINE = BASE + "/filterByCurrentUser(on='reviewer')"
MINE_ANY = BASE + "/filterByCurrentUser(on='{on}')"  # other values: 400, not "no such request"
ONE = BASE + "/{app_request_id}"
USERS = ONE + "/userConsentRequests"
MY_USERS = USERS + "/filterByCurrentUser(on='reviewer')"
MY_USERS_ANY = USERS + "/filterByCurrentUser(on='{on}')"
USER = USERS + "/{user_request_id}"
APPROVAL = USER + "/approval"
STAGES = APPROVAL + "/stages"
STAGE = STAGES + "/{stage_id}"

_PERMISSIONS = frozenset({"ConsentRequest.Read.All", "ConsentRequest.ReadWrite.All"})
READ_CONSENT_REQUESTS = Operation(
    "read admin consent requests", _PERMISSIONS, _PERMISSIONS,
    frozenset({GLOBAL_ADMINISTRATOR.id, GLOBAL_READER.id, CLOUD_APPLICATION_ADMINISTRATOR.id,
               APPLICATION_ADMINISTRATOR.id}))
READ_MY_CONSENT_REQUESTS = Operation("read the admin consent requests one reviews", _PERMISSIONS, frozenset(),
                                     ANY_USER)
APP_REQUEST_ORDERABLE = frozenset({"createdDateTime", "appDisplayName", "appId"})
USER_REQUEST_ORDERABLE = frozenset({"createdDateTime"})
_EXPAND_USER_REQUESTS = re.compile(r"userConsentRequests(\(\$expand=approval(\(\$expand=stages\))?\))?")
_EXPAND_APPROVAL = re.compile(r"approval(\(\$expand=stages\))?")
_EXPAND_STAGES = re.compile(r"stages")
# Stage ids are derived from the request's id in this namespace (one stage per request).
_STAGE_NAMESPACE = uuid.UUID("5b0f6f8e-3c1c-4d39-9a53-6d1c0a7e2f41")
SYSTEM_IDENTITY = {"id": SYSTEM_REVIEWER_ID, "displayName": "", "userPrincipalName": "", "mail": ""}
MAX_ID_IN_MESSAGE = 128


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


# --- Graph's shapes -----------------------------------------------------------------------------------------
def stage_id(user_request_id: str) -> str:
    return str(uuid.uuid5(_STAGE_NAMESPACE, user_request_id))


def _reviewed_by(request: UserConsentRequest, mails: dict[str, str | None]) -> dict[str, Any] | None:
    if request.reviewed_by_id is None or request.review_result == NOT_REVIEWED:
        return None
    if request.reviewed_by_id == SYSTEM_REVIEWER_ID:
        return dict(SYSTEM_IDENTITY)
    return {"id": request.reviewed_by_id, "displayName": request.reviewed_by_name or "",
            "userPrincipalName": request.reviewed_by_upn or "", "mail": mails.get(request.reviewed_by_id)}


def stage_json(request: UserConsentRequest, caller_id: str | None, mails: dict[str, str | None]) -> dict[str, Any]:
    """The request's single approval stage; its status is the request's (InProgress, Completed, Expired)."""
    reviewed = request.review_result != NOT_REVIEWED
    return {"id": stage_id(request.id), "displayName": None,
            "reviewedDateTime": iso(request.reviewed_at) if reviewed else None,
            "reviewResult": request.review_result, "status": request.status,
            "assignedToMe": caller_id is not None and caller_id in request.reviewer_ids,
            "justification": request.review_justification if reviewed else None,
            "reviewedBy": _reviewed_by(request, mails)}


def approval_json(request: UserConsentRequest, caller_id: str | None, mails: dict[str, str | None]) -> dict[str, Any]:
    return {"id": request.id, "stages": [stage_json(request, caller_id, mails)]}


def user_request_json(request: UserConsentRequest, caller_id: str | None,
                      mails: dict[str, str | None]) -> dict[str, Any]:
    """A ``userConsentRequest`` with its ``approval`` (as Graph's examples show it)."""
    return {"id": request.id, "reason": request.reason, "status": request.status,
            "createdDateTime": iso(request.created_at),
            "createdBy": {"user": {"id": request.user_id, "displayName": request.user_display_name,
                                   "userPrincipalName": request.user_principal_name, "mail": request.user_mail}},
            "approval": approval_json(request, caller_id, mails), "approvalId": request.id,
            "completedDateTime": iso(request.completed_at) if request.status == COMPLETED else None,
            "customData": None}


def user_requests_context(request: Request, app_request_id: str) -> str:
    return context_url(request, f"identityGovernance/appConsent/appConsentRequests('{app_request_id}')"
                                "/userConsentRequests")


def app_request_json(request: Request, aggregate: AppConsentRequest,
                     user_requests: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """An ``appConsentRequest``; ``userConsentRequests`` holds what the caller expanded (``[]`` otherwise)."""
    return {"id": aggregate.id, "appId": aggregate.app_id, "appDisplayName": aggregate.app_display_name,
            "consentType": aggregate.consent_type,
            "pendingScopes": [{"displayName": scope} for scope in aggregate.pending_scopes],
            "userConsentRequests@odata.context": user_requests_context(request, aggregate.id),
            "userConsentRequests": list(user_requests)}


def reviewer_mails(ctx: ServiceContext, tenant_id: str,
                   requests: Iterable[UserConsentRequest]) -> dict[str, str | None]:
    """The mail address of each reviewer who decided one of these requests (None for one who is gone)."""
    ids = {r.reviewed_by_id for r in requests if r.reviewed_by_id and r.reviewed_by_id != SYSTEM_REVIEWER_ID}
    mails: dict[str, str | None] = {}
    for reviewer_id in sorted(ids):
        try:
            mails[reviewer_id] = directory.find_user(ctx, tenant_id, reviewer_id).mail
        except ConsentryError:
            mails[reviewer_id] = None
    return mails


def user_requests_json(ctx: ServiceContext, tenant_id: str, requests: Sequence[UserConsentRequest],
                       caller_id: str | None) -> list[dict[str, Any]]:
    mails = reviewer_mails(ctx, tenant_id, requests)
    return [user_request_json(r, caller_id, mails) for r in requests]


# --- request parsing ----------------------------------------------------------------------------------------
_LAMBDA_SPACE = re.compile(r"/(any|all)\s+\(")


def _without_lambda_space(text: str) -> str:
    """``userConsentRequests/any (u:…)``, as Graph's own documentation writes it, without the space the OData
    grammar has no room for (string literals are left alone)."""
    parts = text.split("'")
    return "'".join(_LAMBDA_SPACE.sub(r"/\1(", part) if i % 2 == 0 else part for i, part in enumerate(parts))


def request_query(request: Request, orderable: frozenset[str] = frozenset()) -> ODataQuery:
    """The request's OData options, with Graph's spelling of ``any`` in ``$filter`` accepted."""
    params = dict(request.query_params)
    for name in ("$filter", "filter"):
        if params.get(name):
            params[name] = _without_lambda_space(params[name])
    return parse_query(params, orderable=orderable)


def _expand(request: Request, pattern: re.Pattern[str], what: str) -> bool:
    """Whether ``$expand`` asks for ``pattern`` (400 for any other expansion)."""
    raw = request.query_params.get("$expand") or request.query_params.get("expand")
    if not raw:
        return False
    if not pattern.fullmatch("".join(raw.split())):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Unsupported $expand: only {what} can be expanded here.")
    return True


def _on_reviewer(request: Request, who: Caller) -> None:
    on = str(request.path_params.get("on", "reviewer"))
    if on.lower() != "reviewer":
        raise _bad(f"The value '{on[:MAX_ID_IN_MESSAGE]}' is not valid for the parameter 'on' of "
                   "filterByCurrentUser: the only value is 'reviewer'.")
    if who.is_app_only:
        raise _bad("filterByCurrentUser needs a signed-in user: call it with a delegated token.")


def _delegated_id(who: Caller) -> str | None:
    return None if who.is_app_only else who.object_id


# --- the aggregates -----------------------------------------------------------------------------------------
def _app_requests(rt: Runtime, request: Request, who: Caller, items: list[AppConsentRequest],
                  expand: bool) -> list[dict[str, Any]]:
    out = []
    for aggregate in items:
        expanded = (user_requests_json(rt.ctx, who.tenant_id,
                                       service.list_user_requests(rt.ctx, who.tenant_id, aggregate.id),
                                       _delegated_id(who)) if expand else [])
        out.append(app_request_json(request, aggregate, expanded))
    return out


@router.get(BASE)
async def list_app_consent_requests(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = request_query(request, APP_REQUEST_ORDERABLE)
    expand = _expand(request, _EXPAND_USER_REQUESTS, "userConsentRequests")
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, READ_CONSENT_REQUESTS)
    items, page = await run_in_threadpool(service.page_app_requests, rt.ctx, who.tenant_id, query)
    shown = await run_in_threadpool(_app_requests, rt, request, who, items, expand)
    return collection(request, "identityGovernance/appConsent/appConsentRequests", shown, query, page.next_after,
                      page.count)


@router.get(MINE)
@router.get(MINE_ANY, include_in_schema=False)
async def filter_app_consent_requests_by_current_user(request: Request,
                                                      who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    _on_reviewer(request, who)
    query = request_query(request, APP_REQUEST_ORDERABLE)
    if query.filter is None:
        raise _bad("filterByCurrentUser requires $filter, for example "
                   "$filter=userConsentRequests/any(u:u/status eq 'InProgress').")
    expand = _expand(request, _EXPAND_USER_REQUESTS, "userConsentRequests")
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, READ_MY_CONSENT_REQUESTS)
    items, page = await run_in_threadpool(service.requests_for_reviewer, rt.ctx, who.tenant_id, who.object_id,
                                          query)
    shown = [{"@odata.type": "#microsoft.graph.appConsentRequest", **item}
             for item in await run_in_threadpool(_app_requests, rt, request, who, items, expand)]
    return collection(request, "Collection(appConsentRequest)", shown, query, page.next_after, page.count)


@router.get(ONE)
async def get_app_consent_request(request: Request, app_request_id: str,
                                  who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    expand = _expand(request, _EXPAND_USER_REQUESTS, "userConsentRequests")
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, READ_CONSENT_REQUESTS)
    aggregate = await run_in_threadpool(service.get_app_request, rt.ctx, who.tenant_id, app_request_id)
    [shown] = await run_in_threadpool(_app_requests, rt, request, who, [aggregate], expand)
    return entity(request, "identityGovernance/appConsent/appConsentRequests/$entity", shown, select=query.select)


# --- users' requests ----------------------------------------------------------------------------------------
async def _page_user_requests(request: Request, who: Caller, app_request_id: str,
                              reviewer_id: str | None) -> JSONResponse:
    rt = runtime_of(request)
    query = request_query(request, USER_REQUEST_ORDERABLE)
    _expand(request, _EXPAND_APPROVAL, "approval")
    items, page = await run_in_threadpool(lambda: service.page_user_requests(
        rt.ctx, who.tenant_id, app_request_id, query, reviewer_id=reviewer_id))
    shown = await run_in_threadpool(user_requests_json, rt.ctx, who.tenant_id, items, _delegated_id(who))
    context = f"identityGovernance/appConsent/appConsentRequests('{app_request_id.lower()}')/userConsentRequests"
    return collection(request, context, shown, query, page.next_after, page.count)


@router.get(USERS)
async def list_user_consent_requests(request: Request, app_request_id: str,
                                     who: Caller = Depends(caller)) -> JSONResponse:
    await run_in_threadpool(authz.ensure_allowed, runtime_of(request).ctx, who, READ_CONSENT_REQUESTS)
    return await _page_user_requests(request, who, app_request_id, None)


@router.get(MY_USERS)
@router.get(MY_USERS_ANY, include_in_schema=False)
async def filter_user_consent_requests_by_current_user(request: Request, app_request_id: str,
                                                       who: Caller = Depends(caller)) -> JSONResponse:
    _on_reviewer(request, who)
    await run_in_threadpool(authz.ensure_allowed, runtime_of(request).ctx, who, READ_MY_CONSENT_REQUESTS)
    return await _page_user_requests(request, who, app_request_id, who.object_id)


async def _user_request(request: Request, who: Caller, app_request_id: str,
                        user_request_id: str) -> tuple[UserConsentRequest, dict[str, str | None]]:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, READ_CONSENT_REQUESTS)
    found = await run_in_threadpool(service.get_user_request, rt.ctx, who.tenant_id, app_request_id,
                                    user_request_id)
    mails = await run_in_threadpool(reviewer_mails, rt.ctx, who.tenant_id, [found])
    return found, mails


def _user_request_path(found: UserConsentRequest) -> str:
    return (f"identityGovernance/appConsent/appConsentRequests('{found.app_request_id}')"
            f"/userConsentRequests('{found.id}')")


@router.get(USER)
async def get_user_consent_request(request: Request, app_request_id: str, user_request_id: str,
                                   who: Caller = Depends(caller)) -> JSONResponse:
    query = odata_query(request)
    _expand(request, _EXPAND_APPROVAL, "approval")
    found, mails = await _user_request(request, who, app_request_id, user_request_id)
    return entity(request, f"identityGovernance/appConsent/appConsentRequests('{found.app_request_id}')"
                           "/userConsentRequests/$entity",
                  user_request_json(found, _delegated_id(who), mails), select=query.select)


@router.get(APPROVAL)
async def get_user_consent_request_approval(request: Request, app_request_id: str, user_request_id: str,
                                            who: Caller = Depends(caller)) -> JSONResponse:
    query = odata_query(request)
    _expand(request, _EXPAND_STAGES, "stages")
    found, mails = await _user_request(request, who, app_request_id, user_request_id)
    return entity(request, f"{_user_request_path(found)}/approval/$entity",
                  approval_json(found, _delegated_id(who), mails), select=query.select)


@router.get(STAGES)
async def list_user_consent_request_approval_stages(request: Request, app_request_id: str, user_request_id: str,
                                                    who: Caller = Depends(caller)) -> JSONResponse:
    query = odata_query(request)
    if set(request.query_params) - {"$select", "select"}:
        raise _bad("Only $select is supported on stages: an approval's stages are returned whole.")
    found, mails = await _user_request(request, who, app_request_id, user_request_id)
    return collection(request, f"{_user_request_path(found)}/approval/stages",
                      [stage_json(found, _delegated_id(who), mails)], query)


@router.get(STAGE)
async def get_user_consent_request_approval_stage(request: Request, app_request_id: str, user_request_id: str,
                                                  who: Caller = Depends(caller)) -> JSONResponse:
    query = odata_query(request)
    found, mails = await _user_request(request, who, app_request_id, user_request_id)
    wanted = str(request.path_params["stage_id"])
    if wanted.lower() != stage_id(found.id):
        raise ConsentryError(GRAPH_NOT_FOUND, id=wanted[:MAX_ID_IN_MESSAGE])
    return entity(request, f"{_user_request_path(found)}/approval/stages/$entity",
                  stage_json(found, _delegated_id(who), mails), select=query.select)

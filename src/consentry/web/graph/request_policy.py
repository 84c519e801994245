"""``/policies/adminConsentRequestPolicy``: the tenant's admin consent request workflow settings in Microsoft
Graph's shape (spec §6.6). GET; PUT (the documented method) and PATCH (what msgraph-sdk sends), both 204.

The resource has no ``id`` (Graph's examples show none): ``isEnabled``, ``notifyReviewers``,
``remindersEnabled``, ``requestDurationInDays``, ``reviewers`` (``accessReviewReviewerScope`` objects:
``query``, ``queryType``, ``queryRoot``) and the read-only ``version``, which moves on with every change.
PUT needs the four required properties (``isEnabled``, ``notifyReviewers``, ``remindersEnabled``,
``reviewers``) and keeps ``requestDurationInDays`` when it is left out; PATCH changes what it sends. Both
accept ``version`` and ignore it (it is read-only, and a read-modify-write round trip sends it back). PUT is
left out of the OpenAPI document for now (``tests/graph/test_openapi.py`` knows no PUT success code); its
body schema is ready in :data:`consentry.web.graph.openapi.REQUEST_BODIES`.

Who may: reading needs ``Policy.Read.All`` or ``Policy.ReadWrite.ConsentRequest`` and, delegated, Global
Administrator, Global Reader, Cloud Application Administrator or Application Administrator; writing needs
``Policy.ReadWrite.ConsentRequest`` and, delegated, Global Administrator. The rules (reviewers must exist,
1–30 days, no workflow without reviewers) are :mod:`consentry.services.request_policy`'s.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.consent_requests import RequestPolicy, Reviewer
from consentry.domain.directory import (
    APPLICATION_ADMINISTRATOR,
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
)
from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError
from consentry.services import authz
from consentry.services import consent_requests as service
from consentry.services.authz import Operation
from consentry.web.graph.common import actor_of, caller, entity, no_content, odata_query, read_body, runtime_of

router = APIRouter(tags=["policies"])
PATH = "/policies/adminConsentRequestPolicy"
CONTEXT = "policies/adminConsentRequestPolicy/$entity"
READ_REQUEST_POLICY = Operation(
    "read the admin consent request policy",
    frozenset({"Policy.Read.All", "Policy.ReadWrite.ConsentRequest"}),
    frozenset({"Policy.Read.All", "Policy.ReadWrite.ConsentRequest"}),
    frozenset({GLOBAL_ADMINISTRATOR.id, GLOBAL_READER.id, CLOUD_APPLICATION_ADMINISTRATOR.id,
               APPLICATION_ADMINISTRATOR.id}))
WRITE_REQUEST_POLICY = Operation(
    "change the admin consent request policy", frozenset({"Policy.ReadWrite.ConsentRequest"}),
    frozenset({"Policy.ReadWrite.ConsentRequest"}), frozenset({GLOBAL_ADMINISTRATOR.id}))
# Graph's property -> the service's name for it.
PROPERTIES = {"isEnabled": "is_enabled", "notifyReviewers": "notify_reviewers",
              "remindersEnabled": "reminders_enabled", "requestDurationInDays": "request_duration_in_days",
              "reviewers": "reviewers"}
PUT_REQUIRED = ("isEnabled", "notifyReviewers", "remindersEnabled", "reviewers")
REVIEWER_PROPERTIES = frozenset({"query", "queryType", "queryRoot"})
MAX_REVIEWER_ENTRIES = 100  # the service allows 25 distinct reviewers; this only bounds the work


def reviewer_json(reviewer: Reviewer) -> dict[str, Any]:
    return {"query": reviewer.query, "queryType": reviewer.query_type, "queryRoot": reviewer.query_root}


def request_policy_json(policy: RequestPolicy) -> dict[str, Any]:
    return {"isEnabled": policy.is_enabled, "notifyReviewers": policy.notify_reviewers,
            "remindersEnabled": policy.reminders_enabled, "requestDurationInDays": policy.request_duration_in_days,
            "version": policy.version, "reviewers": [reviewer_json(r) for r in policy.reviewers]}


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def _optional_text(entry: dict[str, Any], name: str) -> str | None:
    value = entry.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(f"Invalid value for 'reviewers.{name}': a string is required.")
    return value


def parse_reviewers(value: Any) -> tuple[Reviewer, ...]:
    """``reviewers`` as sent: a list of ``accessReviewReviewerScope`` objects (null: none)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad("'reviewers' must be a list of accessReviewReviewerScope objects.")
    if len(value) > MAX_REVIEWER_ENTRIES:
        raise _bad(f"'reviewers' may list at most {MAX_REVIEWER_ENTRIES} entries.")
    out = []
    for entry in value:
        if not isinstance(entry, dict):
            raise _bad("Each item of 'reviewers' must be an accessReviewReviewerScope object.")
        entry = {k: v for k, v in entry.items() if not k.startswith("@odata.")}
        unknown = sorted(set(entry) - REVIEWER_PROPERTIES)
        if unknown:
            raise _bad(f"Property 'reviewers.{unknown[0][:100]}' is not supported here or does not exist on "
                       "accessReviewReviewerScope.")
        query = entry.get("query")
        if not isinstance(query, str) or not query.strip():
            raise _bad("Each reviewer needs a 'query' string, such as /users/{id}.")
        out.append(Reviewer(query, _optional_text(entry, "queryType") or "MicrosoftGraph",
                            _optional_text(entry, "queryRoot")))
    return tuple(out)


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name == "reviewers":
            changes["reviewers"] = parse_reviewers(value)
        elif name in PROPERTIES:
            changes[PROPERTIES[name]] = value  # types are checked by the service
    return changes


@router.get(PATH)
async def get_admin_consent_request_policy(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, READ_REQUEST_POLICY)
    policy = await run_in_threadpool(service.get_request_policy, rt.ctx, who.tenant_id)
    return entity(request, CONTEXT, request_policy_json(policy), select=query.select)


async def _write(request: Request, who: Caller, required: tuple[str, ...]) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, {*PROPERTIES, "version"})
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, WRITE_REQUEST_POLICY)
    missing = [name for name in required if name not in body]
    if missing:
        raise _bad(f"Property '{missing[0]}' is required.")
    changes = _changes(body)
    await run_in_threadpool(lambda: service.update_request_policy(rt.ctx, who.tenant_id, actor_of(request, who),
                                                                  **changes))
    return no_content()


@router.put(PATH, status_code=204, include_in_schema=False)  # see openapi.REQUEST_BODIES
async def replace_admin_consent_request_policy(request: Request, who: Caller = Depends(caller)) -> Response:
    return await _write(request, who, PUT_REQUIRED)


@router.patch(PATH, status_code=204)
async def update_admin_consent_request_policy(request: Request, who: Caller = Depends(caller)) -> Response:
    return await _write(request, who, ())

"""Consentry's own API, outside Microsoft Graph, mounted at ``/consentry/v1``: deciding admin consent requests
(spec §7.4, §7.5), which Graph has no method for.

``POST /consentry/v1/consentRequests/{id}/approve``, ``…/deny`` and ``…/block``, where ``{id}`` is the
``appConsentRequest``'s id and the body is ``{"justification": "…"}`` (required to deny or block, optional to
approve: the requests then record "Admin consent granted.").

Authentication is Graph's: a bearer token issued by Consentry for ``https://graph.microsoft.com``, delegated
(a signed-in user: the reviewer) with ``ConsentRequest.ReadWrite.All``; app-only tokens are refused (there
is no reviewer: 403). The rules are the services' (:mod:`consentry.services.request_decisions`): only a reviewer
named in the snapshot of a request in progress may decide (403 ``Authorization_RequestDenied``); approving
also needs a role that may grant everything the request asks for (403 with AADSTS90093's message); a request
of another tenant does not exist for the caller (404); a request with nothing pending, a missing or unsafe
justification (more than 1,000 characters, control characters, NUL) is 400 ``Request_BadRequest``.

Answers: ``200`` with the ``appConsentRequest`` in Graph's shape, whose ``userConsentRequests`` lists the
user requests this decision completed (with their approval stage); errors in Graph's error envelope.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from consentry.domain.callers import Caller
from consentry.domain.consent_requests import MAX_JUSTIFICATION, UserConsentRequest
from consentry.errors import (
    GRAPH_BAD_REQUEST,
    GRAPH_NOT_FOUND,
    NOT_AUTHORIZED_TO_GRANT,
    SERVER_ERROR,
    ConsentryError,
)
from consentry.runtime import Runtime
from consentry.services import authz
from consentry.services import consent_requests as service
from consentry.services.authz import ANY_USER, Operation
from consentry.services.context import Actor
from consentry.web.graph.app import GraphBoundary
from consentry.web.graph.common import actor_of, caller, entity, error_envelope, read_body, runtime_of
from consentry.web.graph.consent_requests import app_request_json, user_requests_json

PREFIX = "/consentry/v1"
DECIDE_CONSENT_REQUESTS = Operation("decide admin consent requests", frozenset({"ConsentRequest.ReadWrite.All"}),
                                    frozenset(), ANY_USER)
router = APIRouter(tags=["consentRequests"])
# The routes read the body themselves (unknown properties refused); this documents it.
BODY = {"requestBody": {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {"justification": {"type": "string", "maxLength": MAX_JUSTIFICATION}}}}}}}


def _justification(body: dict[str, Any]) -> str | None:
    value = body.get("justification")
    if value is not None and not isinstance(value, str):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="Invalid value for 'justification': a string is required.")
    return value


def _apply(rt: Runtime, who: Caller, app_request_id: str, decision: str, justification: str | None,
           actor: Actor) -> list[UserConsentRequest]:
    if decision == "approve":
        return service.approve_request(rt.ctx, who.tenant_id, app_request_id, who.object_id, justification, actor)
    decide = service.deny_request if decision == "deny" else service.block_request
    return decide(rt.ctx, who.tenant_id, app_request_id, who.object_id, justification or "", actor)


def _with_reviewers(rt: Runtime, tenant_id: str, closed: list[UserConsentRequest]) -> list[UserConsentRequest]:
    """The requests a decision completed, read again with their reviewer snapshots (for ``assignedToMe``)."""
    wanted = {r.id for r in closed}
    out: list[UserConsentRequest] = []
    for app_request_id in dict.fromkeys(r.app_request_id for r in closed):
        out += [r for r in service.list_user_requests(rt.ctx, tenant_id, app_request_id) if r.id in wanted]
    return out


async def _decide(request: Request, who: Caller, app_request_id: str, decision: str) -> JSONResponse:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, DECIDE_CONSENT_REQUESTS)  # app-only: 403
    body = await read_body(request, {"justification"})
    justification = _justification(body)
    if decision != "approve" and justification is None:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"A justification is required to {decision} a request; "
                                                       "the requesters receive it.")
    closed = await run_in_threadpool(_apply, rt, who, app_request_id, decision, justification,
                                     actor_of(request, who))
    aggregate = await run_in_threadpool(service.get_app_request, rt.ctx, who.tenant_id, app_request_id)
    completed = await run_in_threadpool(_with_reviewers, rt, who.tenant_id, closed)
    shown = await run_in_threadpool(user_requests_json, rt.ctx, who.tenant_id, completed, who.object_id)
    return entity(request, "identityGovernance/appConsent/appConsentRequests/$entity",
                  app_request_json(request, aggregate, shown))


@router.post("/consentRequests/{app_request_id}/approve", openapi_extra=BODY)
async def approve_consent_request(request: Request, app_request_id: str,
                                  who: Caller = Depends(caller)) -> JSONResponse:
    """Approve: tenant-wide admin consent to what the request asks for; every pending user request completes."""
    return await _decide(request, who, app_request_id, "approve")


@router.post("/consentRequests/{app_request_id}/deny", openapi_extra=BODY)
async def deny_consent_request(request: Request, app_request_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    """Deny (justification required): nothing is granted; the requesters may ask again."""
    return await _decide(request, who, app_request_id, "deny")


@router.post("/consentRequests/{app_request_id}/block", openapi_extra=BODY)
async def block_consent_request(request: Request, app_request_id: str,
                                who: Caller = Depends(caller)) -> JSONResponse:
    """Block (justification required): the app's service principal is disabled; no more requests."""
    return await _decide(request, who, app_request_id, "block")


def create_consentry_api(runtime: Runtime) -> FastAPI:
    """The API app (its OpenAPI document at ``/consentry/v1/openapi.json``), errors in Graph's envelope."""
    app = FastAPI(title="Consentry API", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  description="Consentry's own operations, outside Microsoft Graph: deciding admin consent "
                              "requests. Bearer tokens as for Graph; errors in Graph's envelope.")
    app.state.runtime = runtime
    app.include_router(router)

    @app.exception_handler(ConsentryError)
    async def catalog_error(request: Request, exc: ConsentryError) -> JSONResponse:
        response = error_envelope(request, exc, message=exc.description)  # with its AADSTS number, if any
        if exc.entry is NOT_AUTHORIZED_TO_GRANT:  # a permission refusal here, not a malformed request
            response.status_code = 403
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_envelope(request, ConsentryError(GRAPH_BAD_REQUEST, reason="The request is not valid."))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:
            response = error_envelope(request, ConsentryError(GRAPH_BAD_REQUEST, reason=(
                f"The HTTP method '{request.method}' is not allowed on this resource.")))
            response.status_code = 405
            return response
        return error_envelope(request, ConsentryError(GRAPH_NOT_FOUND, id=request.url.path[:200]))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_envelope(request, ConsentryError(SERVER_ERROR))

    return app


def mount(runtime: Runtime) -> GraphBoundary:
    """What ``web/app.py`` mounts at :data:`PREFIX`: the API behind Graph's boundary (NUL characters in the
    address refused, unexpected failures answered 500 in the envelope)."""
    return GraphBoundary(create_consentry_api(runtime), runtime)

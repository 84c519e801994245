"""The Graph application: routers, Graph's error envelope for every failure, and an OpenAPI document
at ``/v1.0/openapi.json``."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, SERVER_ERROR, ConsentryError
from consentry.runtime import Runtime
from consentry.web.graph import directory_objects, groups, openapi, organization, roles, service_principals, users
from consentry.web.graph.applications import router as applications_router
from consentry.web.graph.audit_logs import router as audit_logs_router
from consentry.web.graph.common import envelope, error_envelope
from consentry.web.graph.consent_requests import router as consent_requests_router
from consentry.web.graph.deleted_items import router as deleted_items_router
from consentry.web.graph.grants import router as grants_router
from consentry.web.graph.mailbox import router as mailbox_router
from consentry.web.graph.policies import router as policies_router
from consentry.web.graph.request_policy import router as request_policy_router
from consentry.web.graph.sp_relations import router as sp_relations_router

log = structlog.get_logger("consentry.graph")
ROUTERS = (
    service_principals.router,
    users.router,
    groups.router,
    roles.router,
    organization.router,
    audit_logs_router,
    deleted_items_router,
    applications_router,
    directory_objects.router,
    grants_router,
    sp_relations_router,
    mailbox_router,
    policies_router,
    request_policy_router,
    consent_requests_router,
)


class GraphBoundary:
    """The edge of the Graph app: refuses NUL characters in the address before any route sees them, and
    turns any unexpected failure into Graph's 500 envelope without letting it escape to the outer app
    (which would try to answer a second time and drop the connection)."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await self._envelope(scope, receive, send, ConsentryError(
                GRAPH_BAD_REQUEST, reason="The request address contains a NUL character."))
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("graph request failed", path=scope.get("path"), error=type(exc).__name__, exc_info=exc)
            if not started:
                await self._envelope(scope, receive, send, ConsentryError(SERVER_ERROR))

    async def _envelope(self, scope: Scope, receive: Receive, send: Send, error: ConsentryError) -> None:
        client_request_id = Headers(scope=scope).get("client-request-id")
        await envelope(error, self.runtime.clock.now(), client_request_id)(scope, receive, send)


def create_graph_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Consentry — Microsoft Graph v1.0 subset", version="1.0", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.runtime = runtime
    for router in ROUTERS:
        app.include_router(router)
    openapi.install(app)

    @app.exception_handler(ConsentryError)
    async def catalog_error(request: Request, exc: ConsentryError) -> JSONResponse:
        return error_envelope(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_envelope(request, ConsentryError(GRAPH_BAD_REQUEST, reason="The request is not valid."))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:
            return error_envelope(request, ConsentryError(GRAPH_BAD_REQUEST, reason=(
                f"The HTTP method '{request.method}' is not allowed on this resource.")))
        return error_envelope(request, ConsentryError(GRAPH_NOT_FOUND, id=request.url.path))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer; GraphBoundary logs it and keeps it from escaping.
        return error_envelope(request, ConsentryError(SERVER_ERROR))

    return app

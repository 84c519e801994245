"""The Graph application: routers, Graph's error envelope for every failure, and an OpenAPI document
at ``/v1.0/openapi.json``."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, SERVER_ERROR, ConsentryError
from consentry.runtime import Runtime
from consentry.web.graph import groups, openapi, organization, roles, service_principals, users
from consentry.web.graph.applications import router as applications_router
from consentry.web.graph.audit_logs import router as audit_logs_router
from consentry.web.graph.common import error_envelope
from consentry.web.graph.deleted_items import router as deleted_items_router
from consentry.web.graph.grants import router as grants_router
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
    grants_router,
    sp_relations_router,
)


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
        log.error("graph request failed", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return error_envelope(request, ConsentryError(SERVER_ERROR))

    return app

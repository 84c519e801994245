"""The ASGI application: routes, error handling, request logging and metrics.

Every path an identity client uses is Entra's: ``/{tenant}/v2.0/.well-known/openid-configuration``,
``/{tenant}/oauth2/v2.0/authorize``, ``/{tenant}/oauth2/v2.0/token`` and their v1 forms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from consentry import jobs
from consentry.errors import METHOD_NOT_ALLOWED, NOT_FOUND, SERVER_ERROR, ConsentryError
from consentry.protocol.token import TokenServer
from consentry.runtime import Runtime
from consentry.services import health
from consentry.web import consent, consentry_api, metrics, oauth, pages, portal
from consentry.web.graph.app import GraphBoundary, create_graph_app
from consentry.web.http import request_ids

log = structlog.get_logger("consentry.http")
HERE = Path(__file__).parent


class ObserveMiddleware:
    """Access log line and metrics per request; no stack trace or SQL ever reaches a response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            name = getattr(route, "name", None) or "unmatched"
            elapsed = time.perf_counter() - started
            metrics.REQUESTS.labels(name, scope["method"], str(status["code"])).inc()
            metrics.LATENCY.labels(name).observe(elapsed)
            _log_request(scope, name, status["code"], elapsed)


def _log_request(scope: Scope, route: str, status: int, elapsed: float) -> None:
    """Errors at info (4xx) or error (5xx) with the ids their responses show; successes at debug."""
    ids = (scope.get("state") or {}).get("ids") or (None, None)
    emit = log.error if status >= 500 else log.info if status >= 400 else log.debug
    emit("request", method=scope["method"], path=scope["path"], route=route, status=status,
         duration_ms=round(elapsed * 1000, 2), trace_id=ids[0], correlation_id=ids[1])


def _not_found(request: Request, exc: Exception) -> Response:
    if getattr(exc, "status_code", 404) == 405:
        allowed = (getattr(exc, "headers", None) or {}).get("Allow", "GET")
        return oauth.token_error(request, ConsentryError(METHOD_NOT_ALLOWED, allowed=allowed, method=request.method))
    return pages.error_page(request, ConsentryError(NOT_FOUND))


def _server_error(request: Request, exc: Exception) -> Response:
    trace_id, correlation_id = request_ids(request)
    log.error("unhandled", path=request.url.path, trace_id=trace_id, correlation_id=correlation_id,
              error=type(exc).__name__, exc_info=exc)
    if request.url.path.endswith(("/token", "/devicecode")):
        return oauth.token_error(request, ConsentryError(SERVER_ERROR))
    return pages.error_page(request, ConsentryError(SERVER_ERROR))


async def favicon(request: Request) -> Response:
    """Browsers ask for it on every page; answer with an empty icon rather than an error page."""
    return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    ready, detail = await run_in_threadpool(health.readiness, rt.engine)
    return JSONResponse({"status": "ready" if ready else "not ready", "detail": detail},
                        status_code=200 if ready else 503)


async def metrics_endpoint(request: Request) -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


def routes(runtime: Runtime) -> list[Route | Mount]:
    t = "/{tenant}"
    return [
        *portal.routes(),  # first: "/portal/consent" is the portal's, not the consent page of a tenant "portal"
        Route("/favicon.ico", favicon, name="favicon"),
        Route("/healthz", healthz, name="healthz"),
        Route("/readyz", readyz, name="readyz"),
        Route("/metrics", metrics_endpoint, name="metrics"),
        Route("/error", oauth.error_info, name="error_info"),
        Route("/common/discovery/instance", oauth.instance_discovery, name="instance_discovery"),
        Route("/common/userrealm/{upn}", oauth.user_realm, name="user_realm"),
        Route("/devicelogin", pages.device_page, name="device_page", methods=["GET"]),
        Route("/devicelogin", pages.device_submit, name="device_submit", methods=["POST"]),
        Route("/devicelogin/signin", pages.device_sign_in, name="device_sign_in", methods=["POST"]),
        Route("/oidc/userinfo", oauth.userinfo, name="userinfo", methods=["GET", "POST"]),
        Route(t + "/v2.0/.well-known/openid-configuration", oauth.openid_configuration, name="discovery_v2"),
        Route(t + "/.well-known/openid-configuration", oauth.openid_configuration, name="discovery_v1"),
        Route(t + "/discovery/v2.0/keys", oauth.jwks, name="jwks_v2"),
        Route(t + "/discovery/keys", oauth.jwks, name="jwks_v1"),
        Route(t + "/oauth2/v2.0/authorize", oauth.authorize_endpoint, name="authorize", methods=["GET", "POST"]),
        Route(t + "/oauth2/authorize", oauth.authorize_endpoint, name="authorize_v1", methods=["GET", "POST"]),
        Route(t + "/oauth2/v2.0/token", oauth.token_endpoint, name="token", methods=["GET", "POST", "PUT", "DELETE"]),
        Route(t + "/oauth2/token", oauth.token_endpoint, name="token_v1", methods=["GET", "POST", "PUT", "DELETE"]),
        Route(t + "/oauth2/v2.0/devicecode", oauth.device_code_endpoint, name="devicecode",
              methods=["GET", "POST"]),
        Route(t + "/oauth2/devicecode", oauth.device_code_endpoint, name="devicecode_v1", methods=["GET", "POST"]),
        Route(t + "/oauth2/v2.0/logout", pages.sign_out, name="logout", methods=["GET", "POST"]),
        Route(t + "/oauth2/logout", pages.sign_out, name="logout_v1", methods=["GET", "POST"]),
        Route(t + "/adminconsent", consent.admin_consent_endpoint, name="adminconsent_v1", methods=["GET"]),
        Route(t + "/v2.0/adminconsent", consent.admin_consent_endpoint, name="adminconsent", methods=["GET"]),
        Route(t + "/consent", consent.consent_page, name="consent_page", methods=["GET"]),
        Route(t + "/consent", consent.consent_submit, name="consent_submit", methods=["POST"]),
        Route(t + "/consent/request", consent.consent_request_submit, name="consent_request", methods=["POST"]),
        Route(t + "/consent/admin", consent.consent_switch, name="consent_switch", methods=["GET"]),
        Route(t + "/consent/return", consent.consent_return, name="consent_return", methods=["GET"]),
        Route("/consent/{app_id}", consent.consent_short_link, name="consent_short_link", methods=["GET"]),
        Route(t + "/login", pages.sign_in_page, name="signin_page", methods=["GET"]),
        Route(t + "/login", pages.sign_in_submit, name="signin_submit", methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        Mount("/v1.0", app=GraphBoundary(create_graph_app(runtime), runtime), name="graph"),
        Mount(consentry_api.PREFIX, app=consentry_api.mount(runtime), name="consentry_api"),
    ]


HOUSEKEEPING_INTERVAL = 600.0


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Housekeeping and the minute jobs (request expiry and reminders, mail delivery) while serving; on
    shutdown, write the buffered sign-in log. Every process runs them: they are safe side by side."""
    runtime: Runtime = app.state.runtime

    async def housekeeping() -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                await run_in_threadpool(jobs.purge_expired_state, runtime.ctx)
            except Exception:
                log.exception("housekeeping failed")

    async def scheduled_jobs(interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await run_in_threadpool(jobs.run_scheduled, runtime.ctx, runtime.mailer)
            except Exception:
                log.exception("jobs failed")

    tasks = [asyncio.create_task(housekeeping())]
    if runtime.settings.job_interval > 0:
        tasks.append(asyncio.create_task(scheduled_jobs(runtime.settings.job_interval)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await run_in_threadpool(runtime.ctx.sign_ins.flush)


def create_app(runtime: Runtime) -> Starlette:
    app = Starlette(routes=routes(runtime), middleware=[Middleware(ObserveMiddleware)], lifespan=lifespan,
                    exception_handlers={HTTPException: _not_found, Exception: _server_error})
    app.state.runtime = runtime
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.token_server = TokenServer(runtime.ctx, runtime.keyring)
    return app

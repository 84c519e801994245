"""What every Graph route shares: the caller from the bearer token, Graph's error envelope, request
bodies (``@odata.type`` ignored, unknown properties refused), collections with ``@odata.context`` and an
absolute ``@odata.nextLink``, and ``$select``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from consentry.domain.callers import Caller
from consentry.domain.odata import ODataQuery, encode_skiptoken, parse_query
from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError
from consentry.protocol.bearer import validate_bearer
from consentry.runtime import Runtime
from consentry.services.context import Actor

GRAPH_AUDIENCES = {"https://graph.microsoft.com", "https://graph.microsoft.com/",
                   "00000003-0000-0000-c000-000000000000"}
MAX_BODY_BYTES = 256 * 1024
JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def caller(request: Request) -> Caller:
    """The authenticated caller (401 ``InvalidAuthenticationToken`` otherwise); a FastAPI dependency."""
    rt = runtime_of(request)
    return validate_bearer(rt.keyring, request.headers.get("authorization"), rt.clock.now(), rt.base_url,
                           GRAPH_AUDIENCES)


def actor_of(request: Request, who: Caller) -> Actor:
    ip = request.client.host if request.client else None
    if who.is_app_only:
        return Actor("app", id=who.object_id, name=str(who.claims.get("app_displayname") or who.app_id),
                     ip_address=ip, app_id=who.app_id)
    return Actor("user", id=who.object_id, name=str(who.claims.get("upn") or who.claims.get("preferred_username")),
                 ip_address=ip, app_id=who.app_id)


def envelope(error: ConsentryError, now: datetime, client_request_id: str | None, *,
             message: str | None = None) -> JSONResponse:
    """Graph's error shape: ``{"error": {"code", "message", "innerError": {"date", "request-id", …}}}``."""
    body = {"error": {"code": error.entry.graph_code, "message": message or error.message, "innerError": {
        "date": now.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
        "client-request-id": client_request_id or str(uuid.uuid4())}}}
    return JSONResponse(body, status_code=error.entry.http_status)


def error_envelope(request: Request, error: ConsentryError, *, message: str | None = None) -> JSONResponse:
    return envelope(error, runtime_of(request).clock.now(), request.headers.get("client-request-id"),
                    message=message)


def odata_query(request: Request, orderable: frozenset[str] = frozenset(), *,
                directory_objects: bool = False) -> ODataQuery:
    """The request's OData options. ``$count`` on directory objects (users, groups, applications, service
    principals) needs ``ConsistencyLevel: eventual``, as Graph's advanced queries do."""
    query = parse_query(dict(request.query_params), orderable=orderable)
    if directory_objects and query.count and request.headers.get("consistencylevel", "").strip().lower() != "eventual":
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="$count is not currently supported.")
    return query


async def read_body(request: Request, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
    """A JSON object body with only ``allowed`` properties (and ``@odata.*`` annotations, ignored)."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="The request body is too large.")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="The request body must be a JSON object.")
    if _has_nul(body):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="The request body contains a NUL character.")
    body = {k: v for k, v in body.items() if not k.startswith("@odata.")}
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Property '{unknown[0]}' is not supported here or does "
                                                       "not exist on this resource.")
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Property '{missing[0]}' is required.")
    return body


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def context_url(request: Request, fragment: str) -> str:
    return f"{runtime_of(request).base_url}/v1.0/$metadata#{fragment}"


def next_link(request: Request, after: tuple[Any, ...] | None) -> str | None:
    if after is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k.lstrip("$") != "skiptoken"}
    params["$skiptoken"] = encode_skiptoken(after)
    return f"{runtime_of(request).base_url}{request.url.path}?{urlencode(params)}"


def selected(item: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    if not select:
        return item
    return {k: v for k, v in item.items() if k in select or k.startswith("@odata.") or k == "id"}


def collection(request: Request, fragment: str, items: list[dict[str, Any]], query: ODataQuery,
               after: tuple[Any, ...] | None = None, count: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"@odata.context": context_url(request, fragment)}
    if count is not None:
        body["@odata.count"] = count
    link = next_link(request, after)
    if link:
        body["@odata.nextLink"] = link
    body["value"] = [selected(i, query.select) for i in items]
    return JSONResponse(body, media_type=JSON_TYPE)


def entity(request: Request, fragment: str, item: dict[str, Any], status: int = 200,
           select: tuple[str, ...] | None = None) -> JSONResponse:
    return JSONResponse({"@odata.context": context_url(request, fragment), **selected(item, select)},
                        status_code=status, media_type=JSON_TYPE)


def no_content() -> Response:
    return Response(status_code=204)


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def guid_or_404(value: str, make_error: Callable[[], ConsentryError]) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise make_error() from exc

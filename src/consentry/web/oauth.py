"""The identity endpoints: discovery, keys, authorize, token, device code, logout, userinfo, instance and
user realm discovery. Each parses the HTTP request, calls the protocol layer and renders its answer.
"""

from __future__ import annotations

from joserfc import jws, jwt
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from consentry.domain.directory import Tenant
from consentry.errors import METHOD_NOT_ALLOWED, ConsentryError, entries_for_code
from consentry.protocol import authorize, device, discovery
from consentry.protocol.errors import token_error_answer
from consentry.protocol.messages import Answer, ProtocolRequest
from consentry.services import directory
from consentry.web import metrics
from consentry.web.http import protocol_request, read_form, request_ids, runtime_of, to_response
from consentry.web.pages import current_session, error_page, render, render_outcome


def _segment(request: Request) -> str:
    return str(request.path_params.get("tenant", "common"))


def token_error(request: Request, error: ConsentryError) -> Response:
    rt = runtime_of(request)
    trace_id, correlation_id = request_ids(request)
    return to_response(token_error_answer(error, base_url=rt.base_url, trace_id=trace_id,
                                          correlation_id=correlation_id, now=rt.clock.now()), request)


def _lookup_tenant(request: Request, segment: str) -> Tenant | None:
    return directory.resolve_segment(runtime_of(request).ctx, segment)


async def openid_configuration(request: Request) -> Response:
    segment = _segment(request)
    try:
        tenant = await run_in_threadpool(_lookup_tenant, request, segment)
    except ConsentryError as exc:
        return token_error(request, exc)
    v2 = "/v2.0/" in request.url.path
    doc = discovery.openid_configuration(runtime_of(request).base_url, segment, tenant, v2=v2)
    return JSONResponse(doc, headers=discovery.DISCOVERY_HEADERS)


async def jwks(request: Request) -> Response:
    segment = _segment(request)
    rt = runtime_of(request)
    try:
        tenant = await run_in_threadpool(_lookup_tenant, request, segment)
    except ConsentryError as exc:
        return token_error(request, exc)
    issuer = f"{rt.base_url}/{tenant.id if tenant else '{tenantid}'}/v2.0"
    keys = await run_in_threadpool(rt.keyring.jwks, rt.clock.now(), issuer if "/v2.0/" in request.url.path else None)
    return JSONResponse(keys, headers=discovery.DISCOVERY_HEADERS)


async def instance_discovery(request: Request) -> Response:
    rt = runtime_of(request)
    doc = discovery.instance_metadata(rt.base_url, request.query_params.get("authorization_endpoint"),
                                      request.query_params.get("api-version", "1.1"))
    return JSONResponse(doc)


async def user_realm(request: Request) -> Response:
    upn = str(request.path_params["upn"])[:256]
    domain = upn.rsplit("@", 1)[-1] if "@" in upn else ""
    rt = runtime_of(request)

    tenant = await run_in_threadpool(directory.find_tenant_by_domain, rt.ctx, domain)
    return JSONResponse(discovery.user_realm(rt.base_url, upn, tenant))


async def authorize_endpoint(request: Request) -> Response:
    rt = runtime_of(request)
    try:
        form = await read_form(request)
    except ConsentryError as exc:
        return error_page(request, exc)
    p = protocol_request(request, form, _segment(request))
    session = await run_in_threadpool(current_session, request)
    outcome = await run_in_threadpool(authorize.begin, rt.ctx, p, session)
    return render_outcome(request, outcome)


async def _post_only(request: Request) -> ProtocolRequest | Response:
    """The neutral request of a POST-only endpoint, or the Entra-shaped error that replaces it."""
    if request.method != "POST":
        return token_error(request, ConsentryError(METHOD_NOT_ALLOWED, allowed="POST", method=request.method))
    try:
        form = await read_form(request)
    except ConsentryError as exc:
        return token_error(request, exc)
    return protocol_request(request, form, _segment(request))


async def token_endpoint(request: Request) -> Response:
    p = await _post_only(request)
    if isinstance(p, Response):
        return p
    server = request.app.state.token_server
    if p.form.get("grant_type") == "client_credentials" and "client_assertion" not in p.form:
        # With a secret and a warm directory cache this is CPU work only: a thread hop costs more than it saves.
        answer = server.respond(p)
    else:
        answer = await run_in_threadpool(server.respond, p)
    if answer.status == 200:
        metrics.TOKENS.labels(p.form.get("grant_type", "")[:64]).inc()
    return to_response(answer, request)


async def device_code_endpoint(request: Request) -> Response:
    p = await _post_only(request)
    if isinstance(p, Response):
        return p
    answer = await run_in_threadpool(device.device_authorization, runtime_of(request).ctx, p)
    return to_response(answer, request)


async def userinfo(request: Request) -> Response:
    """OIDC userinfo for Consentry-issued Microsoft Graph access tokens (``openid`` in ``scp``)."""
    rt = runtime_of(request)
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return to_response(Answer(401, b"", {"www-authenticate": 'Bearer error="invalid_token"'}), request)

    def decode() -> dict[str, object] | None:
        token = auth[7:].strip()
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid", "")
            key = rt.keyring.verification_key(str(kid), rt.clock.now())
            if key is None:
                return None
            claims: dict[str, object] = jwt.decode(token, key, algorithms=["RS256"]).claims
        except (JoseError, ValueError, TypeError):
            return None
        exp = claims.get("exp")
        scopes = str(claims.get("scp", "")).split()
        if not isinstance(exp, int) or exp < rt.clock.now().timestamp() or "openid" not in scopes:
            return None
        return claims

    claims = await run_in_threadpool(decode)
    if claims is None:
        return to_response(Answer(401, b"", {"www-authenticate": 'Bearer error="invalid_token"'}), request)
    body = {"sub": claims.get("sub"), "oid": claims.get("oid"), "tid": claims.get("tid"),
            "name": claims.get("name"), "preferred_username": claims.get("upn") or claims.get("preferred_username")}
    return JSONResponse({k: v for k, v in body.items() if v is not None})


async def error_info(request: Request) -> Response:
    """``error_uri`` lands here: what an AADSTS code means and what to do about it."""
    try:
        code = int(request.query_params.get("code", ""))
    except ValueError:
        code = 0
    entries = entries_for_code(code) if 0 < code < 10**8 else []
    return render(request, "error_info.html", status=200 if entries else 404, code=code, entries=entries)

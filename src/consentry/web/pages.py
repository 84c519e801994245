"""The pages people see during sign-in: the error page, the sign-in form, the device-code pages and
sign-out. Each form carries an anti-forgery token; pages finish interactions and never issue tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from consentry.errors import USER_CODE_INVALID, USER_NOT_IN_TENANT, ConsentryError
from consentry.protocol import authorize
from consentry.protocol.errors import timestamp
from consentry.services import access as access_service
from consentry.services import signin, tokens
from consentry.web import metrics
from consentry.web.http import (
    SESSION_COOKIE,
    apply_cookies,
    clear_session_cookie,
    csrf_token,
    ensure_csrf,
    read_form,
    redirect_to_client,
    request_ids,
    runtime_of,
    set_session_cookie,
    templates_of,
)

DEVICE_INTERACTION = "device"


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    cookies: dict[str, str] = {}
    context.setdefault("csrf_token", csrf_token(request, cookies))
    context.setdefault("base_url", runtime_of(request).base_url)
    html = templates_of(request).get_template(template).render(request=request, **context)
    response = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store",
                                                                "x-frame-options": "DENY"})
    apply_cookies(response, request, cookies)
    return response


def error_page(request: Request, error: ConsentryError, app_id: str | None = None,
               app_name: str | None = None) -> Response:
    if error.entry.aadsts is not None:
        metrics.ERRORS.labels(str(error.entry.aadsts)).inc()
    trace_id, correlation_id = request_ids(request)
    status = error.entry.http_status if error.entry.http_status < 500 else 500
    return render(request, "error.html", status=status, error=error, app_id=app_id, app_name=app_name,
                  trace_id=trace_id, correlation_id=correlation_id,
                  timestamp=timestamp(runtime_of(request).clock.now()))


def current_session(request: Request) -> tokens.Session | None:
    return tokens.find_session(runtime_of(request).ctx, request.cookies.get(SESSION_COOKIE))


def render_outcome(request: Request, outcome: authorize.Outcome) -> Response:
    if isinstance(outcome, authorize.ErrorPage):
        return error_page(request, outcome.error, outcome.app_id, outcome.app_name)
    if isinstance(outcome, authorize.SignIn):
        segment = quote(str(request.path_params.get("tenant", "common")))
        return RedirectResponse(f"/{segment}/login?interaction={outcome.interaction}", status_code=302)
    if isinstance(outcome, authorize.ConsentPage):
        segment = quote(str(request.path_params.get("tenant", "common")))
        return RedirectResponse(f"/{segment}/consent?interaction={outcome.interaction}", status_code=302)
    if isinstance(outcome, authorize.PermissionsGranted):
        return render(request, "permissions_granted.html", granted=outcome)
    if outcome.error_code is not None:
        metrics.ERRORS.labels(str(outcome.error_code)).inc()
    return redirect_to_client(request, outcome.redirect_uri, outcome.response_mode, outcome.params)


# --- sign-in -----------------------------------------------------------------------------------------
PORTAL_INTERACTION = "portal"
PORTAL_NAME = "Consentry admin portal"


@dataclass(frozen=True, slots=True)
class _PendingSignIn:
    """What a sign-in page is for: an authorization request, or the admin portal (then ``next_path``)."""

    app_name: str
    login_hint: str | None
    next_path: str | None = None


def _pending(ctx: Any, interaction: str) -> _PendingSignIn:
    try:
        req = authorize.interaction_request(ctx, interaction)
        return _PendingSignIn(req.client_name, req.login_hint)
    except ConsentryError:
        params = tokens.get_interaction(ctx, interaction, PORTAL_INTERACTION)
        return _PendingSignIn(PORTAL_NAME, None, str(params["next"]))


def start_portal_sign_in(request: Request, next_path: str) -> Response:
    """Send a browser without a session to the sign-in page; afterwards it comes back to ``next_path``."""
    if not next_path.startswith("/portal"):
        next_path = "/portal"
    interaction = tokens.start_interaction(runtime_of(request).ctx, PORTAL_INTERACTION, {"next": next_path})
    return RedirectResponse(f"/organizations/login?interaction={interaction}", status_code=302)


async def sign_in_page(request: Request) -> Response:
    ctx = runtime_of(request).ctx
    interaction = request.query_params.get("interaction")
    try:
        pending = await run_in_threadpool(_pending, ctx, interaction or "")
    except ConsentryError as exc:
        return error_page(request, exc)
    return render(request, "signin.html", interaction=interaction, username=pending.login_hint or "",
                  app_name=pending.app_name, action=request.url.path)


async def sign_in_submit(request: Request) -> Response:
    rt = runtime_of(request)
    try:
        form = await read_form(request)
        ensure_csrf(request, form)
        interaction = form.get("interaction", "")
        pending = await run_in_threadpool(_pending, rt.ctx, interaction)
    except ConsentryError as exc:
        return error_page(request, exc)
    username = form.get("username", "")[:256]
    try:
        user = await run_in_threadpool(signin.authenticate_password, rt.ctx, username, form.get("password", ""))
    except ConsentryError as exc:
        return render(request, "signin.html", status=200, interaction=interaction, username=username,
                      app_name=pending.app_name, action=request.url.path, error=exc)
    token, session = await run_in_threadpool(tokens.start_session, rt.ctx, user)
    if pending.next_path is not None:
        await run_in_threadpool(tokens.finish_interaction, rt.ctx, interaction)
        response: Response = RedirectResponse(pending.next_path, status_code=302)
    else:
        try:
            outcome = await run_in_threadpool(authorize.resume, rt.ctx, interaction, session, request_ids(request))
        except ConsentryError as exc:
            outcome = authorize.ErrorPage(exc)
        response = render_outcome(request, outcome)
    set_session_cookie(response, request, token)
    return response


async def sign_out(request: Request) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(tokens.end_session, rt.ctx, request.cookies.get(SESSION_COOKIE))
    target = request.query_params.get("post_logout_redirect_uri") or ""
    allowed = bool(target) and await run_in_threadpool(_is_registered_logout_target, request, target)
    response = RedirectResponse(target, status_code=302) if allowed else render(request, "signed_out.html")
    clear_session_cookie(response, request)
    return response


def _is_registered_logout_target(request: Request, target: str) -> bool:
    """Only a redirect URI registered for the named client may receive the browser after sign-out."""
    client_id = request.query_params.get("client_id") or request.query_params.get("id_token_hint_client_id")
    if not client_id:
        return False
    app = access_service.load_application(runtime_of(request).ctx, client_id)
    return app is not None and target in app.redirect_uris


# --- device code ---------------------------------------------------------------------------------
async def device_page(request: Request) -> Response:
    return render(request, "device_code.html", user_code=request.query_params.get("otc", "")[:16])


@dataclass(frozen=True, slots=True)
class _DeviceForm:
    form: dict[str, str]
    record: dict[str, Any]
    user_code: str
    app_name: str


async def _device_form(request: Request) -> _DeviceForm | Response:
    """A verified device-page form and the pending device code it names, or the page that says why not."""
    ctx = runtime_of(request).ctx
    try:
        form = await read_form(request)
        ensure_csrf(request, form)
    except ConsentryError as exc:
        return error_page(request, exc)
    user_code = form.get("user_code", "")
    record = await run_in_threadpool(tokens.find_pending_device_code, ctx, user_code)
    if record is None:
        return render(request, "device_code.html", status=400, user_code=user_code[:16],
                      error=ConsentryError(USER_CODE_INVALID))
    app = await run_in_threadpool(access_service.load_application, ctx, record["client_app_id"])
    return _DeviceForm(form, record, tokens.normalize_user_code(user_code),
                       app.display_name if app else record["client_app_id"])


async def device_submit(request: Request) -> Response:
    device = await _device_form(request)
    if isinstance(device, Response):
        return device
    session = await run_in_threadpool(current_session, request)
    if session is None:
        return render(request, "device_signin.html", user_code=device.user_code, app_name=device.app_name)
    if device.form.get("decision") in ("continue", "cancel"):
        return await _device_decide(request, device.record, session, device.form["decision"] == "continue")
    return render(request, "device_confirm.html", user_code=device.user_code, app_name=device.app_name,
                  user=session.user)


async def device_sign_in(request: Request) -> Response:
    device = await _device_form(request)
    if isinstance(device, Response):
        return device
    ctx = runtime_of(request).ctx
    username = device.form.get("username", "")[:256]
    try:
        user = await run_in_threadpool(signin.authenticate_password, ctx, username, device.form.get("password", ""))
    except ConsentryError as exc:
        return render(request, "device_signin.html", user_code=device.user_code, app_name=device.app_name,
                      username=username, error=exc)
    token, _ = await run_in_threadpool(tokens.start_session, ctx, user)
    response = render(request, "device_confirm.html", user_code=device.user_code, app_name=device.app_name,
                      user=user)
    set_session_cookie(response, request, token)
    return response


async def _device_decide(request: Request, record: dict[str, Any], session: tokens.Session,
                         approve: bool) -> Response:
    rt = runtime_of(request)
    if approve and record["tenant_id"] and record["tenant_id"] != session.user.tenant_id:
        return error_page(request, ConsentryError(
            USER_NOT_IN_TENANT, user=session.user.user_principal_name, idp="Consentry",
            tenant=record["tenant_id"], app_id=record["client_app_id"], app_name=record["client_app_id"]))
    await run_in_threadpool(tokens.decide_device_code, rt.ctx, record["device_code_hash"], session.user, approve)
    return render(request, "device_done.html", approved=approve)

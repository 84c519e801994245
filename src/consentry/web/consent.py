"""The consent pages (spec §5.1, §5.2): "Permissions requested" (with "Accept for your organization" in the
admin flow), "Need admin approval", "Permissions granted"; the admin consent endpoints (spec §3.4) and the
short admin consent link ``/consent/{appId}``.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from consentry.domain.consent import APPROVAL_REQUIRED_STEP, NEED_APPROVAL
from consentry.domain.ids import is_guid
from consentry.errors import CLIENT_NOT_FOUND, INVALID_VALUE, ConsentryError
from consentry.protocol import adminconsent, consent_flow
from consentry.web.http import client_ip, ensure_csrf, protocol_request, read_form, request_ids, runtime_of
from consentry.web.pages import current_session, error_page, render, render_outcome


def _segment(request: Request) -> str:
    return str(request.path_params.get("tenant", "organizations"))


async def consent_page(request: Request) -> Response:
    rt = runtime_of(request)
    interaction = request.query_params.get("interaction", "")
    session = await run_in_threadpool(current_session, request)
    try:
        shown = await run_in_threadpool(consent_flow.view, rt.ctx, interaction, session, _segment(request),
                                        request_ids(request))
    except ConsentryError as exc:
        return error_page(request, exc)
    if not isinstance(shown, consent_flow.ConsentView):
        return render_outcome(request, shown)
    return _render_view(request, shown)


def _render_view(request: Request, shown: consent_flow.ConsentView, status: int = 200, **extra: object) -> Response:
    base = f"/{quote(_segment(request))}/consent"
    links = {"switch_url": f"{base}/admin?interaction={quote(shown.interaction)}",
             "return_url": f"{base}/return?interaction={quote(shown.interaction)}"}
    if shown.step == NEED_APPROVAL:
        return render(request, "need_admin_approval.html", status=status, view=shown, **links)
    if shown.step == APPROVAL_REQUIRED_STEP:
        return render(request, "approval_required.html", status=status, view=shown, request_action=f"{base}/request",
                      **links, **extra)
    return render(request, "consent.html", status=status, view=shown, action=base)


async def consent_request_submit(request: Request) -> Response:
    """"Request approval" on the "Approval required" page, then "Request sent"."""
    rt = runtime_of(request)
    try:
        form = await read_form(request)
        ensure_csrf(request, form)
    except ConsentryError as exc:
        return error_page(request, exc)
    session = await run_in_threadpool(current_session, request)
    interaction, justification = form.get("interaction", ""), form.get("justification", "")
    try:
        sent = await run_in_threadpool(consent_flow.request_approval, rt.ctx, interaction, session,
                                       _segment(request), justification, client_ip(request))
    except ConsentryError as exc:
        if exc.entry is not INVALID_VALUE:
            return error_page(request, exc)
        try:
            shown = await run_in_threadpool(consent_flow.view, rt.ctx, interaction, session, _segment(request),
                                            request_ids(request))
        except ConsentryError as again:
            return error_page(request, again)
        if not isinstance(shown, consent_flow.ConsentView):
            return render_outcome(request, shown)
        return _render_view(request, shown, status=400, error=exc.message, justification=justification[:1000])
    base = f"/{quote(_segment(request))}/consent"
    return render(request, "request_sent.html", view=sent, return_url=f"{base}/return?interaction={quote(interaction)}")


async def consent_submit(request: Request) -> Response:
    rt = runtime_of(request)
    try:
        form = await read_form(request)
        ensure_csrf(request, form)
    except ConsentryError as exc:
        return error_page(request, exc)
    session = await run_in_threadpool(current_session, request)
    accept, for_org = form.get("decision") == "accept", form.get("on_behalf_of_org") == "1"
    try:
        outcome = await run_in_threadpool(
            lambda: consent_flow.submit(rt.ctx, form.get("interaction", ""), session, _segment(request),
                                        request_ids(request), accept=accept, on_behalf_of_org=for_org,
                                        ip_address=client_ip(request)))
    except ConsentryError as exc:
        return error_page(request, exc)
    return render_outcome(request, outcome)


async def consent_switch(request: Request) -> Response:
    """"Have an admin account? Sign in with that account"."""
    rt = runtime_of(request)
    session = await run_in_threadpool(current_session, request)
    try:
        outcome = await run_in_threadpool(consent_flow.switch_to_admin, rt.ctx,
                                          request.query_params.get("interaction", ""), session, _segment(request))
    except ConsentryError as exc:
        return error_page(request, exc)
    return render_outcome(request, outcome)


async def consent_return(request: Request) -> Response:
    """"Return to the application without granting consent"."""
    rt = runtime_of(request)
    session = await run_in_threadpool(current_session, request)
    try:
        outcome = await run_in_threadpool(consent_flow.return_to_app, rt.ctx,
                                          request.query_params.get("interaction", ""), session, _segment(request),
                                          request_ids(request))
    except ConsentryError as exc:
        return error_page(request, exc)
    return render_outcome(request, outcome)


async def admin_consent_endpoint(request: Request) -> Response:
    rt = runtime_of(request)
    p = protocol_request(request, {}, _segment(request))
    session = await run_in_threadpool(current_session, request)
    version = 2 if "/v2.0/" in request.url.path else 1
    outcome = await run_in_threadpool(adminconsent.begin, rt.ctx, p, session, version)
    return render_outcome(request, outcome)


async def consent_short_link(request: Request) -> Response:
    """``/consent/{appId}``: the admin consent flow for the signing-in administrator's own tenant."""
    app_id = str(request.path_params["app_id"])
    if not is_guid(app_id):
        return error_page(request, ConsentryError(CLIENT_NOT_FOUND, app_id=app_id[:100], tenant="organizations"))
    return RedirectResponse(f"/organizations/adminconsent?client_id={app_id.lower()}", status_code=302)

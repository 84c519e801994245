"""The consent step of an authorization (spec §5.1, §5.2, §3.4): what the consent page shows, and what its
buttons and links do. The page is a stored *consent interaction*, bound to the browser session that
started it; every step re-reads the directory, so nothing the browser sends decides what is granted.

::

    /authorize, /adminconsent ──decision──▶ consent interaction
        "Permissions requested"  ── Accept ──▶ grant (one transaction) ──▶ code │ admin_consent=True │ page
                                 ── Cancel ──▶ access_denied, error_subcode=cancel, AADSTS65004
        "Need admin approval"    ── "Have an admin account?" ──▶ sign-in ──▶ admin consent page
                                 ── "Return to the application" ──▶ access_denied, cancel, AADSTS90094
        "Approval required"      ── "Request approval" (justification) ──▶ "Request sent" ── "Back to app"
                                    ──▶ access_denied, cancel, AADSTS90095   (the workflow is on)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from consentry.domain.consent import (
    ADMIN_CONSENT,
    APPROVAL_REQUIRED_STEP,
    BLOCKED,
    CONSENT,
    NEED_APPROVAL,
    Permission,
)
from consentry.domain.consent_requests import UserConsentRequest
from consentry.domain.directory import User
from consentry.errors import (
    ADMIN_CONSENT_REQUIRED,
    APPROVAL_REQUIRED,
    FLOW_EXPIRED,
    USER_DECLINED,
    ConsentryError,
)
from consentry.protocol import authorize
from consentry.protocol.authorize import (
    CONSENT_INTERACTION,
    INTERACTION_KIND,
    AuthorizeRequest,
    Outcome,
    PermissionsGranted,
    SignIn,
    ToClient,
)
from consentry.services import consent, consent_requests, tokens
from consentry.services.consent import ConsentQuery, Evaluation, Granted
from consentry.services.context import Actor, ServiceContext
from consentry.services.credentials import digest
from consentry.services.tokens import Session

ADMIN_CONSENT_FLOW = "adminconsent"


@dataclass(frozen=True, slots=True)
class PermissionLine:
    text: str
    description: str
    value: str
    application: bool  # an application permission (app role): used without a signed-in user


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    name: str
    lines: tuple[PermissionLine, ...]


@dataclass(frozen=True, slots=True)
class ConsentView:
    """What the consent or "Need admin approval" page shows."""

    interaction: str
    step: str
    reason: str
    error: ConsentryError | None
    app_name: str
    app_id: str
    publisher: str
    verified: bool
    microsoft: bool
    homepage: str | None
    user: User
    tenant_name: str
    groups: tuple[ResourceGroup, ...]
    org_checkbox: bool
    risky: bool
    redirect_trusted: bool
    pending: UserConsentRequest | None = None  # "Approval required": the user's request in progress


def query_for(req: AuthorizeRequest, user: User) -> ConsentQuery:
    return ConsentQuery(user.tenant_id, req.client_id, user.id, req.scope, req.prompt, req.admin_flow)


def _load(ctx: ServiceContext, interaction: str, session: Session | None, segment: str) -> AuthorizeRequest:
    """The interaction's request, if it exists, belongs to this browser session and was started at this
    tenant's endpoint (the ``{tenant}`` of the page's address)."""
    data = tokens.get_interaction(ctx, interaction, CONSENT_INTERACTION)
    if session is None or data.get("session") != session.id_hash or data.get("user_id") != session.user.id:
        raise ConsentryError(FLOW_EXPIRED)
    req = AuthorizeRequest.from_dict(data["request"])
    if req.segment.lower() != segment.lower():
        raise ConsentryError(FLOW_EXPIRED)
    return req


# How the consent page names the OpenID Connect scopes for the user (spec §3.1), whatever their published texts.
USER_TEXT_OVERRIDES = {"openid": "Sign you in", "offline_access": "Maintain access to data you have given it access to"}


def _groups(permissions: tuple[Permission, ...], admin_texts: bool) -> tuple[ResourceGroup, ...]:
    grouped: dict[str, list[PermissionLine]] = {}
    for p in permissions:
        text, description = (p.admin_text, p.admin_description) if admin_texts else (p.user_text, p.user_description)
        if not admin_texts and p.is_delegated:
            text = USER_TEXT_OVERRIDES.get(p.value.lower(), text)
        grouped.setdefault(p.resource_name, []).append(PermissionLine(text, description, p.value, not p.is_delegated))
    return tuple(ResourceGroup(name, tuple(lines)) for name, lines in grouped.items())


SHOWN = (CONSENT, ADMIN_CONSENT, NEED_APPROVAL, APPROVAL_REQUIRED_STEP)


def _view(interaction: str, req: AuthorizeRequest, evaluation: Evaluation,
          pending: UserConsentRequest | None = None) -> ConsentView:
    decision = evaluation.decision
    app = evaluation.client.app
    publisher = app.verified_publisher.get("displayName") or app.publisher_name or "Unverified"
    error = None
    if decision.error is not None:
        error = ConsentryError(decision.error, app_name=evaluation.client.display_name, app_id=app.app_id)
    return ConsentView(
        interaction=interaction, step=decision.step, reason=decision.reason, error=error,
        app_name=evaluation.client.display_name, app_id=app.app_id,
        publisher="Microsoft Corporation" if app.tenant_id is None else publisher,
        verified=app.verified or app.tenant_id is None, microsoft=app.tenant_id is None, homepage=app.homepage_url,
        user=evaluation.user, tenant_name=evaluation.tenant.display_name,
        groups=_groups(decision.permissions, admin_texts=req.admin_flow),
        org_checkbox=decision.org_checkbox, risky=decision.risky, redirect_trusted=req.redirect_trusted,
        pending=pending)


def _pending(ctx: ServiceContext, req: AuthorizeRequest, evaluation: Evaluation) -> UserConsentRequest | None:
    if evaluation.decision.step != APPROVAL_REQUIRED_STEP:
        return None
    return consent_requests.find_in_progress(ctx, evaluation.tenant.id, evaluation.client.app_id,
                                             evaluation.user.id, consent_requests.consent_type_for(req.scope))


def view(ctx: ServiceContext, interaction: str, session: Session | None, segment: str,
         ids: tuple[str, str]) -> ConsentView | Outcome:
    """The page for a consent interaction — or, if the directory changed so that no page is needed any more
    (an administrator consented meanwhile), the rest of the flow."""
    req = _load(ctx, interaction, session, segment)
    assert session is not None
    evaluation = consent.evaluate(ctx, query_for(req, session.user))
    if evaluation.decision.step in SHOWN:
        return _view(interaction, req, evaluation, _pending(ctx, req, evaluation))
    tokens.finish_interaction(ctx, interaction)
    return authorize.complete(ctx, req, session, ids)


def submit(ctx: ServiceContext, interaction: str, session: Session | None, segment: str, ids: tuple[str, str], *,
           accept: bool, on_behalf_of_org: bool, ip_address: str | None) -> Outcome:
    """Accept or Cancel on the consent page."""
    req = _load(ctx, interaction, session, segment)
    assert session is not None
    if not accept:
        tokens.finish_interaction(ctx, interaction)
        extra = {"admin_consent": "True"} if req.flow == ADMIN_CONSENT_FLOW else None
        return authorize.fail(ctx, req, ConsentryError(USER_DECLINED), ids, subcode="cancel", extra=extra)
    user = session.user
    actor = Actor("user", user.id, user.user_principal_name, ip_address)
    granted = consent.accept(ctx, query_for(req, user), digest(interaction), actor,
                             on_behalf_of_org=on_behalf_of_org)
    decision = granted.evaluation.decision
    if decision.step in (BLOCKED, NEED_APPROVAL, APPROVAL_REQUIRED_STEP):
        # The directory changed between the page and the click: show what applies now.
        return authorize.complete(ctx, req, session, ids)
    if req.flow == ADMIN_CONSENT_FLOW or not req.redirect_trusted:
        return _admin_consent_done(ctx, req, granted)
    return authorize.complete(ctx, req, session, ids, after_consent=True)


def _admin_consent_done(ctx: ServiceContext, req: AuthorizeRequest, granted: Granted) -> Outcome:
    """Spec §3.4: ``admin_consent=True``, ``tenant`` and (v2) ``scope`` back to the client — or, without a
    trusted redirect URI, a page saying the permissions were granted."""
    evaluation = granted.evaluation
    if not req.redirect_trusted:
        return PermissionsGranted(evaluation.client.display_name, evaluation.client.app_id,
                                  evaluation.tenant.display_name, evaluation.tenant.id, req.redirect_uri or None)
    params = {"admin_consent": "True", "tenant": evaluation.tenant.id}
    if req.version == 2:
        names = consent.resource_identifiers(ctx, evaluation.tenant.id, granted.permissions)
        params["scope"] = consent.qualified_scopes(granted.permissions, names)
    if req.state is not None:
        params["state"] = req.state
    return ToClient(req.redirect_uri, "query", params)


def switch_to_admin(ctx: ServiceContext, interaction: str, session: Session | None, segment: str) -> Outcome:
    """"Have an admin account? Sign in with that account": a fresh sign-in, then the admin consent page."""
    req = replace(_load(ctx, interaction, session, segment), admin_flow=True, prompt=None, login_hint=None)
    return SignIn(tokens.start_interaction(ctx, INTERACTION_KIND, req.to_dict()), None)


def return_to_app(ctx: ServiceContext, interaction: str, session: Session | None, segment: str,
                  ids: tuple[str, str]) -> Outcome:
    """"Return to the application without granting consent" (and "Back to app" after a request): the client
    learns that admin approval is needed (``access_denied``, ``error_subcode=cancel``, AADSTS90094 — or
    AADSTS90095 when the request workflow is on)."""
    req = _load(ctx, interaction, session, segment)
    assert session is not None
    step = consent.evaluate(ctx, query_for(req, session.user)).decision.step
    tokens.finish_interaction(ctx, interaction)
    error = APPROVAL_REQUIRED if step == APPROVAL_REQUIRED_STEP else ADMIN_CONSENT_REQUIRED
    return authorize.fail(ctx, req, ConsentryError(error), ids, subcode="cancel")


def request_approval(ctx: ServiceContext, interaction: str, session: Session | None, segment: str,
                     justification: str, ip_address: str | None) -> ConsentView:
    """"Request approval" on the "Approval required" page: the user's request (or the one she already has in
    progress) — the "Request sent" page shows it."""
    req = _load(ctx, interaction, session, segment)
    assert session is not None
    evaluation = consent.evaluate(ctx, query_for(req, session.user))
    if evaluation.decision.step != APPROVAL_REQUIRED_STEP:
        raise ConsentryError(FLOW_EXPIRED)
    user = session.user
    request = consent_requests.submit_request(ctx, user.tenant_id, req.client_id, user.id, req.scope, justification,
                                              Actor("user", user.id, user.user_principal_name, ip_address))
    return _view(interaction, req, evaluation, request)


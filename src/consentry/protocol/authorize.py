"""The authorization endpoint (``/{tenant}/oauth2/v2.0/authorize``, v1 ``/{tenant}/oauth2/authorize``;
spec §3.1, §3.2) as an ordered list of named steps.

Until the client and its redirect URI are trusted, a failure renders an error page and never redirects
(AADSTS90002, 700016, 50011). After that, failures go back to the client's redirect URI with ``state``.
A request that needs the user to sign in becomes an *interaction*: it is stored, the browser is sent to
the sign-in page, and the page resumes the flow with :func:`complete`. There the consent decision
(:mod:`consentry.domain.consent`) either lets the code be issued, blocks with an error page, or starts a
consent interaction whose page (:mod:`consentry.protocol.consent_flow`) finishes it. Pages never issue
tokens.

``prompt=admin_consent`` (spec §3.1) asks for the "Accept for your organization" page. On the v1
endpoint it also accepts a redirect URI that is not registered — the hand-made admin consent URL of
spec §10 — and then ends on a "Permissions granted" page instead of redirecting anywhere.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from consentry.domain.consent import BLOCKED, ISSUE, RISKY_APP
from consentry.domain.directory import User
from consentry.domain.ids import is_guid
from consentry.domain.scopes import parse_scope
from consentry.errors import (
    CLIENT_NOT_FOUND,
    CONSENT_REQUIRED_INTERACTIVE,
    LOGIN_REQUIRED,
    MISSING_PARAMETER,
    PKCE_METHOD_INVALID,
    PKCE_REQUIRED,
    REDIRECT_URI_MISMATCH,
    UNSUPPORTED_RESPONSE_MODE,
    UNSUPPORTED_RESPONSE_TYPE,
    USER_NOT_IN_TENANT,
    ConsentryError,
)
from consentry.protocol.claims import client_info
from consentry.protocol.errors import redirect_error_params
from consentry.protocol.messages import ProtocolRequest
from consentry.services import audit, consent, tokens
from consentry.services.apps import find_application_anywhere
from consentry.services.clients import find_client
from consentry.services.consent import ConsentQuery
from consentry.services.context import Actor, ServiceContext
from consentry.services.directory import RESERVED_TENANT_SEGMENTS, get_tenant
from consentry.services.tokens import Session

RESPONSE_MODES = ("query", "fragment", "form_post")
ADMIN_CONSENT_PROMPT = "admin_consent"
PKCE_METHODS = ("S256", "plain")
INTERACTION_KIND = "authorize"
CONSENT_INTERACTION = "consent"
# Failures that render an error page even after the redirect URI was validated (spec §5.4).
PAGE_ERRORS = frozenset({"app_disabled", "user_not_assigned", "client_not_found", "user_not_in_tenant"})


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """A validated authorization request: what an interaction stores and resumes."""

    base_url: str
    segment: str
    tenant_id: str | None
    client_id: str
    client_name: str
    redirect_uri: str
    response_mode: str
    state: str | None
    nonce: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: str | None
    login_hint: str | None
    domain_hint: str | None
    want_client_info: bool
    version: int
    flow: str = "authorize"  # "authorize", or "adminconsent" for the admin consent endpoints
    admin_flow: bool = False  # the admin consent endpoints and prompt=admin_consent
    redirect_trusted: bool = True  # False: the flow ends on a page, never at redirect_uri

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthorizeRequest:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class ErrorPage:
    error: ConsentryError
    app_id: str | None = None
    app_name: str | None = None


@dataclass(frozen=True, slots=True)
class ToClient:
    """Go back to the client: ``params`` delivered by ``response_mode``."""

    redirect_uri: str
    response_mode: str
    params: dict[str, str]
    error_code: int | None = None


@dataclass(frozen=True, slots=True)
class SignIn:
    interaction: str
    login_hint: str | None


@dataclass(frozen=True, slots=True)
class ConsentPage:
    """Show the consent step of an interaction ("Permissions requested", "Need admin approval")."""

    interaction: str


@dataclass(frozen=True, slots=True)
class PermissionsGranted:
    """Admin consent was recorded and there is no redirect URI to return to: say so on a page."""

    app_name: str
    app_id: str
    tenant_name: str
    tenant_id: str
    ignored_redirect_uri: str | None


Outcome = ErrorPage | ToClient | SignIn | ConsentPage | PermissionsGranted


class Redirectable(Exception):
    """A catalog error raised once the redirect URI is trusted: it goes back to the client."""

    def __init__(self, error: ConsentryError, subcode: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.subcode = subcode


def _validate(ctx: ServiceContext, p: ProtocolRequest) -> AuthorizeRequest:
    """Steps 1–3 raise plain catalog errors (error page); later ones raise Redirectable."""
    param = p.param
    with ctx.uow.read() as tx:
        segment = p.tenant_segment
        tenant = None if segment.lower() in RESERVED_TENANT_SEGMENTS else get_tenant(tx, segment)
        client_id = param("client_id")
        if not client_id:
            raise ConsentryError(MISSING_PARAMETER, name="client_id")
        if not is_guid(client_id):
            raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id[:100], tenant=segment)
        if tenant is not None:
            client = find_client(tx, tenant, client_id.lower())
            app, name = client.app, client.display_name
        else:
            found = find_application_anywhere(tx, client_id.lower())
            if found is None:
                raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id, tenant=segment)
            app, name = found, found.display_name
    redirect_uri = param("redirect_uri")
    if not redirect_uri:
        raise ConsentryError(MISSING_PARAMETER, name="redirect_uri")
    prompt = (param("prompt") or "").lower() or None
    version = 1 if "/oauth2/authorize" in p.path else 2
    trusted = app.is_redirect_uri_registered(redirect_uri)
    if not trusted and not (version == 1 and prompt == ADMIN_CONSENT_PROMPT):
        raise ConsentryError(REDIRECT_URI_MISMATCH, redirect_uri=redirect_uri[:2048], app_id=app.app_id)
    response_mode = param("response_mode") or "query"
    request_fields = dict(base_url=p.base_url, segment=segment, tenant_id=tenant.id if tenant else None,
                          client_id=app.app_id, client_name=name, redirect_uri=redirect_uri,
                          response_mode=response_mode if response_mode in RESPONSE_MODES else "query",
                          state=param("state"), nonce=param("nonce"), scope="", code_challenge=None,
                          code_challenge_method=None, prompt=prompt,
                          login_hint=param("login_hint"), domain_hint=param("domain_hint"),
                          want_client_info=param("client_info") == "1", version=version,
                          admin_flow=prompt == ADMIN_CONSENT_PROMPT, redirect_trusted=trusted)
    partial = AuthorizeRequest(**request_fields)  # type: ignore[arg-type]
    if not trusted:
        # Only admin consent gets this far with an unregistered redirect URI; it ends on a page.
        return AuthorizeRequest(**{**request_fields, "scope": param("scope") or ""})  # type: ignore[arg-type]
    try:
        if response_mode not in RESPONSE_MODES:
            raise ConsentryError(UNSUPPORTED_RESPONSE_MODE, response_mode=response_mode[:50])
        response_type = " ".join(sorted((param("response_type") or "").split()))
        if response_type != "code":
            if not response_type:
                raise ConsentryError(MISSING_PARAMETER, name="response_type")
            raise ConsentryError(UNSUPPORTED_RESPONSE_TYPE, response_type=response_type[:50])
        challenge, method = param("code_challenge"), param("code_challenge_method")
        if challenge is not None:
            method = method or "plain"
            if method not in PKCE_METHODS or not 43 <= len(challenge) <= 128:
                raise ConsentryError(PKCE_METHOD_INVALID, method=method[:20])
        elif app.is_public_client:
            raise ConsentryError(PKCE_REQUIRED)
        scope = param("scope") or ""
        if partial.version == 1 and param("resource"):
            scope = f"{param('resource')}/.default openid {scope}".strip()
        parse_scope(scope, required=not partial.admin_flow)
    except ConsentryError as exc:
        raise Redirectable(exc) from exc
    request_fields.update(scope=scope, code_challenge=challenge, code_challenge_method=method if challenge else None)
    return AuthorizeRequest(**request_fields)  # type: ignore[arg-type]


def _redirect_error(req: AuthorizeRequest, error: ConsentryError, p_ids: tuple[str, str], now: Any,
                    subcode: str | None = None) -> ToClient:
    params = redirect_error_params(error, state=req.state, base_url=req.base_url, trace_id=p_ids[0],
                                   correlation_id=p_ids[1], now=now, subcode=subcode)
    return ToClient(req.redirect_uri, req.response_mode, params, error.entry.aadsts)


def begin(ctx: ServiceContext, p: ProtocolRequest, session: Session | None) -> Outcome:
    """Handle a GET or POST to the authorization endpoint."""
    ids = (p.trace_id, p.correlation_id)
    try:
        req = _validate(ctx, p)
    except Redirectable as exc:
        return _redirect_error(_partial_for_error(ctx, p), exc.error, ids, ctx.clock.now(), exc.subcode)
    except ConsentryError as exc:
        return ErrorPage(exc, app_id=p.param("client_id"))
    needs_sign_in = session is None or req.prompt in ("login", "select_account")
    if needs_sign_in:
        if req.prompt == "none":
            return _redirect_error(req, ConsentryError(LOGIN_REQUIRED), ids, ctx.clock.now())
        interaction = tokens.start_interaction(ctx, INTERACTION_KIND, req.to_dict())
        return SignIn(interaction, req.login_hint)
    assert session is not None
    return complete(ctx, req, session, ids)


def _partial_for_error(ctx: ServiceContext, p: ProtocolRequest) -> AuthorizeRequest:
    """The trusted part of a request that failed after its redirect URI was validated."""
    mode = p.param("response_mode") or "query"
    return AuthorizeRequest(p.base_url, p.tenant_segment, None, p.param("client_id") or "", "",
                            p.param("redirect_uri") or "", mode if mode in RESPONSE_MODES else "query",
                            p.param("state"), None, "", None, None, None, None, None, False, 2)


def complete(ctx: ServiceContext, req: AuthorizeRequest, session: Session, ids: tuple[str, str], *,
             after_consent: bool = False) -> Outcome:
    """The signed-in user's request: the consent decision, then the code, a consent page or an error.

    ``after_consent``: the user has just accepted the consent page, so ``prompt=consent`` and the admin
    flow have been honoured and must not show the page again."""
    user = session.user
    if req.tenant_id is not None and req.tenant_id != user.tenant_id:
        return ErrorPage(ConsentryError(USER_NOT_IN_TENANT, user=user.user_principal_name, idp="Consentry",
                                        tenant=req.tenant_id, app_id=req.client_id, app_name=req.client_name),
                         req.client_id, req.client_name)
    query = ConsentQuery(user.tenant_id, req.client_id, user.id, req.scope,
                         None if after_consent else req.prompt, req.admin_flow and not after_consent)
    try:
        evaluation = consent.evaluate(ctx, query)
    except ConsentryError as exc:
        log_sign_in(ctx, req, user, exc.entry.aadsts or 0, None, exc.message, ids)
        return fail(ctx, req, exc, ids)
    decision = evaluation.decision
    app_name = evaluation.client.display_name
    error = ConsentryError(decision.error or CONSENT_REQUIRED_INTERACTIVE, app_id=req.client_id, app_name=app_name,
                           user=user.user_principal_name)
    log_sign_in(ctx, req, user, 0 if decision.step == ISSUE else error.entry.aadsts or 0, decision.reason,
                "" if decision.step == ISSUE else error.message, ids)
    if decision.reason == RISKY_APP:
        consent.record_risky_block(ctx, evaluation, Actor("user", user.id, user.user_principal_name))
    if decision.step == BLOCKED:
        return ErrorPage(error, req.client_id, app_name)
    if decision.step == ISSUE:
        return _issue_code(ctx, req, session)
    if req.prompt == "none":
        return fail(ctx, req, ConsentryError(CONSENT_REQUIRED_INTERACTIVE, app_id=req.client_id, app_name=app_name),
                    ids)
    interaction = tokens.start_interaction(ctx, CONSENT_INTERACTION, {
        "request": req.to_dict(), "user_id": user.id, "session": session.id_hash})
    return ConsentPage(interaction)


def fail(ctx: ServiceContext, req: AuthorizeRequest, error: ConsentryError, ids: tuple[str, str],
         subcode: str | None = None, extra: dict[str, str] | None = None) -> Outcome:
    """An error after the redirect URI was validated: back to the client, unless it may not be redirected
    (an error page then) or the redirect URI is not trusted (admin consent with an unregistered URI)."""
    if not error.entry.may_redirect or not req.redirect_trusted or error.entry.name in PAGE_ERRORS:
        return ErrorPage(error, req.client_id, req.client_name)
    outcome = _redirect_error(req, error, ids, ctx.clock.now(), subcode)
    if extra:
        outcome.params.update(extra)
    return outcome


def _issue_code(ctx: ServiceContext, req: AuthorizeRequest, session: Session) -> ToClient:
    user = session.user
    code = tokens.issue_code(ctx, tenant_id=user.tenant_id, client_app_id=req.client_id, user_id=user.id,
                             redirect_uri=req.redirect_uri, scope=req.scope, nonce=req.nonce,
                             code_challenge=req.code_challenge, code_challenge_method=req.code_challenge_method,
                             auth_time=session.auth_time, session_id_hash=session.id_hash)
    params = {"code": code}
    if req.state is not None:
        params["state"] = req.state
    params["session_state"] = str(uuid.UUID(bytes=hashlib.sha256(session.id_hash.encode()).digest()[:16]))
    if req.want_client_info:
        params["client_info"] = client_info(user)
    if req.admin_flow:
        params["admin_consent"] = "True"
    return ToClient(req.redirect_uri, req.response_mode, params)


def log_sign_in(ctx: ServiceContext, req: AuthorizeRequest, user: User, error_code: int, reason: str | None,
                failure: str, ids: tuple[str, str]) -> None:
    """Every /authorize outcome for a signed-in user goes to the sign-in log, with the consent reason."""
    audit.record_sign_in(ctx, user.tenant_id, grant_type="authorize", error_code=error_code,
                         correlation_id=ids[1], user_id=user.id, upn=user.user_principal_name,
                         app_id=req.client_id, app_name=req.client_name, failure_reason=failure,
                         consent_reason=reason)


def resume(ctx: ServiceContext, interaction: str, session: Session, ids: tuple[str, str]) -> Outcome:
    """Finish a stored authorization request once the user has signed in."""
    req = AuthorizeRequest.from_dict(tokens.get_interaction(ctx, interaction, INTERACTION_KIND))
    tokens.finish_interaction(ctx, interaction)
    return complete(ctx, req, session, ids)


def interaction_request(ctx: ServiceContext, interaction: str) -> AuthorizeRequest:
    return AuthorizeRequest.from_dict(tokens.get_interaction(ctx, interaction, INTERACTION_KIND))



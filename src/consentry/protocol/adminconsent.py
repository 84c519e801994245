"""The admin consent endpoints (spec §3.4): ``GET /{tenant}/adminconsent`` (v1) and
``GET /{tenant}/v2.0/adminconsent`` (v2).

* v1 always asks for the client's static permissions (``requiredResourceAccess``, delegated and
  application). ``redirect_uri`` is optional: without it, the first registered web redirect URI is used;
  a URI that is not registered is accepted too (the hand-made URLs of spec §10 use ``https://example.com``),
  and the flow then ends on a "Permissions granted" page instead of redirecting.
* v2 requires ``scope`` (``.default`` means the static list) and an exactly registered ``redirect_uri``,
  and refuses ``common``.
* ``organizations`` (and ``common`` on v1) mean the signing-in administrator's home tenant.

After sign-in the request goes through the same consent decision as ``/authorize`` with the admin flow on,
so a non-administrator sees "Need admin approval".
"""

from __future__ import annotations

from consentry.domain.ids import is_guid
from consentry.domain.scopes import parse_scope
from consentry.errors import (
    CLIENT_NOT_FOUND,
    MISSING_PARAMETER,
    REDIRECT_URI_MISMATCH,
    TENANT_REQUIRED,
    ConsentryError,
)
from consentry.protocol.authorize import (
    INTERACTION_KIND,
    AuthorizeRequest,
    ErrorPage,
    Outcome,
    SignIn,
    complete,
    fail,
)
from consentry.protocol.consent_flow import ADMIN_CONSENT_FLOW
from consentry.protocol.messages import ProtocolRequest
from consentry.services import tokens
from consentry.services.apps import find_application_anywhere
from consentry.services.clients import find_client
from consentry.services.context import ServiceContext
from consentry.services.directory import RESERVED_TENANT_SEGMENTS, get_tenant
from consentry.services.tokens import Session


def _validate(ctx: ServiceContext, p: ProtocolRequest, version: int) -> AuthorizeRequest:
    segment = p.tenant_segment
    client_id = p.param("client_id")
    if not client_id:
        raise ConsentryError(MISSING_PARAMETER, name="client_id")
    if not is_guid(client_id):
        raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id[:100], tenant=segment[:100])
    if version == 2 and segment.lower() == "common":
        raise ConsentryError(TENANT_REQUIRED, app_id=client_id, app_name=client_id)
    with ctx.uow.read() as tx:
        tenant = None if segment.lower() in RESERVED_TENANT_SEGMENTS else get_tenant(tx, segment)
        if tenant is not None:
            client = find_client(tx, tenant, client_id.lower())
            app, name = client.app, client.display_name
        else:
            found = find_application_anywhere(tx, client_id.lower())
            if found is None:
                raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id, tenant=segment[:100])
            app, name = found, found.display_name
    redirect_uri = p.param("redirect_uri")
    if redirect_uri is None and version == 1:
        redirect_uri = next((u for u in app.web_redirect_uris if u.startswith("https://")), None)
    if redirect_uri is None:
        if version == 2:
            raise ConsentryError(MISSING_PARAMETER, name="redirect_uri")
        trusted = False
    else:
        trusted = app.is_redirect_uri_registered(redirect_uri)
        if not trusted and version == 2:
            raise ConsentryError(REDIRECT_URI_MISMATCH, redirect_uri=redirect_uri[:2048], app_id=app.app_id)
    return AuthorizeRequest(
        base_url=p.base_url, segment=segment, tenant_id=tenant.id if tenant else None, client_id=app.app_id,
        client_name=name, redirect_uri=(redirect_uri or "")[:2048], response_mode="query", state=p.param("state"),
        nonce=None, scope=(p.param("scope") or "") if version == 2 else "", code_challenge=None,
        code_challenge_method=None, prompt=None, login_hint=p.param("login_hint"), domain_hint=None,
        want_client_info=False, version=version, flow=ADMIN_CONSENT_FLOW, admin_flow=True, redirect_trusted=trusted)


def begin(ctx: ServiceContext, p: ProtocolRequest, session: Session | None, version: int) -> Outcome:
    ids = (p.trace_id, p.correlation_id)
    try:
        req = _validate(ctx, p, version)
    except ConsentryError as exc:
        return ErrorPage(exc, app_id=p.param("client_id"))
    if version == 2:
        try:
            if not req.scope:
                raise ConsentryError(MISSING_PARAMETER, name="scope")
            parse_scope(req.scope)
        except ConsentryError as exc:
            return fail(ctx, req, exc, ids, extra={"admin_consent": "True"})
    if session is None or (p.param("prompt") or "").lower() in ("login", "select_account"):
        return SignIn(tokens.start_interaction(ctx, INTERACTION_KIND, req.to_dict()), req.login_hint)
    return complete(ctx, req, session, ids)

"""The device authorization endpoint (``/{tenant}/oauth2/v2.0/devicecode``; RFC 8628, real-clients §1.2):
it remembers the requested scope, because the client's polls do not repeat it.
"""

from __future__ import annotations

from consentry.domain.scopes import parse_scope
from consentry.errors import CLIENT_NOT_FOUND, MISSING_PARAMETER, ConsentryError
from consentry.protocol.errors import token_error_answer
from consentry.protocol.messages import Answer, ProtocolRequest
from consentry.services import access as access_service
from consentry.services import tokens
from consentry.services.context import ServiceContext
from consentry.services.directory import RESERVED_TENANT_SEGMENTS, get_tenant


def verification_uri(base_url: str) -> str:
    return f"{base_url}/devicelogin"


def device_authorization(ctx: ServiceContext, p: ProtocolRequest) -> Answer:
    try:
        tenant_id = None
        if p.tenant_segment.lower() not in RESERVED_TENANT_SEGMENTS:
            with ctx.uow.read() as tx:
                tenant_id = get_tenant(tx, p.tenant_segment).id
        client_id = p.form.get("client_id")
        if not client_id:
            raise ConsentryError(MISSING_PARAMETER, name="client_id")
        app = access_service.load_application(ctx, client_id)
        if app is None:
            raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id[:100], tenant=p.tenant_segment)
        scope = p.form.get("scope") or ""
        parse_scope(scope)
        auth = tokens.start_device_authorization(ctx, tenant_segment=p.tenant_segment, tenant_id=tenant_id,
                                                 client_app_id=app.app_id, scope=scope)
    except ConsentryError as exc:
        return token_error_answer(exc, base_url=p.base_url, trace_id=p.trace_id, correlation_id=p.correlation_id,
                                  now=ctx.clock.now())
    uri = verification_uri(p.base_url)
    return Answer.json(200, {
        "user_code": auth.user_code, "device_code": auth.device_code, "verification_uri": uri,
        "expires_in": auth.expires_in, "interval": auth.interval,
        "message": f"To sign in, use a web browser to open the page {uri} and enter the code {auth.user_code} "
                   f"to authenticate.",
    })

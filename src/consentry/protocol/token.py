"""The token endpoint (``/{tenant}/oauth2/v2.0/token`` and v1 ``/{tenant}/oauth2/token``; spec §3.5,
real-clients §0.6): Authlib's authorization server dispatches on ``grant_type`` and runs the client
authentication methods of :mod:`consentry.protocol.client_auth`; the grants below decide what is issued
from the grants that exist, and every failure is a catalog error in Entra's JSON shape.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, OAuth2Error, UnsupportedGrantTypeError
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from consentry.domain.directory import User
from consentry.domain.scopes import ScopeRequest, format_scope, parse_scope
from consentry.errors import (
    CLIENT_CREDENTIAL_MISSING,
    CLIENT_NOT_FOUND,
    CODE_CLIENT_MISMATCH,
    CODE_INVALID,
    CODE_REDIRECT_MISMATCH,
    MALFORMED_REQUEST,
    MISSING_PARAMETER,
    PKCE_MISMATCH,
    REFRESH_TOKEN_INVALID,
    SERVER_ERROR,
    TENANT_REQUIRED,
    UNSUPPORTED_GRANT_TYPE,
    USER_NOT_IN_TENANT,
    CatalogEntry,
    ConsentryError,
)
from consentry.protocol import claims as claim_sets
from consentry.protocol.client_auth import (
    OAuthClient,
    PrivateKeyJwt,
    authenticate_client_secret_basic,
    authenticate_client_secret_post,
    authenticate_none,
)
from consentry.protocol.errors import token_error_answer
from consentry.protocol.keys import Keyring
from consentry.protocol.messages import Answer, ProtocolRequest
from consentry.services import access as access_service
from consentry.services import audit as audit_service
from consentry.services import signin, tokens
from consentry.services.cache import pinned_version
from consentry.services.context import ServiceContext
from consentry.services.directory import RESERVED_TENANT_SEGMENTS, get_tenant

ALL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_ONLY = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
_segment: contextvars.ContextVar[str] = contextvars.ContextVar("tenant_segment", default="common")


@dataclass
class Outcome:
    """What the sign-in log records about one token request."""

    tenant_id: str | None = None
    user: User | None = None
    app_id: str | None = None
    app_name: str | None = None
    resource_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class TokenRequest(OAuth2Request):
    def __init__(self, p: ProtocolRequest) -> None:
        super().__init__(p.method, p.url, headers=p.headers)
        self.p = p
        form = dict(p.form)
        self.is_v1 = "/oauth2/token" in p.path
        if self.is_v1 and form.get("resource") and not form.get("scope"):
            # v1 ``resource=X`` is v2 ``scope=X/.default`` (spec §3.3); user flows also get an ID token.
            default = f"{form['resource'].rstrip('/')}/.default"
            form["scope"] = default if form.get("grant_type") == "client_credentials" else f"{default} openid"
        self.payload = BasicOAuth2Payload(form)
        self.outcome = Outcome(app_id=p.form.get("client_id"))

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return dict(self.p.query)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise ConsentryError(MISSING_PARAMETER, name=name)
    return value


def _verify_pkce(record: dict[str, Any], verifier: str | None) -> None:
    challenge = record.get("code_challenge")
    if not challenge:
        return
    if not verifier or not 43 <= len(verifier) <= 128:
        raise ConsentryError(PKCE_MISMATCH)
    method = record.get("code_challenge_method") or "plain"
    expected = create_s256_code_challenge(verifier) if method == "S256" else verifier
    if expected != challenge:
        raise ConsentryError(PKCE_MISMATCH)


def _first_resource_scope(raw: str) -> str:
    """A stored multi-resource request narrowed to its first resource (token requests name one)."""
    request = parse_scope(raw, required=False)
    resources = request.resources
    if len(resources) <= 1:
        return raw
    first = resources[0]
    values = [f"{first.rstrip('/')}/{v}" for v in request.values_for(first)]
    return " ".join([*sorted(request.oidc), *values])


class _Grant(BaseGrant, TokenEndpointMixin):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    server: TokenServer
    request: TokenRequest

    @property
    def form(self) -> dict[str, str]:
        return self.request.form

    def authenticate(self) -> OAuthClient:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        self.request.client = client
        self.request.outcome.app_id = client.app.app_id
        self.request.outcome.app_name = client.app.display_name
        return client

    def ensure_authority_tenant(self, tenant_id: str, error: CatalogEntry) -> None:
        """A code, refresh token or device code is only good at its own tenant's endpoint (or a
        tenant-independent one: ``common``, ``organizations``)."""
        authority = self.authority_tenant_id()
        if authority is not None and authority != tenant_id:
            raise ConsentryError(error)

    def authority_tenant_id(self) -> str | None:
        segment = self.request.p.tenant_segment
        if segment.lower() in RESERVED_TENANT_SEGMENTS:
            return None
        with self.server.ctx.uow.read() as tx:
            return get_tenant(tx, segment).id

    def tenant_for_user(self, user: User) -> str:
        authority = self.authority_tenant_id()
        if authority is not None and authority != user.tenant_id:
            raise ConsentryError(USER_NOT_IN_TENANT, user=user.user_principal_name, idp="Consentry",
                                 tenant=authority, app_id=self.request.outcome.app_id,
                                 app_name=self.request.outcome.app_name)
        return user.tenant_id

    def issue_for_user(self, client: OAuthClient, tenant_id: str, user_id: str, raw_scope: str, *,
                       family_id: str, auth_time: datetime | None, nonce: str | None = None,
                       refresh_scope: str | None = None) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        self.request.outcome.tenant_id = tenant_id
        request = parse_scope(raw_scope)
        result = access_service.evaluate_delegated(self.server.ctx, tenant_id, client.app.app_id, user_id, request,
                                                   raw_scope)
        self.request.outcome.user = result.user
        self.request.outcome.resource_name = result.access.resource.display_name
        return 200, self.server.user_token_response(self.request, client, result, request, family_id=family_id,
                                                    auth_time=auth_time, nonce=nonce,
                                                    refresh_scope=refresh_scope or raw_scope), []


class AuthorizationCodeGrant(_Grant):
    GRANT_TYPE = "authorization_code"

    def validate_token_request(self) -> None:
        client = self.authenticate()
        record = tokens.find_code(self.server.ctx, _required(self.form, "code"))
        if record["client_app_id"] != client.app.app_id:
            raise ConsentryError(CODE_CLIENT_MISMATCH)
        if self.form.get("redirect_uri", record["redirect_uri"]) != record["redirect_uri"]:
            raise ConsentryError(CODE_REDIRECT_MISMATCH)
        _verify_pkce(record, self.form.get("code_verifier"))
        self.ensure_authority_tenant(record["tenant_id"], CODE_INVALID)
        self.record = record

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        record = self.record
        tokens.redeem_code(self.server.ctx, record["code_hash"])
        raw = self.form.get("scope") or _first_resource_scope(record["scope"])
        return self.issue_for_user(self.request.client, record["tenant_id"], record["user_id"], raw,
                                   family_id=record["code_hash"], auth_time=record["auth_time"],
                                   nonce=record["nonce"], refresh_scope=record["scope"])


class RefreshTokenGrant(_Grant):
    GRANT_TYPE = "refresh_token"

    def validate_token_request(self) -> None:
        client = self.authenticate()
        self.record = tokens.find_refresh_token(self.server.ctx, _required(self.form, "refresh_token"),
                                                client.app.app_id)
        self.ensure_authority_tenant(self.record["tenant_id"], REFRESH_TOKEN_INVALID)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        record = self.record
        raw = self.form.get("scope") or _first_resource_scope(record["scope"])
        answer = self.issue_for_user(self.request.client, record["tenant_id"], record["user_id"], raw,
                                     family_id=record["family_id"], auth_time=record["auth_time"],
                                     refresh_scope=record["scope"], )
        tokens.spend_refresh_token(self.server.ctx, record)
        return answer


class PasswordGrant(_Grant):
    GRANT_TYPE = "password"

    def validate_token_request(self) -> None:
        self.authenticate()
        self.username = _required(self.form, "username")
        self.password = _required(self.form, "password")
        self.raw_scope = _required(self.form, "scope")
        parse_scope(self.raw_scope)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        user = signin.authenticate_password(self.server.ctx, self.username, self.password)
        self.request.outcome.user = user
        tenant_id = self.tenant_for_user(user)
        now = self.server.ctx.clock.now()
        return self.issue_for_user(self.request.client, tenant_id, user.id, self.raw_scope,
                                   family_id=tokens.new_family_id(), auth_time=now)


class DeviceCodeGrant(_Grant):
    GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"

    def validate_token_request(self) -> None:
        client = self.authenticate()
        device_code = self.form.get("device_code") or self.form.get("code")
        if not device_code:
            raise ConsentryError(MISSING_PARAMETER, name="device_code")
        self.record = tokens.poll_device_code(self.server.ctx, device_code, client.app.app_id,
                                              self.authority_tenant_id())

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        record = self.record
        return self.issue_for_user(self.request.client, record["tenant_id"], record["user_id"],
                                   _first_resource_scope(record["scope"]), family_id=tokens.new_family_id(),
                                   auth_time=record["auth_time"], refresh_scope=record["scope"])


class BareDeviceCodeGrant(DeviceCodeGrant):
    """msal-node polls with ``grant_type=device_code``."""

    GRANT_TYPE = "device_code"


class ClientCredentialsGrant(_Grant):
    GRANT_TYPE = "client_credentials"
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_ONLY

    def validate_token_request(self) -> None:
        self.authenticate()
        self.raw_scope = _required(self.form, "scope")
        if self.request.p.tenant_segment.lower() in RESERVED_TENANT_SEGMENTS:
            client = self.request.client
            raise ConsentryError(TENANT_REQUIRED, app_id=client.app.app_id, app_name=client.app.display_name)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        request = parse_scope(self.raw_scope)
        client: OAuthClient = self.request.client
        tenant, resolved, access = access_service.evaluate_app_only(
            self.server.ctx, self.request.p.tenant_segment, client.app.app_id, request, self.raw_scope)
        self.request.outcome.tenant_id = tenant.id
        self.request.outcome.resource_name = access.resource.display_name
        subject = claim_sets.TokenSubject(
            issuer=claim_sets.Issuer(self.request.p.base_url, tenant.id), resource=access.resource,
            audience=request.items[0].resource.rstrip("/"), client_app_id=client.app.app_id,
            client_name=resolved.display_name, client_sp_id=access.client_sp.id,
            auth_method=self.request.auth_method, user=None, scopes=(), roles=access.roles)
        body = self.server.access_token_fields(subject)
        return 200, body, []


class TokenServer(AuthorizationServer):
    """Authlib's server, holding what the grants need and rendering Entra's error shape."""

    def __init__(self, ctx: ServiceContext, keyring: Keyring) -> None:
        super().__init__()
        self.ctx = ctx
        self.keyring = keyring
        for method, func in (("client_secret_basic", authenticate_client_secret_basic),
                             ("client_secret_post", authenticate_client_secret_post),
                             ("none", authenticate_none),
                             ("private_key_jwt", PrivateKeyJwt(self._assertion_audiences, self._spend_jti,
                                                               ctx.clock.now))):
            self.register_client_auth_method(method, func)
        for grant in (AuthorizationCodeGrant, RefreshTokenGrant, PasswordGrant, DeviceCodeGrant,
                      BareDeviceCodeGrant, ClientCredentialsGrant):
            self.register_grant(grant)

    # Authlib hooks
    def query_client(self, client_id: str) -> OAuthClient:
        app = access_service.load_application(self.ctx, client_id) if client_id else None
        if app is None:
            raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id or "", tenant=_segment.get())
        return OAuthClient(app, self.ctx.clock.now())

    def create_oauth2_request(self, request: ProtocolRequest) -> TokenRequest:
        return TokenRequest(request)

    def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
        return Answer.json(status, body)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _assertion_audiences(self, request: TokenRequest) -> set[str]:
        p = request.p
        segments = {p.tenant_segment}
        try:
            with self.ctx.uow.read() as tx:
                tenant = get_tenant(tx, p.tenant_segment)
            segments |= {tenant.id, *tenant.domains}
        except ConsentryError:
            pass
        return {f"{p.base_url}/{s}/oauth2/{v}token" for s in segments for v in ("v2.0/", "")}

    def _spend_jti(self, jti_hash: str, expires_at: datetime) -> bool:
        with self.ctx.uow.begin() as tx:
            return tx.tokens.spend_assertion(jti_hash, expires_at)

    # issuance
    def access_token_fields(self, subject: claim_sets.TokenSubject) -> dict[str, Any]:
        now = self.ctx.clock.now()
        lifetime = self.ctx.settings.access_token_lifetime
        token = self.keyring.sign(claim_sets.access_token_claims(subject, now, lifetime), now)
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}

    def user_token_response(self, request: TokenRequest, client: OAuthClient,
                            result: access_service.DelegatedGrant, scope: ScopeRequest, *, family_id: str,
                            auth_time: datetime | None, nonce: str | None, refresh_scope: str) -> dict[str, Any]:
        p = request.p
        issuer = claim_sets.Issuer(p.base_url, result.tenant.id)
        access = result.access
        audience = scope.single_resource("").rstrip("/") if scope.items else "https://graph.microsoft.com"
        subject = claim_sets.TokenSubject(
            issuer=issuer, resource=access.resource, audience=audience, client_app_id=client.app.app_id,
            client_name=result.client.display_name, client_sp_id=access.client_sp.id,
            auth_method=request.auth_method, user=result.user, scopes=access.scopes, roles=access.roles,
            role_template_ids=result.role_template_ids, ip_address=p.client_ip, auth_time=auth_time)
        body: dict[str, Any] = {"token_type": "Bearer",
                                "scope": " ".join(format_scope(audience, access.scopes, qualify=True))}
        body.update(self.access_token_fields(subject))
        oidc = scope.oidc | parse_scope(refresh_scope, required=False).oidc
        now = self.ctx.clock.now()
        if "offline_access" in oidc:
            body["refresh_token"] = tokens.issue_refresh_token(
                self.ctx, family_id=family_id, tenant_id=result.tenant.id, client_app_id=client.app.app_id,
                user_id=result.user.id, scope=refresh_scope, auth_time=auth_time or now)
        if "openid" in oidc:
            version = 1 if "/oauth2/token" in p.path else 2
            id_claims = claim_sets.id_token_claims(
                issuer, result.user, client.app.app_id, now, self.ctx.settings.access_token_lifetime,
                version=version, nonce=nonce, auth_time=auth_time, include_email="email" in oidc)
            body["id_token"] = self.keyring.sign(id_claims, now)
        if p.form.get("client_info") == "1":
            body["client_info"] = claim_sets.client_info(result.user)
        return body

    # the endpoint
    def respond(self, p: ProtocolRequest) -> Answer:
        token = _segment.set(p.tenant_segment)
        request = TokenRequest(p)
        error: ConsentryError | None = None
        try:
            with pinned_version(self.ctx):
                grant = self._grant_for(request)
                grant.validate_token_request()
                status, body, _ = grant.create_token_response()
            answer = Answer.json(status, _v1_shape(body, request, self.ctx.clock.now()) if request.is_v1 else body)
        except ConsentryError as exc:
            error = exc
        except OAuth2Error as exc:
            error = _from_authlib(exc, request)
        finally:
            _segment.reset(token)
        if error is not None:
            answer = token_error_answer(error, base_url=p.base_url, trace_id=p.trace_id,
                                        correlation_id=p.correlation_id, now=self.ctx.clock.now())
        self._log(request, error)
        return answer

    def _grant_for(self, request: TokenRequest) -> _Grant:
        grant_type = request.form.get("grant_type")
        if not grant_type:
            raise ConsentryError(MISSING_PARAMETER, name="grant_type")
        try:
            return self.get_token_grant(request)
        except UnsupportedGrantTypeError as exc:
            raise ConsentryError(UNSUPPORTED_GRANT_TYPE, grant_type=grant_type[:100]) from exc

    def _log(self, request: TokenRequest, error: ConsentryError | None) -> None:
        outcome = request.outcome
        tenant_id = outcome.tenant_id or (outcome.user.tenant_id if outcome.user else None)
        if tenant_id is None:
            return
        user = outcome.user
        audit_service.record_sign_in(
            self.ctx, tenant_id, grant_type=request.form.get("grant_type") or "",
            error_code=0 if error is None else (error.entry.aadsts or 0), correlation_id=request.p.correlation_id,
            user_id=user.id if user else None, upn=user.user_principal_name if user else None,
            app_id=outcome.app_id, app_name=outcome.app_name, resource_name=outcome.resource_name,
            failure_reason=error.message if error else "", ip_address=request.p.client_ip)


def _v1_shape(body: dict[str, Any], request: TokenRequest, now: datetime) -> dict[str, Any]:
    """The v1 endpoint's response: numbers as strings, ``expires_on``, ``not_before`` and ``resource``."""
    shaped = dict(body)
    lifetime = int(body["expires_in"])
    issued = int(now.timestamp())
    shaped.update(expires_in=str(lifetime), ext_expires_in=str(body.get("ext_expires_in", lifetime)),
                  expires_on=str(issued + lifetime), not_before=str(issued))
    resource = request.form.get("resource")
    if resource:
        shaped["resource"] = resource
    return shaped


def _from_authlib(exc: OAuth2Error, request: TokenRequest) -> ConsentryError:
    """Authlib's own failures, mapped onto the catalog."""
    if isinstance(exc, InvalidClientError):
        return ConsentryError(CLIENT_CREDENTIAL_MISSING)
    if exc.error == "unsupported_grant_type":
        return ConsentryError(UNSUPPORTED_GRANT_TYPE, grant_type=(request.form.get("grant_type") or "")[:100])
    if exc.error == "invalid_request":
        return ConsentryError(MALFORMED_REQUEST, reason=exc.description or "")
    return ConsentryError(SERVER_ERROR)

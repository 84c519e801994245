"""Shared helpers for the HTTP-level protocol and web tests.

Every test builds what it needs through ``consentry.services`` — a fresh tenant, users, applications and
grants with random names — so that tests stay independent of each other and of the demo directory, even
though they share one session-wide server (and its one ManualClock).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from tests.support.server import RunningServer

from consentry.domain.apps import Application
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.directory import Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import new_guid
from consentry.services import app_credentials, apps, directory, grants
from consentry.services.context import Actor

TEST_ACTOR = Actor("system", name="protocol tests")
PASSWORD = "Correct-Horse-1!"
WEB_REDIRECT = "https://app.example/callback"
LOOPBACK = "http://localhost"
GRAPH_SCOPE = "openid profile offline_access User.Read"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def unique(prefix: str = "t") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


# --- directory set-up through the services ----------------------------------------------------------
def make_tenant(server: RunningServer) -> Tenant:
    name = unique("tenant")
    return directory.create_tenant(server.ctx, name, [f"{name}.example"], TEST_ACTOR)


def make_user(server: RunningServer, tenant: Tenant, password: str = PASSWORD) -> User:
    upn = f"{unique('user')}@{tenant.default_domain}"
    return directory.create_user(server.ctx, tenant.id, upn, upn.split("@")[0], password, TEST_ACTOR)


@dataclass(frozen=True)
class RegisteredApp:
    app: Application
    secret: str | None
    redirect_uri: str

    @property
    def app_id(self) -> str:
        return self.app.app_id

    def credentials(self) -> dict[str, str]:
        data = {"client_id": self.app_id}
        if self.secret:
            data["client_secret"] = self.secret
        return data


def make_app(server: RunningServer, tenant: Tenant, *, public: bool = False, multi_tenant: bool = False,
             grant: str | None = GRAPH_SCOPE, redirect_uris: tuple[str, ...] | None = None) -> RegisteredApp:
    """A fresh application in ``tenant`` (with its service principal there), optionally with tenant-wide
    consent to ``grant`` on Microsoft Graph.

    Confidential apps get a web redirect URI and a client secret; public apps the ``http://localhost``
    loopback URI and no credential.
    """
    if public:
        uris = redirect_uris or (LOOPBACK,)
        app = Application(id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name=unique("Public "),
                          sign_in_audience="AzureADMultipleOrgs" if multi_tenant else "AzureADMyOrg",
                          public_client_redirect_uris=uris, is_fallback_public_client=True)
    else:
        uris = redirect_uris or (WEB_REDIRECT,)
        app = Application(id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name=unique("Web "),
                          sign_in_audience="AzureADMultipleOrgs" if multi_tenant else "AzureADMyOrg",
                          web_redirect_uris=uris)
    app = apps.register_application(server.ctx, tenant.id, app, TEST_ACTOR)
    secret = None
    if not public:
        _, secret = app_credentials.add_password(server.ctx, tenant.id, app.id, TEST_ACTOR)
    if grant:
        grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, grant, TEST_ACTOR)
    return RegisteredApp(app, secret, uris[0])


# --- token endpoint --------------------------------------------------------------------------------
def token_url(segment: str, v1: bool = False) -> str:
    return f"/{segment}/oauth2/token" if v1 else f"/{segment}/oauth2/v2.0/token"


def post_token(client: httpx.Client, segment: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
    return client.post(token_url(segment), data=data, **kwargs)


def ropc(client: httpx.Client, tenant: Tenant | str, app: RegisteredApp, user: User | str,
         password: str = PASSWORD, scope: str = GRAPH_SCOPE, **extra: str) -> httpx.Response:
    segment = tenant if isinstance(tenant, str) else tenant.id
    upn = user if isinstance(user, str) else user.user_principal_name
    return post_token(client, segment, {"grant_type": "password", "username": upn, "password": password,
                                        "scope": scope, **app.credentials(), **extra})


def assert_entra_error(response: httpx.Response, error: str, code: int, *, status: int = 400,
                       correlation_id: str | None = None, suberror: str | None = None) -> dict[str, Any]:
    """The token endpoint's Entra-shaped error JSON (spec §3.5, §13.9)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    assert body["error_codes"] == [code], body
    description = body["error_description"]
    assert description.startswith(f"AADSTS{code}: "), description
    lines = description.split("\r\n")
    assert len(lines) == 4, lines
    assert lines[1] == f"Trace ID: {body['trace_id']}"
    assert lines[2] == f"Correlation ID: {body['correlation_id']}"
    assert lines[3] == f"Timestamp: {body['timestamp']}"
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    assert GUID.match(body["trace_id"]) and GUID.match(body["correlation_id"])
    assert body["error_uri"].endswith(f"/error?code={code}")
    if correlation_id is not None:
        assert body["correlation_id"] == correlation_id
    if suberror is not None:
        assert body.get("suberror") == suberror, body
    return body  # type: ignore[no-any-return]


def new_correlation_id() -> str:
    return str(uuid.uuid4())


# --- PKCE and JWTs -----------------------------------------------------------------------------------
def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def jwt_part(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))  # type: ignore[no-any-return]


def jwt_header(token: str) -> dict[str, Any]:
    return jwt_part(token, 0)


def jwt_claims(token: str) -> dict[str, Any]:
    return jwt_part(token, 1)


# --- the browser side of the authorization code flow ------------------------------------------------
def authorize_params(app: RegisteredApp, *, scope: str = GRAPH_SCOPE, state: str | None = None,
                     challenge: str | None = None, **extra: str) -> dict[str, str]:
    params = {"client_id": app.app_id, "response_type": "code", "redirect_uri": app.redirect_uri,
              "scope": scope, "state": state or unique("state")}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def authorize(client: httpx.Client, segment: str, params: dict[str, str]) -> httpx.Response:
    return client.get(f"/{segment}/oauth2/v2.0/authorize", params=params)


def hidden_inputs(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def form_action(html: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', html)
    assert match, html
    return match.group(1)


def submit_sign_in(client: httpx.Client, login_location: str, username: str,
                   password: str = PASSWORD) -> httpx.Response:
    """Open the sign-in page the authorize endpoint sent us to and submit it as a browser would."""
    page = client.get(login_location)
    assert page.status_code == 200, page.text
    fields = hidden_inputs(page.text)
    assert fields.get("csrf_token") and fields.get("interaction"), page.text
    return client.post(form_action(page.text), data={**fields, "username": username, "password": password})


def redirect_params(response: httpx.Response) -> dict[str, str]:
    """The parameters a 302 to the client carries in its query (or fragment)."""
    assert response.status_code == 302, (response.status_code, response.text)
    parts = urlsplit(response.headers["location"])
    raw = parts.fragment or parts.query
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def sign_in_for_code(client: httpx.Client, segment: str, app: RegisteredApp, user: User,
                     password: str = PASSWORD, **params: str) -> dict[str, str]:
    """Run authorize → sign-in form → redirect and return the parameters sent back to the client."""
    first = authorize(client, segment, authorize_params(app, **params))
    assert first.status_code == 302, first.text
    assert "/login?interaction=" in first.headers["location"]
    return redirect_params(submit_sign_in(client, first.headers["location"], user.user_principal_name, password))


def redeem(client: httpx.Client, segment: str, app: RegisteredApp, code: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri,
            **app.credentials(), **extra}
    return post_token(client, segment, data)

"""Helpers for the real-client tests: the demo names, unverified JWT decoding, applications registered
through the services, certificates made with ``cryptography``, and the small pieces of "browser" the
interactive flows need (submitting Consentry's sign-in and device-code forms over httpx)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from tests.support.real_clients import real_time
from tests.support.server import RunningServer

from consentry.domain.apps import Application
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.ids import new_guid
from consentry.services import app_credentials, apps, grants
from consentry.services.context import Actor
from consentry.services.demo import DEMO_PASSWORD

GRAPH_CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
APPLE_INTERNET_ACCOUNTS = "f8d98a96-0999-43f5-8af3-69971c7bb423"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
ADELE = "adele@contoso.example"
PASSWORD = DEMO_PASSWORD
TEST_ACTOR = Actor("system", name="client tests")


def _segment(token: str | bytes, index: int) -> str:
    text = token.decode() if isinstance(token, bytes) else token
    return text.split(".")[index]


def decode_jwt(token: str | bytes) -> dict[str, Any]:
    """The payload of a JWT, unverified (the client tests check shape, Authlib's test checks signatures)."""
    payload = _segment(token, 1)
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def jwt_header(token: str | bytes) -> dict[str, Any]:
    header = _segment(token, 0)
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


# --- registered applications ------------------------------------------------------------------------
@dataclass(frozen=True)
class RegisteredApp:
    app_id: str
    object_id: str
    tenant_id: str
    secret: str | None = None


def register_app(server: RunningServer, tenant_id: str, *, secret: bool = True, roles: tuple[str, ...] = (),
                 web_redirect_uris: tuple[str, ...] = (), delegated: str | None = None,
                 name: str = "client test app") -> RegisteredApp:
    """A fresh confidential app in the tenant, with its service principal, and optionally a secret, Graph
    app roles (app-only) and a tenant-wide delegated grant on Graph."""
    ctx = server.ctx
    app = apps.register_application(ctx, tenant_id, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant_id, display_name=name,
        web_redirect_uris=web_redirect_uris), TEST_ACTOR)
    with real_time(server):  # valid from the real now, whatever an earlier test did to the server's clock
        value = (app_credentials.add_password(ctx, tenant_id, app.id, TEST_ACTOR, display_name="tests")[1]
                 if secret else None)
    for role in roles:
        grants.add_app_role_assignment(ctx, tenant_id, principal_id=app.app_id, resource_id=MICROSOFT_GRAPH,
                                       app_role=role, actor=TEST_ACTOR)
    if delegated:
        grants.add_grant(ctx, tenant_id, app.app_id, MICROSOFT_GRAPH, "AllPrincipals", delegated, TEST_ACTOR)
    return RegisteredApp(app.app_id, app.id, tenant_id, value)


# --- certificates -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Certificate:
    private_key_pem: str
    certificate_pem: str
    sha1_thumbprint: str  # hex, as MSAL's "thumbprint" wants it

    @property
    def der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode()).public_bytes(
            serialization.Encoding.DER)


def make_certificate(common_name: str = "consentry client test") -> Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    sha1 = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return Certificate(key_pem, cert_pem, sha1)


@dataclass(frozen=True)
class CertificateApp:
    app: RegisteredApp
    certificate: Certificate


# --- a browser, as far as the sign-in and device pages need one ----------------------------------------


class _Forms(HTMLParser):
    """Every <form> on a page: its action and the name/value of its inputs (and of a submit button)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {},
                               "buttons": []})
        elif self.forms and tag == "input" and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))


def parse_form(html: str) -> dict[str, Any]:
    parser = _Forms()
    parser.feed(html)
    assert parser.forms, f"no form on the page: {html[:500]}"
    return parser.forms[0]


def submit(browser: httpx.Client, page: httpx.Response, **values: str) -> httpx.Response:
    """Fill the page's first form with ``values`` and post it, as a browser would."""
    form = parse_form(page.text)
    data = {**form["fields"], **values}
    return browser.post(urljoin(str(page.url), form["action"] or str(page.url)), data=data)


def sign_in_through_browser(server: RunningServer, auth_uri: str, username: str = ADELE,
                            password: str = PASSWORD) -> dict[str, str]:
    """Open the authorize URL, follow to the sign-in page, submit it, and return the query of the final
    302 to the redirect URI (not followed: nothing listens there)."""
    with server.client() as browser:
        response = browser.get(auth_uri)
        assert response.status_code == 302, response.text[:500]
        login = browser.get(urljoin(auth_uri, response.headers["location"]))
        assert login.status_code == 200, login.text[:500]
        form = parse_form(login.text)
        assert {"csrf_token", "interaction", "username", "password"} <= set(form["fields"])
        done = submit(browser, login, username=username, password=password)
        assert done.status_code == 302, done.text[:800]
        location = done.headers["location"]
    query = parse_qs(urlsplit(location).query)
    return {k: v[0] for k, v in query.items()}


def approve_device_code(server: RunningServer, user_code: str, username: str = ADELE,
                        password: str = PASSWORD) -> httpx.Response:
    """Enter the code on /devicelogin, sign in, and press Continue."""
    with server.client() as browser:
        page = browser.get("/devicelogin")
        assert page.status_code == 200, page.text[:500]
        signin = submit(browser, page, user_code=user_code)
        assert signin.status_code == 200, signin.text[:500]
        confirm = submit(browser, signin, username=username, password=password)
        assert confirm.status_code == 200, confirm.text[:500]
        assert re.search(r'name="decision"\s+value="continue"', confirm.text), confirm.text[:800]
        return submit(browser, confirm, decision="continue")

"""The portal's App registrations pages over HTTP: "New registration" (with its service principal), the
Overview's ids and redirect URIs, "Certificates & secrets" (a secret's value shown once and working at the
token endpoint), "API permissions" (requiredResourceAccess), who may change what, anti-forgery tokens,
404s for other tenants' applications, and an audit record per change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from tests.protocol.helpers import TEST_ACTOR, make_tenant, make_user, post_token, unique
from tests.support.server import RunningServer
from tests.web.portal_helpers import csrf, portal_client, post_form, text_of

from consentry.domain.apps import Application, PermissionScope, RequiredResourceAccess, ResourceAccess
from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.directory import GLOBAL_READER, Tenant, User
from consentry.domain.ids import new_guid
from consentry.domain.odata import ODataQuery
from consentry.services import apps, audit, directory

CERTIFICATE_CHANGES = "Update application – Certificates and secrets management"


@contextmanager
def signed_in(server: RunningServer, tenant: Tenant, role: str | None = "Application Administrator"
              ) -> Iterator[tuple[httpx.Client, User]]:
    user = make_user(server, tenant)
    if role:
        directory.assign_role(server.ctx, tenant.id, user.user_principal_name, role, TEST_ACTOR)
    with portal_client(server, user.user_principal_name) as client:
        yield client, user


def activities(server: RunningServer, tenant_id: str, target_id: str, by: User) -> list[str]:
    """The audit activities about ``target_id`` that ``by`` initiated, sorted (the test clock stands still)."""
    rows, _ = audit.page_directory_audits(server.ctx, tenant_id, ODataQuery(top=50), target_id=target_id)
    return sorted(r["activity_display_name"] for r in rows
                  if (r["initiated_by"].get("user") or {}).get("userPrincipalName") == by.user_principal_name)


def registered(server: RunningServer, tenant: Tenant, **fields: Any) -> Application:
    app = Application(id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name=unique("Portal App "),
                      **fields)
    return apps.register_application(server.ctx, tenant.id, app, TEST_ACTOR)


def current(server: RunningServer, tenant: Tenant, app: Application) -> Application:
    return apps.get_application(server.ctx, tenant.id, app.id)


def permission_id(resource_app_id: str, value: str, kind: str) -> str:
    builtin = find_builtin_application(resource_app_id)
    assert builtin is not None
    items = builtin.scopes if kind == "Scope" else builtin.app_roles
    return next(p.id for p in items if p.value == value)


def self_signed_pem(common_name: str) -> tuple[bytes, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), cert


# --- New registration and the Overview -------------------------------------------------------------------

def test_new_registration_registers_the_app_with_its_service_principal(server: RunningServer) -> None:
    tenant = make_tenant(server)
    with signed_in(server, tenant) as (client, admin):
        form = client.get("/portal/app-registrations/new")
        for label in ("Supported account types", "Accounts in this organizational directory only",
                      "Accounts in any organizational directory", "Public client/native (mobile &amp; desktop)",
                      "Single-page application"):
            assert label in form.text
        created = post_form(client, "/portal/app-registrations/new", "/portal/app-registrations/new",
                            {"display_name": "Payroll", "audience": "AzureADMultipleOrgs", "platform": "web",
                             "redirect_uri": "https://payroll.example/signin-oidc"})
        assert created.status_code == 303, created.text
        object_id = created.headers["location"].split("/portal/app-registrations/")[1].split("?")[0]
        app = apps.find_application(server.ctx, tenant.id, object_id=object_id)
        assert (app.display_name, app.sign_in_audience, app.web_redirect_uris) == (
            "Payroll", "AzureADMultipleOrgs", ("https://payroll.example/signin-oidc",))
        sp = apps.find_service_principal(server.ctx, tenant.id, app_id=app.app_id)
        overview = client.get(created.headers["location"])
        page = text_of(overview)
        assert "Successfully created application Payroll." in page
        for label, value in (("Application (client) ID", app.app_id), ("Object ID", app.id),
                             ("Directory (tenant) ID", tenant.id)):
            assert f"{label} {value} Copy" in page
        assert f'href="/portal/enterprise-apps/{sp.id}"' in overview.text
        listed = client.get("/portal/app-registrations", params={"search": "pay"})
        assert f'href="/portal/app-registrations/{app.id}"' in listed.text and app.app_id in listed.text
    assert activities(server, tenant.id, app.id, admin) == ["Add application"]
    assert activities(server, tenant.id, sp.id, admin) == ["Add service principal"]


def test_new_registration_explains_what_is_wrong(server: RunningServer) -> None:
    tenant = make_tenant(server)
    with signed_in(server, tenant) as (client, _):
        for data, message in [({"display_name": "", "audience": "AzureADMyOrg"}, "Name is required"),
                              ({"display_name": "Bad", "audience": "AzureADMyOrg", "platform": "web",
                                "redirect_uri": "http://bad.example/cb"},
                               "The redirect URI 'http://bad.example/cb' is not allowed"),
                              ({"display_name": "Odd", "audience": "Everyone"}, "Choose the supported account types")]:
            refused = post_form(client, "/portal/app-registrations/new", "/portal/app-registrations/new", data)
            assert refused.status_code == 400 and message in text_of(refused), text_of(refused)[:400]
    assert apps.list_applications(server.ctx, tenant.id) == []


def test_redirect_uris_are_added_and_removed_per_platform(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = registered(server, tenant, web_redirect_uris=("https://a.example/cb",))
    page_path = f"/portal/app-registrations/{app.id}"
    with signed_in(server, tenant) as (client, admin):
        added = post_form(client, page_path, f"{page_path}/redirect-uris",
                          {"platform": "spa", "uri": "https://spa.example/"})
        assert added.status_code == 303
        shown = text_of(client.get(added.headers["location"]))
        assert "Added the redirect URI https://spa.example/ (Single-page application)." in shown
        assert "Single-page application https://spa.example/" in shown
        native = post_form(client, page_path, f"{page_path}/redirect-uris",
                           {"platform": "public", "uri": "http://localhost"})
        assert native.status_code == 303
        bad = post_form(client, page_path, f"{page_path}/redirect-uris",
                        {"platform": "web", "uri": "javascript:alert(1)"})
        assert bad.status_code == 400
        assert "The redirect URI 'javascript:alert(1)' is not allowed" in text_of(bad)
        twice = post_form(client, page_path, f"{page_path}/redirect-uris", {"platform": "web", "uri": "https://a.example/cb"})
        assert twice.status_code == 400 and "is already registered for the Web platform" in text_of(twice)
        removed = post_form(client, page_path, f"{page_path}/redirect-uris/remove",
                            {"platform": "web", "uri": "https://a.example/cb"})
        assert removed.status_code == 303
    after = current(server, tenant, app)
    assert (after.web_redirect_uris, after.spa_redirect_uris, after.public_client_redirect_uris) == (
        (), ("https://spa.example/",), ("http://localhost",))
    assert activities(server, tenant.id, app.id, admin) == ["Update application"] * 3


# --- Certificates & secrets -----------------------------------------------------------------------------

def test_a_new_client_secret_is_shown_once_and_works_at_the_token_endpoint(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = registered(server, tenant, web_redirect_uris=("https://a.example/cb",))
    page_path = f"/portal/app-registrations/{app.id}/credentials"
    with signed_in(server, tenant) as (client, admin):
        made = post_form(client, page_path, f"{page_path}/secrets", {"description": "CI deploy", "expires": "90"})
        assert made.status_code == 200 and "location" not in made.headers
        assert made.headers["cache-control"] == "no-store"
        value = re.search(r'id="new-secret-value" value="([^"]+)"', made.text)
        assert value, made.text
        secret = value.group(1)
        assert "Copy the new client secret value now" in text_of(made)
        [cred] = current(server, tenant, app).password_credentials
        assert (cred.display_name, cred.end - cred.start, secret[:3]) == ("CI deploy", timedelta(days=90), cred.hint)
        token = post_token(client, tenant.id, {"grant_type": "client_credentials", "client_id": app.app_id,
                                               "client_secret": secret,
                                               "scope": "https://graph.microsoft.com/.default"})
        assert token.status_code == 200, token.text
        assert token.json()["token_type"] == "Bearer"
        later = client.get(page_path)
        assert secret not in later.text and "CI deploy" in later.text and f"{cred.hint}********" in later.text
        assert secret not in client.get(f"/portal/app-registrations/{app.id}").text
        removed = post_form(client, page_path, f"{page_path}/secrets/remove", {"key_id": cred.key_id})
        assert removed.status_code == 303 and secret not in removed.headers["location"]
        assert "Removed the client secret CI deploy." in text_of(client.get(removed.headers["location"]))
        refused = post_token(client, tenant.id, {"grant_type": "client_credentials", "client_id": app.app_id,
                                                 "client_secret": secret,
                                                 "scope": "https://graph.microsoft.com/.default"})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        bad_expiry = post_form(client, page_path, f"{page_path}/secrets", {"description": "x", "expires": "9999"})
        assert bad_expiry.status_code == 400 and "Choose when the client secret expires." in text_of(bad_expiry)
    assert current(server, tenant, app).password_credentials == ()
    assert activities(server, tenant.id, app.id, admin) == [CERTIFICATE_CHANGES] * 2


def test_a_certificate_is_uploaded_as_pem_and_removed(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = registered(server, tenant)
    pem, cert = self_signed_pem("portal-test")
    page_path = f"/portal/app-registrations/{app.id}/credentials"
    with signed_in(server, tenant) as (client, admin):
        uploaded = post_form(client, page_path, f"{page_path}/certificates",
                             {"certificate": pem.decode(), "description": "Signing cert"})
        assert uploaded.status_code == 303, uploaded.text[:400]
        [key] = current(server, tenant, app).key_credentials
        thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
        assert (key.thumbprint_sha1, key.display_name) == (thumbprint, "Signing cert")
        shown = client.get(uploaded.headers["location"])
        assert f"Uploaded the certificate {thumbprint}." in text_of(shown) and thumbprint in shown.text
        again = post_form(client, page_path, f"{page_path}/certificates", {"certificate": pem.decode()})
        assert again.status_code == 409 and "already registered" in text_of(again)
        junk = post_form(client, page_path, f"{page_path}/certificates",
                         {"certificate": "-----BEGIN CERTIFICATE-----x"})
        assert junk.status_code == 400 and "The key is not a valid X.509 certificate." in text_of(junk)
        removed = post_form(client, page_path, f"{page_path}/certificates/remove", {"key_id": key.key_id})
        assert removed.status_code == 303
    assert current(server, tenant, app).key_credentials == ()
    assert activities(server, tenant.id, app.id, admin) == [CERTIFICATE_CHANGES] * 2


# --- API permissions ------------------------------------------------------------------------------------

def test_api_permissions_are_added_by_value_and_removed(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = registered(server, tenant)
    user_read = permission_id(MICROSOFT_GRAPH, "User.Read", "Scope")
    user_read_all = permission_id(MICROSOFT_GRAPH, "User.Read.All", "Role")
    graph = apps.find_service_principal(server.ctx, tenant.id, app_id=MICROSOFT_GRAPH)
    exchange = apps.find_service_principal(server.ctx, tenant.id, app_id=EXCHANGE_ONLINE)
    api = registered(server, tenant, identifier_uris=(f"api://{unique('orders')}",), scopes=(PermissionScope(
        new_guid(), "Orders.Read", "User", "Read orders", "Read orders", None, None),))
    api_sp = apps.find_service_principal(server.ctx, tenant.id, app_id=api.app_id)
    base = f"/portal/app-registrations/{app.id}/api-permissions"
    with signed_in(server, tenant) as (client, admin):
        apis = client.get(f"{base}/add")
        assert apis.status_code == 200
        microsoft, mine = text_of(apis).split("APIs my organization uses")
        assert "Microsoft Graph" in microsoft and "Office 365 Exchange Online" in microsoft
        assert api.display_name in mine and api.display_name not in microsoft
        assert f"?api={exchange.id}" in apis.text and f"?api={api_sp.id}" in apis.text
        choices = client.get(f"{base}/add", params={"api": graph.id})
        assert f'name="scope:{user_read}"' in choices.text and f'name="role:{user_read_all}"' in choices.text
        assert "Delegated permissions" in choices.text and "Application permissions" in choices.text
        added = post_form(client, f"{base}/add?api={graph.id}", base,
                          {"api": graph.id, f"scope:{user_read}": "on", f"role:{user_read_all}": "on"})
        assert added.status_code == 303, added.text[:400]
        listed = client.get(added.headers["location"])
        assert "Added User.Read, User.Read.All (Microsoft Graph)." in text_of(listed)
        assert re.search(r"User\.Read</code></td>\s*<td data-label=\"Type\">Delegated", listed.text)
        assert re.search(r"User\.Read\.All</code></td>\s*<td data-label=\"Type\">Application", listed.text)
        sp = apps.find_service_principal(server.ctx, tenant.id, app_id=app.app_id)
        assert f'href="/portal/enterprise-apps/{sp.id}/permissions"' in listed.text
        own = post_form(client, f"{base}/add?api={api_sp.id}", base,
                        {"api": api_sp.id, f"scope:{api.scopes[0].id}": "on"})
        assert own.status_code == 303
        assert current(server, tenant, app).required_resource_access == (
            RequiredResourceAccess(MICROSOFT_GRAPH, (ResourceAccess(user_read, "Scope"),
                                                     ResourceAccess(user_read_all, "Role"))),
            RequiredResourceAccess(api.app_id, (ResourceAccess(api.scopes[0].id, "Scope"),)))
        nothing = post_form(client, f"{base}/add?api={graph.id}", base, {"api": graph.id})
        assert nothing.status_code == 400 and "Select at least one permission to add." in text_of(nothing)
        forged = post_form(client, f"{base}/add?api={graph.id}", base, {"api": graph.id, f"scope:{new_guid()}": "on"})
        assert forged.status_code == 400 and "does not publish one of the selected permissions" in text_of(forged)
        removed = post_form(client, base, f"{base}/remove",
                            {"resource": MICROSOFT_GRAPH, "permission": user_read, "type": "Scope"})
        assert removed.status_code == 303
        assert "Removed User.Read (Microsoft Graph)." in text_of(client.get(removed.headers["location"]))
        dropped = post_form(client, base, f"{base}/remove",
                            {"resource": api.app_id, "permission": api.scopes[0].id, "type": "Scope"})
        assert dropped.status_code == 303
        gone = post_form(client, base, f"{base}/remove",
                         {"resource": api.app_id, "permission": api.scopes[0].id, "type": "Scope"})
        assert gone.status_code == 400 and "That permission is not in the list" in text_of(gone)
        unknown_api = client.get(f"{base}/add", params={"api": new_guid()})
        assert unknown_api.status_code == 400 and "Microsoft Graph" in unknown_api.text
    assert current(server, tenant, app).required_resource_access == (
        RequiredResourceAccess(MICROSOFT_GRAPH, (ResourceAccess(user_read_all, "Role"),)),)
    assert activities(server, tenant.id, app.id, admin) == ["Update application"] * 4


# --- who may do what ------------------------------------------------------------------------------------

def test_a_global_reader_sees_disabled_controls_and_changes_are_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = registered(server, tenant, web_redirect_uris=("https://a.example/cb",))
    with signed_in(server, tenant, GLOBAL_READER.display_name) as (client, _):
        listing = client.get("/portal/app-registrations")
        assert app.display_name in listing.text
        assert re.search(r'<button type="button" class="primary" disabled[^>]*>New registration</button>', listing.text)
        overview = client.get(f"/portal/app-registrations/{app.id}")
        assert re.search(r'<button type="submit" class="primary" disabled>Add URI</button>', overview.text)
        secrets_page = client.get(f"/portal/app-registrations/{app.id}/credentials")
        assert "<fieldset class=\"dir-plain\" disabled>" in secrets_page.text
        token = csrf(overview)
        base = f"/portal/app-registrations/{app.id}"
        for action, data in [("/portal/app-registrations/new", {"display_name": "Nope", "audience": "AzureADMyOrg"}),
                             (f"{base}/redirect-uris", {"platform": "web", "uri": "https://b.example/cb"}),
                             (f"{base}/credentials/secrets", {"description": "x", "expires": "90"}),
                             (f"{base}/api-permissions", {"api": new_guid()})]:
            refused = client.post(action, data={"csrf_token": token, **data})
            assert refused.status_code == 403, action
            assert "new-secret-value" not in refused.text
    after = current(server, tenant, app)
    assert (after.web_redirect_uris, after.password_credentials) == (("https://a.example/cb",), ())
    assert [a.display_name for a in apps.list_applications(server.ctx, tenant.id)] == [app.display_name]


def test_a_user_without_a_role_is_refused_and_a_forged_form_changes_nothing(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = registered(server, tenant)
    with signed_in(server, tenant, None) as (client, _):
        assert client.get("/portal/app-registrations").status_code == 403
        assert client.get(f"/portal/app-registrations/{app.id}/credentials").status_code == 403
    with signed_in(server, tenant, "Cloud Application Administrator") as (client, _):
        client.get(f"/portal/app-registrations/{app.id}")
        for action, data in [(f"/portal/app-registrations/{app.id}/credentials/secrets", {"expires": "90"}),
                             (f"/portal/app-registrations/{app.id}/redirect-uris",
                              {"platform": "web", "uri": "https://forged.example/cb"})]:
            refused = client.post(action, data=data)
            assert refused.status_code == 403 and "anti-forgery token" in text_of(refused)
    after = current(server, tenant, app)
    assert (after.web_redirect_uris, after.password_credentials) == ((), ())


def test_other_tenants_and_unknown_applications_are_404_pages(server: RunningServer) -> None:
    tenant, other = make_tenant(server), make_tenant(server)
    foreign = registered(server, other)
    with signed_in(server, tenant) as (client, _):
        for path in (f"/portal/app-registrations/{foreign.id}", f"/portal/app-registrations/{foreign.app_id}",
                     f"/portal/app-registrations/{foreign.id}/credentials",
                     f"/portal/app-registrations/{foreign.id}/api-permissions",
                     f"/portal/app-registrations/{foreign.id}/api-permissions/add",
                     "/portal/app-registrations/not-a-guid"):
            missing = client.get(path)
            assert missing.status_code == 404, path
            assert "<h1>Application not found</h1>" in missing.text
        token = csrf(client.get("/portal/app-registrations/new"))
        refused = client.post(f"/portal/app-registrations/{foreign.id}/credentials/secrets",
                              data={"csrf_token": token, "description": "steal", "expires": "90"})
        assert refused.status_code == 404 and "new-secret-value" not in refused.text
    assert current(server, other, foreign).password_credentials == ()


def test_every_link_on_these_pages_leads_somewhere(server: RunningServer) -> None:
    tenant = make_tenant(server)
    app = registered(server, tenant, web_redirect_uris=("https://a.example/cb",), required_resource_access=(
        RequiredResourceAccess(MICROSOFT_GRAPH, (ResourceAccess(permission_id(MICROSOFT_GRAPH, "User.Read", "Scope"),
                                                                "Scope"),)),))
    member = make_user(server, tenant)
    group = directory.create_group(server.ctx, tenant.id, "Linked", TEST_ACTOR, member_ids=[member.id])
    base = f"/portal/app-registrations/{app.id}"
    pages = ["/portal/users", "/portal/users/new", f"/portal/users/{member.id}", "/portal/groups",
             "/portal/groups/new", f"/portal/groups/{group.id}", "/portal/app-registrations",
             "/portal/app-registrations/new", base, f"{base}/credentials", f"{base}/api-permissions",
             f"{base}/api-permissions/add"]
    with signed_in(server, tenant, "Global Administrator") as (client, _):
        seen: set[str] = set()
        for path in pages:
            page = client.get(path)
            assert page.status_code == 200, path
            seen |= {href.replace("&amp;", "&") for href in re.findall(r'href="(/[^"]*)"', page.text)}
        ours = [h for h in seen if h.startswith(("/portal/users", "/portal/groups", "/portal/app-registrations",
                                                  "/portal/enterprise-apps/"))]  # not the other areas' navigation
        assert len(ours) >= 15
        for href in sorted(ours):
            assert client.get(href).status_code == 200, href

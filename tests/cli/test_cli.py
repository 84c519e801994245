"""The ``consentry`` command line, driven through Typer's CliRunner against a fresh SQLite database per test;
the demo seed; and the local TLS that ``consentry serve`` sets up (with uvicorn itself replaced)."""

from __future__ import annotations

import json
import os
import ssl
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from socket import create_connection, create_server
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from tests.support.cli import Run, as_json, assert_one_error_line, ok

from consentry import runtime, tls
from consentry.config import Settings
from consentry.domain.builtin import (
    EXCHANGE_ONLINE,
    GRAPH_COMMAND_LINE_TOOLS,
    MICROSOFT_GRAPH,
    find_builtin_application,
)
from consentry.services import apps, directory, grants
from consentry.services.demo import (
    APPLE_INTERNET_ACCOUNTS,
    APPLE_TENANT_ID,
    CONTOSO_TENANT_ID,
    DEMO_PASSWORD,
    seed_demo,
)


@pytest.fixture
def rt(data_dir: Path, cli: Run, contoso: str) -> Iterator[runtime.Runtime]:
    """The runtime over the database the CLI writes to, for checking what it did."""
    built = runtime.build(Settings(data_dir=data_dir))
    yield built
    built.close()


# --- tenants and users ---------------------------------------------------------------------------

def test_tenant_create_then_list_as_json(cli: Run) -> None:
    created = as_json(cli("tenant", "create", "Fabrikam", "--domain", "fabrikam.example",
                          "--domain", "fabrikam2.example", "--json"))
    listed = as_json(cli("tenant", "list", "--json"))
    assert created["displayName"] == "Fabrikam"
    assert created["domains"] == ["fabrikam.example", "fabrikam2.example"]
    assert [(t["id"], t["domains"]) for t in listed] == [(created["id"], created["domains"])]


def test_tenant_list_as_a_table(cli: Run, contoso: str) -> None:
    out = ok(cli("tenant", "list")).stdout
    assert out.splitlines()[0].split() == ["ID", "NAME", "DOMAINS"]
    assert contoso in out and "contoso.example" in out


def test_user_create_reads_the_password_from_stdin(cli: Run, rt: runtime.Runtime, contoso: str) -> None:
    user = as_json(cli("user", "create", "megan@contoso.example", "--tenant", "contoso.example",
                       "--name", "Megan Bowen", "--json", input="S3cret-pass!\n"))
    stored = next(u for u in directory.list_users(rt.ctx, contoso) if u.id == user["id"])
    assert (user["userPrincipalName"], user["displayName"]) == ("megan@contoso.example", "Megan Bowen")
    assert "S3cret-pass!" not in json.dumps(user)
    assert rt.ctx.passwords.verify(stored.password_hash, "S3cret-pass!")
    assert not rt.ctx.passwords.verify(stored.password_hash, "S3cret-pass!\n")


def test_user_create_refuses_an_empty_password(cli: Run, contoso: str) -> None:
    result = cli("user", "create", "megan@contoso.example", "--tenant", contoso, input="")
    assert_one_error_line(result, "error: The password is empty.")


def test_user_list_by_tenant_id_or_domain(cli: Run, contoso: str) -> None:
    ok(cli("user", "create", "megan@contoso.example", "-t", contoso, input="pw-Megan-1\n"))
    by_id = as_json(cli("user", "list", "--tenant", contoso, "--json"))
    by_domain = as_json(cli("user", "list", "--tenant", "CONTOSO.example", "--json"))
    assert [u["userPrincipalName"] for u in by_id] == ["megan@contoso.example"]
    assert by_id == by_domain


def test_role_assign_shows_in_the_user_list(cli: Run, contoso: str) -> None:
    ok(cli("user", "create", "admin@contoso.example", "-t", contoso, input="pw-Admin-1\n"))
    assigned = as_json(cli("role", "assign", "--tenant", contoso, "--user", "admin@contoso.example",
                           "--role", "Global Administrator", "--json"))
    again = ok(cli("role", "assign", "--tenant", contoso, "--user", "admin@contoso.example",
                   "--role", "global administrator"))
    users = as_json(cli("user", "list", "--tenant", contoso, "--json"))
    assert assigned["roleTemplateId"] == "62e90394-69f5-4237-9190-012177145e10"
    assert "Global Administrator" in again.stdout
    assert users[0]["roles"] == ["Global Administrator"]


def test_role_assign_to_an_unknown_user_is_one_clear_line(cli: Run, contoso: str) -> None:
    result = cli("role", "assign", "-t", contoso, "--user", "ghost@contoso.example",
                 "--role", "Global Reader")
    assert_one_error_line(result, "error: No user 'ghost@contoso.example' in tenant")


# --- errors --------------------------------------------------------------------------------------

def test_duplicate_tenant_domain_is_one_error_line_without_traceback(cli: Run, contoso: str) -> None:
    result = cli("tenant", "create", "Contoso Two", "--domain", "contoso.example")
    assert_one_error_line(result, "error: The domain 'contoso.example' is already used by another tenant.")
    assert len(as_json(cli("tenant", "list", "--json"))) == 1


def test_unknown_tenant_is_the_AADSTS90002_line(cli: Run, contoso: str) -> None:
    result = cli("user", "list", "--tenant", "nowhere.example")
    assert_one_error_line(result, "error: AADSTS90002: Tenant 'nowhere.example' not found.")


def test_an_unreachable_database_is_one_error_line(cli: Run) -> None:
    result = cli("tenant", "list", "--db", "postgresql://nobody@127.0.0.1:1/nothing")
    assert_one_error_line(result, "error: database error: ")


# --- applications, secrets, certificates, service principals -------------------------------------

def register(cli: Run, tenant: str, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = as_json(cli("app", "register", "Payroll", "--tenant", tenant, "--json", *args))
    return result


def test_app_register_with_redirect_uris(cli: Run, contoso: str) -> None:
    registered = register(cli, contoso, "--web-redirect", "https://payroll.example/auth",
                          "--public-redirect", "http://localhost", "--public-client",
                          "--audience", "AzureADMultipleOrgs")
    listed = as_json(cli("app", "list", "--tenant", contoso, "--json"))
    assert registered["web"]["redirectUris"] == ["https://payroll.example/auth"]
    assert registered["publicClient"]["redirectUris"] == ["http://localhost"]
    assert registered["isFallbackPublicClient"] is True
    assert registered["signInAudience"] == "AzureADMultipleOrgs"
    assert [a["appId"] for a in listed] == [registered["appId"]]


def test_app_register_refuses_a_plain_http_redirect_uri(cli: Run, contoso: str) -> None:
    result = cli("app", "register", "Bad", "-t", contoso, "--web-redirect", "http://evil.example/cb")
    assert_one_error_line(result, "error: The redirect URI 'http://evil.example/cb' is not allowed")


def test_app_secret_is_printed_once_and_never_listed(cli: Run, rt: runtime.Runtime, contoso: str) -> None:
    app_id = register(cli, contoso)["appId"]
    added = as_json(cli("app", "secret", "add", app_id, "--tenant", contoso, "--name", "ci", "--json"))
    human = ok(cli("app", "secret", "add", app_id, "--tenant", contoso))
    second = human.stdout.strip().splitlines()[-1]
    listed = ok(cli("app", "list", "--tenant", contoso, "--json")).stdout
    table = ok(cli("app", "list", "--tenant", contoso)).stdout
    secret = added["secretText"]
    assert len(secret) >= 32 and human.stdout.count(second) == 1
    assert secret not in listed and second not in listed and secret not in table
    assert [c["displayName"] for c in json.loads(listed)[0]["passwordCredentials"]] == ["ci", None]
    assert "secretText" not in listed and "hash" not in listed.lower()
    stored = apps.get_application(rt.ctx, contoso, app_id).password_credentials
    assert secret not in repr(stored) and second not in repr(stored)


def test_app_secret_for_an_unknown_app_is_one_clear_line(cli: Run, contoso: str) -> None:
    result = cli("app", "secret", "add", "00000000-1111-2222-3333-444444444444", "-t", contoso)
    assert_one_error_line(result, "error: No application '00000000-1111-2222-3333-444444444444'")


def self_signed_certificate(path: Path) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payroll-ci")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def test_app_cert_add_records_the_thumbprint(cli: Run, contoso: str, tmp_path: Path) -> None:
    cert = self_signed_certificate(tmp_path / "cert.pem")
    app_id = register(cli, contoso)["appId"]
    added = as_json(cli("app", "cert", "add", app_id, "-t", contoso, "--file", str(tmp_path / "cert.pem"),
                        "--json"))
    listed = as_json(cli("app", "list", "-t", contoso, "--json"))
    assert added["customKeyIdentifier"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert [k["keyId"] for k in listed[0]["keyCredentials"]] == [added["keyId"]]


def test_sp_create_in_another_tenant_and_list(cli: Run, contoso: str) -> None:
    fabrikam = as_json(cli("tenant", "create", "Fabrikam", "--domain", "fabrikam.example", "--json"))["id"]
    app_id = register(cli, contoso, "--audience", "AzureADMultipleOrgs")["appId"]
    sp = as_json(cli("sp", "create", app_id, "--tenant", "fabrikam.example", "--json"))
    duplicate = cli("sp", "create", app_id, "--tenant", "fabrikam.example")
    listed = as_json(cli("sp", "list", "--tenant", fabrikam, "--json"))
    assert (sp["appId"], sp["appOwnerOrganizationId"]) == (app_id, contoso)
    assert_one_error_line(duplicate, "error: A service principal for appId")
    builtins = {MICROSOFT_GRAPH, EXCHANGE_ONLINE, GRAPH_COMMAND_LINE_TOOLS}
    assert builtins | {app_id} <= {s["appId"] for s in listed}


def test_sp_create_refuses_a_single_tenant_app_elsewhere(cli: Run, contoso: str) -> None:
    ok(cli("tenant", "create", "Fabrikam", "--domain", "fabrikam.example"))
    app_id = register(cli, contoso)["appId"]
    result = cli("sp", "create", app_id, "--tenant", "fabrikam.example")
    assert_one_error_line(result, f"error: The application '{app_id}' is single-tenant")


# --- grants --------------------------------------------------------------------------------------

def test_grant_add_list_remove(cli: Run, contoso: str) -> None:
    ok(cli("user", "create", "megan@contoso.example", "-t", contoso, input="pw-Megan-1\n"))
    app_id = register(cli, contoso)["appId"]
    everyone = as_json(cli("grant", "add", "--tenant", contoso, "--client", app_id, "--resource",
                           "https://graph.microsoft.com", "--scope", "user.read openid", "--json"))
    megan = as_json(cli("grant", "add", "--tenant", contoso, "--client", app_id, "--resource",
                        MICROSOFT_GRAPH, "--scope", "Mail.Read", "--user", "megan@contoso.example", "--json"))
    listed = as_json(cli("grant", "list", "--tenant", contoso, "--client", app_id, "--json"))
    table = ok(cli("grant", "list", "--tenant", contoso)).stdout
    assert (everyone["consentType"], everyone["principalId"], everyone["scope"]) == (
        "AllPrincipals", None, "User.Read openid")
    assert megan["consentType"] == "Principal" and megan["principalId"]
    assert {g["id"] for g in listed} == {everyone["id"], megan["id"]}
    assert "megan@contoso.example" in table and "all users" in table and "Microsoft Graph" in table

    ok(cli("grant", "remove", everyone["id"], "--tenant", contoso))
    remaining = as_json(cli("grant", "list", "--tenant", contoso, "--client", app_id, "--json"))
    again = cli("grant", "remove", everyone["id"], "--tenant", contoso)
    assert [g["id"] for g in remaining] == [megan["id"]]
    assert_one_error_line(again, f"error: No grant '{everyone['id']}' in tenant")


def test_grant_of_an_unpublished_permission_is_refused(cli: Run, contoso: str) -> None:
    app_id = register(cli, contoso)["appId"]
    result = cli("grant", "add", "-t", contoso, "--client", app_id, "--resource", MICROSOFT_GRAPH,
                 "--scope", "Nonsense.All")
    assert_one_error_line(result, "error: The resource 'Microsoft Graph' publishes no delegated permission")


def test_grant_for_a_client_without_service_principal_says_how_to_make_one(cli: Run, contoso: str) -> None:
    result = cli("grant", "add", "-t", contoso, "--client", APPLE_INTERNET_ACCOUNTS,
                 "--resource", MICROSOFT_GRAPH, "--scope", "User.Read")
    assert_one_error_line(result, f"error: No service principal for '{APPLE_INTERNET_ACCOUNTS}'")
    assert "consentry sp create" in result.stderr


# --- keys and database ---------------------------------------------------------------------------

def test_db_upgrade_is_idempotent(cli: Run) -> None:
    first = ok(cli("db", "upgrade"))
    second = as_json(cli("db", "upgrade", "--json"))
    assert "up to date" in first.stdout
    assert second["upToDate"] is True


def test_keys_rotate_prints_the_new_kid_which_jwks_publishes(cli: Run, data_dir: Path) -> None:
    first = as_json(cli("keys", "rotate", "--json"))["kid"]
    second = ok(cli("keys", "rotate")).stdout
    built = runtime.build(Settings(data_dir=data_dir))
    try:
        published = [key["kid"] for key in built.keyring.jwks(datetime.now(UTC))["keys"]]
    finally:
        built.close()
    assert first and first not in second and second.startswith("New signing key ")
    assert first in published and second.split()[3].rstrip(";") in published


# --- the demo ------------------------------------------------------------------------------------

@pytest.fixture
def fresh(data_dir: Path) -> Iterator[runtime.Runtime]:
    built = runtime.build(Settings(data_dir=data_dir))
    runtime.prepare(built)
    yield built
    built.close()


def demo_state(rt: runtime.Runtime) -> tuple[list[Any], ...]:
    return (directory.list_tenants(rt.ctx), directory.list_users(rt.ctx, CONTOSO_TENANT_ID),
            apps.list_applications(rt.ctx, APPLE_TENANT_ID), grants.list_grants(rt.ctx, CONTOSO_TENANT_ID),
            apps.list_service_principals(rt.ctx, CONTOSO_TENANT_ID))


def test_seed_demo_is_idempotent(fresh: runtime.Runtime) -> None:
    first = seed_demo(fresh.ctx)
    snapshot = demo_state(fresh)
    second = seed_demo(fresh.ctx)
    again = demo_state(fresh)
    assert first.created and second.created == ()
    assert again == snapshot
    assert [(t.id, t.display_name, t.domains) for t in snapshot[0]] == [
        (CONTOSO_TENANT_ID, "Contoso", ("contoso.example",)), (APPLE_TENANT_ID, "Apple", ("apple.example",))]
    assert sorted(u.user_principal_name for u in snapshot[1]) == [
        "adele@contoso.example", "admin@contoso.example", "alex@contoso.example"]
    assert (first.contoso_tenant_id, first.apple_tenant_id) == (CONTOSO_TENANT_ID, APPLE_TENANT_ID)
    assert (second.contoso_tenant_id, second.apple_tenant_id) == (CONTOSO_TENANT_ID, APPLE_TENANT_ID)


def test_demo_users_sign_in_with_the_demo_password_and_have_their_roles(fresh: runtime.Runtime) -> None:
    seed_demo(fresh.ctx)
    with fresh.ctx.uow.read() as tx:
        scope = tx.tenant(CONTOSO_TENANT_ID)
        roles = {u.user_principal_name: directory.role_template_ids_of(scope, u.id)
                 for u in scope.directory.list_users()}
    users = directory.list_users(fresh.ctx, CONTOSO_TENANT_ID)
    assert all(fresh.ctx.passwords.verify(u.password_hash, DEMO_PASSWORD) for u in users)
    assert roles == {"admin@contoso.example": {"62e90394-69f5-4237-9190-012177145e10"},
                     "alex@contoso.example": {"158c047a-c907-4556-b7ef-446551a6b5f7"},
                     "adele@contoso.example": set()}


def test_demo_contoso_trusts_graph_cli_but_not_apple_internet_accounts(fresh: runtime.Runtime) -> None:
    seed_demo(fresh.ctx)
    service_principals = apps.list_service_principals(fresh.ctx, CONTOSO_TENANT_ID)
    by_app = {sp.app_id: sp for sp in service_principals}
    contoso_grants = grants.list_grants(fresh.ctx, CONTOSO_TENANT_ID)
    assert APPLE_INTERNET_ACCOUNTS not in by_app
    assert [g.client_id for g in contoso_grants] == [by_app[GRAPH_COMMAND_LINE_TOOLS].id]
    cli_grant = contoso_grants[0]
    assert (cli_grant.consent_type, cli_grant.resource_id) == ("AllPrincipals", by_app[MICROSOFT_GRAPH].id)
    assert {"User.Read", "Directory.ReadWrite.All", "Application.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All", "Policy.ReadWrite.PermissionGrant",
            "ConsentRequest.ReadWrite.All", "offline_access"} <= set(cli_grant.scopes)


def builtin_scope_values(app_id: str) -> dict[str, str]:
    builtin = find_builtin_application(app_id)
    assert builtin is not None
    return {scope.id: scope.value for scope in builtin.scopes}


def test_demo_apple_internet_accounts_is_apples_multi_tenant_public_client(fresh: runtime.Runtime) -> None:
    seed_demo(fresh.ctx)
    registration = apps.get_application(fresh.ctx, APPLE_TENANT_ID, APPLE_INTERNET_ACCOUNTS)
    graph, exo = (builtin_scope_values(MICROSOFT_GRAPH), builtin_scope_values(EXCHANGE_ONLINE))
    access = {r.resource_app_id: [(x.id, x.type) for x in r.resource_access]
              for r in registration.required_resource_access}
    assert (registration.display_name, registration.sign_in_audience) == (
        "Apple Internet Accounts", "AzureADMultipleOrgs")
    assert registration.public_client_redirect_uris == ("urn:ietf:wg:oauth:2.0:oob", "http://localhost")
    assert registration.is_public_client
    assert registration.verified_publisher["displayName"] == "Apple Inc."
    assert registration.verified_publisher["verifiedPublisherId"]
    assert [exo[i] for i, _ in access[EXCHANGE_ONLINE]] == ["EAS.AccessAsUser.All", "EWS.AccessAsUser.All"]
    assert [graph[i] for i, _ in access[MICROSOFT_GRAPH]] == [
        "openid", "profile", "offline_access", "User.Read", "Calendars.ReadWrite", "Contacts.ReadWrite"]
    assert {t for pairs in access.values() for _, t in pairs} == {"Scope"}


# --- serve and local TLS -------------------------------------------------------------------------

@pytest.fixture
def restored_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_serve_prepares_seeds_and_hands_over_to_uvicorn(
        cli: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch, restored_environment: None) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any], Settings]] = []
    # Settings() read when uvicorn starts is what each worker process reads from its environment.
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw, Settings())))
    out = ok(cli("serve", "--demo", "--port", "9443", "--workers", "2")).stdout
    (args, kwargs, exported), = calls
    tls_dir = data_dir.resolve() / "tls"
    assert args == ("consentry.web.asgi:create_app_from_environment",)
    assert kwargs["factory"] is True and kwargs["workers"] == 2 and kwargs["port"] == 9443
    assert (kwargs["loop"], kwargs["http"], kwargs["proxy_headers"]) == ("uvloop", "httptools", False)
    assert kwargs["ssl_certfile"] == str(tls_dir / "server.pem")
    assert kwargs["ssl_keyfile"] == str(tls_dir / "server-key.pem")
    assert "https://localhost:9443" in out
    assert f"https://localhost:9443/{CONTOSO_TENANT_ID}/v2.0/.well-known/openid-configuration" in out
    assert "admin@contoso.example" in out and DEMO_PASSWORD in out
    assert f"REQUESTS_CA_BUNDLE={tls_dir / 'ca.pem'}" in out
    assert f"SSL_CERT_FILE={tls_dir / 'ca.pem'}" in out and f"NODE_EXTRA_CA_CERTS={tls_dir / 'ca.pem'}" in out
    assert (exported.data_dir, exported.port, exported.workers) == (data_dir.resolve(), 9443, 2)
    assert exported.database_url == Settings(data_dir=data_dir).database_url


def test_serve_http_behind_a_proxy_makes_no_certificate(
        cli: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch, restored_environment: None) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    out = ok(cli("serve", "--http", "--public-url", "https://id.example.com/")).stdout
    assert calls[0]["ssl_certfile"] is None and calls[0]["proxy_headers"] is True
    assert "https://id.example.com" in out and "REQUESTS_CA_BUNDLE" not in out
    assert not (data_dir / "tls").exists()


def test_serve_wants_both_certificate_and_key(cli: Run, tmp_path: Path, restored_environment: None) -> None:
    self_signed_certificate(tmp_path / "cert.pem")
    result = cli("serve", "--tls-cert", str(tmp_path / "cert.pem"))
    assert_one_error_line(result, "error: --tls-cert and --tls-key go together.")


def test_local_tls_is_created_private_and_reused(tmp_path: Path) -> None:
    first = tls.ensure_local_tls(tmp_path)
    pems = {p: p.read_bytes() for p in (first.ca_path, first.cert_path, first.key_path)}
    second = tls.ensure_local_tls(tmp_path)
    assert set(first.created) == {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
    assert second.created == () and all(p.read_bytes() == data for p, data in pems.items())
    for private in (first.key_path, tmp_path / "tls" / "ca-key.pem"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_local_tls_renews_the_server_certificate_with_the_same_ca(tmp_path: Path) -> None:
    first = tls.ensure_local_tls(tmp_path)
    ca = first.ca_path.read_bytes()
    expiry = x509.load_pem_x509_certificate(first.cert_path.read_bytes()).not_valid_after_utc
    renewed = tls.ensure_local_tls(tmp_path, now=expiry - timedelta(days=3))
    assert set(renewed.created) == {"server.pem", "server-key.pem"}
    assert first.ca_path.read_bytes() == ca


def test_local_tls_certificate_verifies_for_localhost_and_loopback_ips(tmp_path: Path) -> None:
    local = tls.ensure_local_tls(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(local.cert_path, local.key_path)
    listener = create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept(count: int) -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=accept, args=(2,), daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(local.ca_path))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    for name in ("localhost", "127.0.0.1"):
        with create_connection(("127.0.0.1", port)) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=name) as tls_conn:
            tls_conn.sendall(b"x")
    thread.join(5)
    listener.close()
    lines = tls.trust_lines(local.ca_path)
    names = ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"]
    assert [line.split("=")[0] for line in lines] == names

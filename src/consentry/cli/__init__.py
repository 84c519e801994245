"""The ``consentry`` command line: serve the identity provider and administer its directory.

Each command parses its flags, builds the runtime (settings from ``CONSENTRY_*`` with the flags on top),
calls services and renders the result as a table or, with ``--json``, as JSON with Microsoft Graph's
field names. A failure is one line on standard error, ``error: AADSTSnnnnn: message`` or
``error: message``, and a non-zero exit; never a traceback (set ``CONSENTRY_DEBUG=1`` to get one).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer

from consentry import runtime, tls
from consentry.cli import consent, jobs, requests
from consentry.cli._common import (
    AsJson,
    DataDir,
    Db,
    TenantRef,
    build_settings,
    command,
    iso,
    not_found_means,
    open_runtime,
    print_json,
    print_table,
    reports_errors,
    resolve_tenant_id,
)
from consentry.config import Settings
from consentry.domain.apps import Application, KeyCredential, PasswordCredential, ServicePrincipal
from consentry.domain.directory import ROLE_TEMPLATES, Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS, PRINCIPAL, OAuth2PermissionGrant
from consentry.domain.ids import new_guid
from consentry.errors import INVALID_VALUE, ConsentryError
from consentry.services import app_credentials, directory
from consentry.services import apps as app_service
from consentry.services import grants as grant_service
from consentry.services import keys as key_service
from consentry.services.context import CLI, ServiceContext
from consentry.services.demo import DemoSummary, seed_demo

app = typer.Typer(name="consentry", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Consentry: an OAuth 2.0 / OpenID Connect identity provider with Entra-style consent.")
tenant_cli = typer.Typer(no_args_is_help=True, help="Tenants (directories).")
user_cli = typer.Typer(no_args_is_help=True, help="Users.")
role_cli = typer.Typer(no_args_is_help=True, help="Directory roles.")
apps_cli = typer.Typer(no_args_is_help=True, help="Application registrations.")
secret_cli = typer.Typer(no_args_is_help=True, help="Client secrets of an application.")
cert_cli = typer.Typer(no_args_is_help=True, help="Certificate credentials of an application.")
sp_cli = typer.Typer(no_args_is_help=True, help="Service principals (enterprise applications).")
grant_cli = typer.Typer(no_args_is_help=True, help="Delegated permission grants (oauth2PermissionGrants).")
keys_cli = typer.Typer(no_args_is_help=True, help="Token-signing keys.")
db_cli = typer.Typer(no_args_is_help=True, help="The database.")
for _group, _name in ((tenant_cli, "tenant"), (user_cli, "user"), (role_cli, "role"), (apps_cli, "app"),
                      (sp_cli, "sp"), (grant_cli, "grant"), (keys_cli, "keys"), (db_cli, "db")):
    app.add_typer(_group, name=_name)
apps_cli.add_typer(secret_cli, name="secret")
apps_cli.add_typer(cert_cli, name="cert")
app.add_typer(consent.consent_cli, name="consent")
app.add_typer(jobs.jobs_cli, name="jobs")
app.add_typer(requests.requests_cli, name="requests")

Audience = Annotated[str, typer.Option("--audience", help="AzureADMyOrg or AzureADMultipleOrgs.")]
WebRedirects = Annotated[list[str] | None, typer.Option(
    "--web-redirect", help="Web redirect URI (repeatable).")]
PublicRedirects = Annotated[list[str] | None, typer.Option(
    "--public-redirect", help="Public client (mobile and desktop) redirect URI (repeatable).")]
PublicClient = Annotated[bool, typer.Option("--public-client", help="Allow public client flows "
                                                                    "(isFallbackPublicClient).")]
RESOURCE_HELP = "Resource appId, service principal id or URI (https://graph.microsoft.com)."
USER_GRANT_HELP = "Consent for this user only (Principal); without it, for all users (AllPrincipals)."
HOST_HELP = "Address to listen on [default: 127.0.0.1]"
DEMO_HELP = "Seed the demo tenants, users and apps when absent."
HTTP_HELP = "Serve plain HTTP behind a TLS-terminating proxy (trusts X-Forwarded-* from FORWARDED_ALLOW_IPS)."
PUBLIC_URL_HELP = "Issuer base URL as clients see it, e.g. https://id.example.com"
SMTP_HELP = "smtp://user:password@host:port for notification mail."
WORKERS_HELP = "Worker processes [default: 1]"
DISCOVERY = "v2.0/.well-known/openid-configuration"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def main() -> None:
    app(prog_name="consentry")


def _resolve_service_principal(ctx: ServiceContext, tenant_id: str, identifier: str,
                               tenant: str) -> ServicePrincipal:
    """A service principal by object id, appId or identifier URI (``https://graph.microsoft.com``)."""
    for sp in app_service.list_service_principals(ctx, tenant_id):
        if sp.id == identifier.lower() or sp.matches_resource(identifier):
            return sp
    raise ConsentryError(INVALID_VALUE, reason=(
        f"No service principal for '{identifier}' in tenant '{tenant}'. "
        f"Create one with: consentry sp create APPID --tenant {tenant}"))


def _resolve_user_id(ctx: ServiceContext, tenant_id: str, upn: str, tenant: str) -> str:
    with ctx.uow.read() as tx, not_found_means(f"No user '{upn}' in tenant '{tenant}'."):
        return directory.get_user(tx.tenant(tenant_id), upn).id


def _tenant_json(t: Tenant) -> dict[str, Any]:
    return {"id": t.id, "displayName": t.display_name, "domains": list(t.domains),
            "createdDateTime": iso(t.created_at)}


def _user_json(u: User, roles: Sequence[str] = ()) -> dict[str, Any]:
    return {"id": u.id, "userPrincipalName": u.user_principal_name, "displayName": u.display_name,
            "mail": u.mail, "accountEnabled": u.account_enabled, "createdDateTime": iso(u.created_at),
            "roles": list(roles)}


def _secret_json(c: PasswordCredential) -> dict[str, Any]:
    return {"keyId": c.key_id, "displayName": c.display_name, "hint": c.hint, "startDateTime": iso(c.start),
            "endDateTime": iso(c.end)}


def _cert_json(c: KeyCredential) -> dict[str, Any]:
    return {"keyId": c.key_id, "displayName": c.display_name, "type": c.type, "usage": c.usage,
            "customKeyIdentifier": c.thumbprint_sha1, "thumbprintSha256": c.thumbprint_sha256,
            "startDateTime": iso(c.start), "endDateTime": iso(c.end)}


def _app_json(a: Application) -> dict[str, Any]:
    return {
        "id": a.id, "appId": a.app_id, "displayName": a.display_name, "signInAudience": a.sign_in_audience,
        "web": {"redirectUris": list(a.web_redirect_uris)},
        "spa": {"redirectUris": list(a.spa_redirect_uris)},
        "publicClient": {"redirectUris": list(a.public_client_redirect_uris)},
        "isFallbackPublicClient": a.is_fallback_public_client, "identifierUris": list(a.identifier_uris),
        "requiredResourceAccess": [
            {"resourceAppId": r.resource_app_id,
             "resourceAccess": [{"id": x.id, "type": x.type} for x in r.resource_access]}
            for r in a.required_resource_access],
        "passwordCredentials": [_secret_json(c) for c in a.password_credentials],
        "keyCredentials": [_cert_json(c) for c in a.key_credentials],
        "verifiedPublisher": dict(a.verified_publisher), "createdDateTime": iso(a.created_at)}


def _sp_json(s: ServicePrincipal) -> dict[str, Any]:
    return {"id": s.id, "appId": s.app_id, "displayName": s.display_name,
            "appOwnerOrganizationId": s.app_owner_organization_id, "accountEnabled": s.account_enabled,
            "appRoleAssignmentRequired": s.app_role_assignment_required, "signInAudience": s.sign_in_audience,
            "servicePrincipalNames": list(s.service_principal_names), "tags": list(s.tags)}


def _grant_json(g: OAuth2PermissionGrant) -> dict[str, Any]:
    return {"id": g.id, "clientId": g.client_id, "consentType": g.consent_type, "principalId": g.principal_id,
            "resourceId": g.resource_id, "scope": g.scope}


# --- tenant, user, role --------------------------------------------------------------------------

@command(tenant_cli, "create")
def tenant_create(name: Annotated[str, typer.Argument(help="Display name.")],
                  domain: Annotated[list[str], typer.Option("--domain", help="Verified domain (repeatable)")],
                  db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Create a tenant with its verified domains and Microsoft's built-in service principals."""
    with open_runtime(db, data_dir) as rt:
        tenant = directory.create_tenant(rt.ctx, name, domain, CLI)
    if as_json:
        print_json(_tenant_json(tenant))
    else:
        typer.echo(f"Created tenant {tenant.display_name} {tenant.id} ({', '.join(tenant.domains)}).")


@command(tenant_cli, "list")
def tenant_list(db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List tenants."""
    with open_runtime(db, data_dir) as rt:
        tenants = directory.list_tenants(rt.ctx)
    if as_json:
        print_json([_tenant_json(t) for t in tenants])
    else:
        print_table(("ID", "NAME", "DOMAINS"),
                     [(t.id, t.display_name, " ".join(t.domains)) for t in tenants])


def _read_password() -> str:
    if sys.stdin is not None and not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise ConsentryError(INVALID_VALUE, reason="The password is empty.")
    return password


@command(user_cli, "create")
def user_create(upn: Annotated[str, typer.Argument(help="userPrincipalName in one of the tenant's domains.")],
                tenant: TenantRef,
                name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
                db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Create a user; the password is read from standard input when piped, else prompted for."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        password = _read_password()
        user = directory.create_user(rt.ctx, tenant_id, upn, name or upn.split("@")[0], password, CLI)
    if as_json:
        print_json(_user_json(user))
    else:
        typer.echo(f"Created user {user.user_principal_name} {user.id}.")


@command(user_cli, "list")
def user_list(tenant: TenantRef, db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List a tenant's users and their directory roles."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        users = directory.list_users(rt.ctx, tenant_id)
        with rt.ctx.uow.read() as tx:
            scope = tx.tenant(tenant_id)
            roles = {u.id: sorted(ROLE_TEMPLATES[r].display_name
                                  for r in directory.role_template_ids_of(scope, u.id) if r in ROLE_TEMPLATES)
                     for u in users}
    if as_json:
        print_json([_user_json(u, roles[u.id]) for u in users])
    else:
        print_table(("ID", "USER PRINCIPAL NAME", "NAME", "ENABLED", "ROLES"),
                     [(u.id, u.user_principal_name, u.display_name, "yes" if u.account_enabled else "no",
                       ", ".join(roles[u.id])) for u in users])


@command(role_cli, "assign")
def role_assign(tenant: TenantRef,
                user: Annotated[str, typer.Option("--user", help="userPrincipalName or object id.")],
                role: Annotated[str, typer.Option("--role", help='Role name or template id, e.g. '
                                                                 '"Global Administrator".')],
                db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Give a user a directory role (a no-op when the user already has it)."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        with not_found_means(f"No user '{user}' in tenant '{tenant}'."):
            assignment = directory.assign_role(rt.ctx, tenant_id, user, role, CLI)
    template = ROLE_TEMPLATES[assignment.role_template_id]
    if as_json:
        print_json({"id": assignment.id, "principalId": assignment.principal_id,
                     "roleTemplateId": template.id, "roleDisplayName": template.display_name})
    else:
        typer.echo(f"{user} has the role {template.display_name}.")


# --- applications and service principals ---------------------------------------------------------

@command(apps_cli, "register")
def app_register(
        name: Annotated[str, typer.Argument(help="Display name.")], tenant: TenantRef,
        audience: Audience = "AzureADMyOrg", web_redirect: WebRedirects = None,
        public_redirect: PublicRedirects = None, public_client: PublicClient = False,
        db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Register an application in its home tenant (with its service principal there)."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        registration = Application(
            id=new_guid(), app_id=new_guid(), tenant_id=tenant_id, display_name=name.strip(),
            sign_in_audience=audience, web_redirect_uris=tuple(web_redirect or ()),
            public_client_redirect_uris=tuple(public_redirect or ()), is_fallback_public_client=public_client)
        if not registration.display_name:
            raise ConsentryError(INVALID_VALUE, reason="An application needs a display name.")
        registered = app_service.register_application(rt.ctx, tenant_id, registration, CLI)
    if as_json:
        print_json(_app_json(registered))
    else:
        typer.echo(f"Registered {registered.display_name}: appId {registered.app_id} "
                   f"(object id {registered.id}).")


@command(apps_cli, "list")
def app_list(tenant: TenantRef, db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List the applications registered in a tenant (never their secrets)."""
    with open_runtime(db, data_dir) as rt:
        registrations = app_service.list_applications(rt.ctx, resolve_tenant_id(rt.ctx, tenant))
    if as_json:
        print_json([_app_json(a) for a in registrations])
    else:
        print_table(("APP ID", "NAME", "AUDIENCE", "REDIRECT URIS", "CREDENTIALS"),
                     [(a.app_id, a.display_name, a.sign_in_audience, " ".join(a.redirect_uris),
                       f"{len(a.password_credentials)} secret(s), {len(a.key_credentials)} cert(s)")
                      for a in registrations])


AppRef = Annotated[str, typer.Argument(metavar="APP", help="appId or object id of the application.")]
command(apps_cli, "consent-url")(consent.app_consent_url)


@command(secret_cli, "add")
def app_secret_add(application: AppRef, tenant: TenantRef,
                   name: Annotated[str | None, typer.Option("--name", help="Description.")] = None,
                   db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Add a client secret. Its value is printed this once and cannot be shown again."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        with not_found_means(f"No application '{application}' in tenant '{tenant}'."):
            registration = app_service.get_application(rt.ctx, tenant_id, application)
        credential, secret = app_credentials.add_password(rt.ctx, tenant_id, registration.id, CLI, name)
    if as_json:
        print_json({**_secret_json(credential), "secretText": secret})
    else:
        typer.echo(f"Added client secret {credential.key_id} to {registration.display_name} "
                   f"(appId {registration.app_id}), valid until {iso(credential.end)}.")
        typer.echo("Copy the value now; it is not stored and cannot be shown again:")
        typer.echo(secret)


@command(cert_cli, "add")
def app_cert_add(application: AppRef, tenant: TenantRef,
                 file: Annotated[Path, typer.Option("--file", exists=True, dir_okay=False, readable=True,
                                                    help="Public certificate: PEM, DER or base64 DER.")],
                 name: Annotated[str | None, typer.Option("--name", help="Description.")] = None,
                 db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Add a certificate credential (the public certificate only)."""
    data = file.read_bytes()
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        with not_found_means(f"No application '{application}' in tenant '{tenant}'."):
            registration = app_service.get_application(rt.ctx, tenant_id, application)
        credential = app_credentials.add_certificate(rt.ctx, tenant_id, registration.id, data, CLI, name)
    if as_json:
        print_json(_cert_json(credential))
    else:
        typer.echo(f"Added certificate {credential.key_id} to {registration.display_name}: SHA-1 "
                   f"{credential.thumbprint_sha1}, valid until {iso(credential.end)}.")


@command(sp_cli, "create")
def sp_create(app_id: Annotated[str, typer.Argument(metavar="APPID", help="The application's appId.")],
              tenant: TenantRef, db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Create the service principal of an application (its own or a multi-tenant one) in a tenant."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        sp = app_service.create_service_principal(rt.ctx, tenant_id, app_id.strip(), CLI)
    if as_json:
        print_json(_sp_json(sp))
    else:
        typer.echo(f"Created service principal {sp.id} for {sp.display_name} (appId {sp.app_id}).")


@command(sp_cli, "list")
def sp_list(tenant: TenantRef, db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List a tenant's service principals."""
    with open_runtime(db, data_dir) as rt:
        sps = app_service.list_service_principals(rt.ctx, resolve_tenant_id(rt.ctx, tenant))
    if as_json:
        print_json([_sp_json(s) for s in sps])
    else:
        print_table(("ID", "APP ID", "NAME", "ENABLED"),
                     [(s.id, s.app_id, s.display_name, "yes" if s.account_enabled else "no") for s in sps])


# --- grants --------------------------------------------------------------------------------------

@command(grant_cli, "add")
def grant_add(tenant: TenantRef,
              client: Annotated[str, typer.Option("--client", help="Client appId or service principal id.")],
              resource: Annotated[str, typer.Option("--resource", help=RESOURCE_HELP)],
              scope: Annotated[str, typer.Option("--scope", help='Permissions, e.g. "User.Read Mail.Read".')],
              user: Annotated[str | None, typer.Option("--user", help=USER_GRANT_HELP)] = None,
              db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Grant a client delegated permissions on a resource, for everyone (AllPrincipals) or one user."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        client_sp = _resolve_service_principal(rt.ctx, tenant_id, client, tenant)
        resource_sp = _resolve_service_principal(rt.ctx, tenant_id, resource, tenant)
        principal = _resolve_user_id(rt.ctx, tenant_id, user, tenant) if user else None
        grant = grant_service.add_grant(rt.ctx, tenant_id, client_sp.id, resource_sp.id,
                                        PRINCIPAL if principal else ALL_PRINCIPALS, scope, CLI, principal)
    if as_json:
        print_json(_grant_json(grant))
    else:
        who = f"for {user}" if user else "for all users"
        typer.echo(f"Granted {client_sp.display_name} '{grant.scope}' on {resource_sp.display_name} {who} "
                   f"(grant {grant.id}).")


@command(grant_cli, "list")
def grant_list(tenant: TenantRef,
               client: Annotated[str | None, typer.Option("--client", help="Only this client (appId or "
                                                                           "service principal id).")] = None,
               db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List delegated permission grants."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        client_id = _resolve_service_principal(rt.ctx, tenant_id, client, tenant).id if client else None
        found = grant_service.list_grants(rt.ctx, tenant_id, client_id)
        names = {s.id: s.display_name for s in app_service.list_service_principals(rt.ctx, tenant_id)}
        upns = {u.id: u.user_principal_name for u in directory.list_users(rt.ctx, tenant_id)}
    if as_json:
        print_json([_grant_json(g) for g in found])
    else:
        print_table(("ID", "CLIENT", "RESOURCE", "FOR", "SCOPE"),
                     [(g.id, names.get(g.client_id, g.client_id), names.get(g.resource_id, g.resource_id),
                       upns.get(g.principal_id, g.principal_id) if g.principal_id else "all users", g.scope)
                      for g in found])


@command(grant_cli, "remove")
def grant_remove(grant_id: Annotated[str, typer.Argument(metavar="ID", help="The grant's id.")],
                 tenant: TenantRef, db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Remove a delegated permission grant."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        with not_found_means(f"No grant '{grant_id}' in tenant '{tenant}'."):
            grant_service.remove_grant(rt.ctx, tenant_id, grant_id, CLI)
    if as_json:
        print_json({"id": grant_id, "removed": True})
    else:
        typer.echo(f"Removed grant {grant_id}.")


# --- keys, database ------------------------------------------------------------------------------

@command(keys_cli, "rotate")
def keys_rotate(db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Add a signing key: published before it signs; the old key stays until its tokens expire."""
    with open_runtime(db, data_dir) as rt:
        kid = key_service.rotate_signing_key(rt.ctx, rt.kek)
        delay = rt.settings.key_publish_delay
    if as_json:
        print_json({"kid": kid, "publishDelaySeconds": delay})
    else:
        typer.echo(f"New signing key {kid}; it signs {f'in {delay} s' if delay else 'from now'}.")


def redact_url(url: str) -> str:
    """A database URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@command(db_cli, "upgrade")
def db_upgrade(db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Apply pending database migrations (safe to run again, and from several hosts at once)."""
    with open_runtime(db, data_dir) as rt:
        url = redact_url(rt.settings.database_url)
    if as_json:
        print_json({"database": url, "upToDate": True})
    else:
        typer.echo(f"The database schema is up to date ({url}).")


# --- serve ---------------------------------------------------------------------------------------

def export_settings(settings: Settings) -> None:
    """Put the effective settings in ``CONSENTRY_*`` so that uvicorn's worker processes read the same."""
    for name, value in settings.model_dump().items():
        key = f"CONSENTRY_{name.upper()}"
        if value is None:
            os.environ.pop(key, None)
        elif isinstance(value, bool):
            os.environ[key] = "true" if value else "false"
        elif isinstance(value, Path):
            os.environ[key] = str(value.resolve())
        else:
            os.environ[key] = str(value)


def _serving_banner(settings: Settings, tenants: list[Tenant], demo: DemoSummary | None,
                    local_tls: tls.LocalTLS | None) -> list[str]:
    base = settings.base_url
    lines = [f"Consentry is serving {base}  (workers: {settings.workers}; "
             f"database: {redact_url(settings.database_url)})", ""]
    if tenants:
        lines.append("OpenID Connect discovery:")
        width = max(len(t.display_name) for t in tenants[:10])
        for t in tenants[:10]:
            lines.append(f"  {t.display_name:<{width}}  {base}/{t.id}/{DISCOVERY}")
            if t.domains:
                lines.append(f"  {'':<{width}}  {base}/{t.default_domain}/{DISCOVERY}")
        if len(tenants) > 10:
            lines.append(f"  … and {len(tenants) - 10} more (consentry tenant list)")
    else:
        lines.append("No tenants yet: create one with `consentry tenant create NAME --domain DOMAIN`, "
                     "or start with --demo.")
    if demo is not None:
        width = max(len(s.upn) for s in demo.sign_ins)
        lines += ["", "Demo sign-ins (password for demo use only):"]
        lines += [f"  {s.upn:<{width}}  {s.password}  {s.role or 'no role'}" for s in demo.sign_ins]
        lines.append(f"  Apple Internet Accounts: appId {demo.apple_app_id} "
                     "(Contoso has not consented to it)")
    if local_tls is not None:
        lines += ["", f"HTTPS uses a local CA: {local_tls.ca_path}", "Make client processes trust it with:"]
        lines += [f"  {line}" for line in tls.trust_lines(local_tls.ca_path)]
        if settings.host not in LOOPBACK_HOSTS:
            lines.append("  (its certificate names only localhost, 127.0.0.1 and ::1; for other names "
                         "use --tls-cert/--tls-key)")
    return lines


@app.command("serve")
@reports_errors
def serve(host: Annotated[str | None, typer.Option("--host", help=HOST_HELP)] = None,
          port: Annotated[int | None, typer.Option("--port", help="Port [default: 8443]")] = None,
          data_dir: DataDir = None, db: Db = None,
          demo: Annotated[bool, typer.Option("--demo", help=DEMO_HELP)] = False,
          tls_cert: Annotated[Path | None, typer.Option("--tls-cert", exists=True, dir_okay=False,
                                                        help="Server certificate chain (PEM).")] = None,
          tls_key: Annotated[Path | None, typer.Option("--tls-key", exists=True, dir_okay=False,
                                                       help="Server private key (PEM).")] = None,
          http: Annotated[bool, typer.Option("--http", help=HTTP_HELP)] = False,
          public_url: Annotated[str | None, typer.Option("--public-url", help=PUBLIC_URL_HELP)] = None,
          smtp_url: Annotated[str | None, typer.Option("--smtp-url", help=SMTP_HELP)] = None,
          workers: Annotated[int | None, typer.Option("--workers", min=1, help=WORKERS_HELP)] = None) -> None:
    """Serve the identity provider.

    HTTPS by default, with a local CA created on first start unless --tls-cert/--tls-key are given;
    --http for running behind a TLS-terminating proxy.
    """
    settings = build_settings(host=host, port=port, data_dir=data_dir, db=db, demo=demo, tls_cert=tls_cert,
                              tls_key=tls_key, http=http, public_url=public_url, smtp_url=smtp_url,
                              workers=workers)
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConsentryError(INVALID_VALUE, reason="--tls-cert and --tls-key go together.")
    if settings.http and settings.tls_cert:
        raise ConsentryError(INVALID_VALUE, reason="--http serves plain HTTP and cannot use --tls-cert.")
    rt = runtime.build(settings)
    try:
        runtime.prepare(rt)
        summary = seed_demo(rt.ctx) if settings.demo else None
        tenants = directory.list_tenants(rt.ctx)
    finally:
        rt.close()  # the workers open their own connections
    local_tls = None
    cert, key = settings.tls_cert, settings.tls_key
    if not settings.http and cert is None:
        local_tls = tls.ensure_local_tls(settings.data_dir)
        cert, key = local_tls.cert_path, local_tls.key_path
        settings = settings.model_copy(update={"tls_cert": cert, "tls_key": key})
    export_settings(settings)
    _share_metrics_between_workers(settings)
    for line in _serving_banner(settings, tenants, summary, local_tls):
        typer.echo(line)
    _run_uvicorn(settings, cert, key)


def _share_metrics_between_workers(settings: Settings) -> None:
    """With several workers, each writes its Prometheus samples to a directory that /metrics aggregates."""
    if settings.workers <= 1:
        return
    directory_ = Path(settings.data_dir) / "metrics"
    shutil.rmtree(directory_, ignore_errors=True)
    directory_.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory_)


def _run_uvicorn(settings: Settings, cert: Path | None, key: Path | None) -> None:
    import uvicorn  # imported here: the administrative commands do not need it

    uvicorn.run("consentry.web.asgi:create_app_from_environment", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, loop="uvloop", http="httptools",
                ssl_certfile=str(cert) if cert else None, ssl_keyfile=str(key) if key else None,
                proxy_headers=settings.http, server_header=False, log_level=settings.log_level.lower(),
                access_log=False)

"""``consentry consent settings show|set`` (a tenant's user consent settings, spec §6.1 and §6.5) and
``consentry app consent-url`` (the admin consent link for an application, spec §3.4)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from consentry.cli._common import (
    AsJson,
    DataDir,
    Db,
    TenantRef,
    build_settings,
    command,
    open_runtime,
    print_json,
    resolve_tenant_id,
)
from consentry.domain.ids import is_guid
from consentry.errors import INVALID_VALUE, ConsentryError
from consentry.services import policies as policy_service
from consentry.services.context import CLI
from consentry.services.policies import ConsentSettings

consent_cli = typer.Typer(no_args_is_help=True, help="Consent governance.")
settings_cli = typer.Typer(no_args_is_help=True, help="User consent settings of a tenant.")
consent_cli.add_typer(settings_cli, name="settings")

# The portal's labels for the user consent options (spec §6.1).
OPTION_LABELS = {
    "none": "Do not allow user consent",
    "low": "Allow user consent for apps from verified publishers, for selected permissions",
    "legacy": "Allow user consent for apps",
    "recommended": "Let Microsoft manage your consent settings",
    "custom": "Custom app consent policies",
}
USER_CONSENT_HELP = "none, low, legacy or recommended (the portal's options); with --policy only: custom."
POLICY_HELP = "A permission grant policy users may consent under (repeatable): a custom policy's id."
RISKY_HELP = "Risk-based step-up consent: block (the default) or allow user consent to risky apps."


def _settings_json(tenant_id: str, settings: ConsentSettings) -> dict[str, Any]:
    return {"tenantId": tenant_id, "userConsent": settings.user_consent,
            "permissionGrantPoliciesAssigned": list(settings.permission_grant_policies_assigned),
            "blockUserConsentForRiskyApps": settings.block_user_consent_for_risky_apps}


def _print_settings(tenant_id: str, settings: ConsentSettings, as_json: bool) -> None:
    if as_json:
        print_json(_settings_json(tenant_id, settings))
        return
    typer.echo(f"Tenant:                            {tenant_id}")
    typer.echo(f"User consent:                      {settings.user_consent} "
               f"({OPTION_LABELS[settings.user_consent]})")
    typer.echo("permissionGrantPoliciesAssigned:" + ("   (empty)" if not settings.permission_grant_policies_assigned
                                                    else ""))
    for entry in settings.permission_grant_policies_assigned:
        typer.echo(f"  {entry}")
    typer.echo(f"blockUserConsentForRiskyApps:      {str(settings.block_user_consent_for_risky_apps).lower()}")


@command(settings_cli, "show")
def settings_show(tenant: TenantRef, db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Show a tenant's user consent option, its permissionGrantPoliciesAssigned and the risky-app block."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        settings = policy_service.get_consent_settings(rt.ctx, tenant_id)
    _print_settings(tenant_id, settings, as_json)


@command(settings_cli, "set")
def settings_set(
        tenant: TenantRef,
        user_consent: Annotated[str | None, typer.Option("--user-consent", help=USER_CONSENT_HELP)] = None,
        policy: Annotated[list[str] | None, typer.Option("--policy", help=POLICY_HELP)] = None,
        block_risky_apps: Annotated[bool | None, typer.Option("--block-risky-apps/--allow-risky-apps",
                                                              help=RISKY_HELP, show_default=False)] = None,
        db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Change a tenant's user consent settings; entries that are not about user consent are kept."""
    policies = [p.strip() for p in policy or ()]
    if user_consent is None and not policies and block_risky_apps is None:
        raise ConsentryError(INVALID_VALUE, reason="Nothing to change: give --user-consent, --policy or "
                                                   "--block-risky-apps/--allow-risky-apps.")
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        if user_consent is not None or policies:
            settings = policy_service.set_user_consent(
                rt.ctx, tenant_id, user_consent or policy_service.CUSTOM_SETTING, CLI, policies,
                block_risky_apps=block_risky_apps)
        else:
            settings = policy_service.set_block_risky_apps(rt.ctx, tenant_id, bool(block_risky_apps), CLI)
    _print_settings(tenant_id, settings, as_json)


def _base_url(given: str | None, configured: str) -> str:
    if given is None:
        return configured.rstrip("/")
    parts = urlsplit(given.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConsentryError(INVALID_VALUE, reason=f"--base-url must be an http(s) URL such as "
                                                   f"https://id.example.com, not '{given[:100]}'.")
    return given.strip().rstrip("/")


def app_consent_url(
        app_id: Annotated[str, typer.Argument(metavar="APPID", help="The application's appId.")],
        tenant: Annotated[str | None, typer.Option("--tenant", "-t", help=(
            "Tenant id or verified domain the administrator belongs to [default: organizations]."))] = None,
        base_url: Annotated[str | None, typer.Option("--base-url", help=(
            "Consentry's public address [default: CONSENTRY_PUBLIC_URL, else the address serve listens on, "
            "https://localhost:8443]."))] = None,
        db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Print the admin consent URL of an application, and Consentry's short consent link for it."""
    app_id = app_id.strip().lower()
    if not is_guid(app_id):
        raise ConsentryError(INVALID_VALUE, reason=f"'{app_id[:100]}' is not an appId (a GUID).")
    base = _base_url(base_url, build_settings(db=db, data_dir=data_dir).base_url)
    with open_runtime(db, data_dir) as rt:
        segment = resolve_tenant_id(rt.ctx, tenant) if tenant else "organizations"
        application = policy_service.find_consent_application(rt.ctx, app_id)
        if application is None:
            raise ConsentryError(INVALID_VALUE, reason=f"No application with appId '{app_id}' exists.")
        if tenant and application.tenant_id not in (None, segment) and not application.is_multi_tenant:
            raise ConsentryError(INVALID_VALUE, reason=(
                f"{application.display_name} ({app_id}) is single-tenant: only its home tenant "
                f"{application.tenant_id} can consent to it."))
    admin_url = f"{base}/{segment}/adminconsent?client_id={app_id}"
    short_url = f"{base}/consent/{app_id}"
    if as_json:
        print_json({"appId": app_id, "displayName": application.display_name, "tenant": segment,
                    "adminConsentUrl": admin_url, "consentUrl": short_url})
    else:
        typer.echo(f"Admin consent URL for {application.display_name}:")
        typer.echo(f"  {admin_url}")
        typer.echo("Short link:")
        typer.echo(f"  {short_url}")

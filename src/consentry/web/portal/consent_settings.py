"""Enterprise applications → Consent and permissions (spec §6.1, §6.2, §6.5), labelled as in the Entra admin
center: "User consent settings" (which apps users may consent to on their own behalf, and risk-based
step-up consent) and "Permission classifications" (the delegated permissions marked low impact, which the
"verified publishers, selected permissions" option lets users consent to).

Changing the user consent setting needs Global Administrator or Privileged Role Administrator, as Graph's
``authorizationPolicy`` does; classifying needs Global, Cloud Application or Application Administrator.
Every other portal role sees both pages with their controls disabled (and a POST is refused anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.apps import PermissionScope, ServicePrincipal
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.consent_policy import SELF_PREFIX
from consentry.domain.ids import is_guid
from consentry.errors import INVALID_VALUE, ConsentryError
from consentry.services import apps, authz, classifications, policies
from consentry.services.classifications import Classification
from consentry.services.policies import ConsentSettings
from consentry.web.http import runtime_of
from consentry.web.portal.base import Admin, actor, done, form_of, page, view

CONSENT_PATH = "/portal/consent"
CLASSIFICATIONS_PATH = "/portal/consent/classifications"
PERMISSION_FIELD = "permission:"


@dataclass(frozen=True, slots=True)
class Option:
    value: str  # the services.policies name of the setting
    label: str
    description: str


# Spec §6.1, in the portal's order and with its labels.
OPTIONS = (
    Option("none", "Do not allow user consent", "An administrator will be required for all apps."),
    Option("low", "Allow user consent for apps from verified publishers, for selected permissions (Recommended)",
           'All users can consent for permissions classified as "low impact", for apps from verified publishers '
           "or apps registered in this organization."),
    Option("legacy", "Allow user consent for apps",
           "All users can consent for any app to access the organization's data, except permissions that need "
           "an administrator."),
    Option("recommended", "Let Microsoft manage your consent settings (Recommended)",
           "Users can consent to the permissions Microsoft currently considers safe, and the settings follow "
           "Microsoft's guidance as it changes."),
)
LABELS = {o.value: o.label for o in OPTIONS}

# Only "low" is supported (as in Entra, where medium and high are in preview).
LEVELS = {"low": "Low", "medium": "Medium", "high": "High"}


def _on_off(value: bool) -> str:
    return "On" if value else "Off"


def _self_entries(settings: ConsentSettings) -> list[tuple[str, str | None]]:
    """The assigned self-consent policies: (policy id, display name when the policy exists)."""
    entries = []
    for entry in settings.permission_grant_policies_assigned:
        if entry.lower().startswith(SELF_PREFIX):
            policy_id = entry[len(SELF_PREFIX):]
            found = settings.find_policies((policy_id,))
            entries.append((policy_id, found[0].display_name if found else None))
    return entries


# --- User consent settings ---------------------------------------------------------------------------
@view
async def user_consent_settings(request: Request, admin: Admin) -> Response:
    settings = await run_in_threadpool(policies.get_consent_settings, runtime_of(request).ctx, admin.tenant.id)
    return page(request, admin, "portal/consent.html", nav="consent", title="Consent and permissions",
                tab="user-consent", options=OPTIONS, current=settings.user_consent, settings=settings,
                custom_entries=_self_entries(settings), may_change=admin.may(authz.ROLE_ADMINS))


@view
async def save_user_consent_settings(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.ROLE_ADMINS)
    ctx, tenant_id, who = runtime_of(request).ctx, admin.tenant.id, actor(request, admin)
    choice = form.get("user_consent", "")
    block = form.get("block_risky_apps") == "on"
    before = await run_in_threadpool(policies.get_consent_settings, ctx, tenant_id)
    if choice in LABELS:
        after = await run_in_threadpool(partial(policies.set_user_consent, ctx, tenant_id, choice, who,
                                                block_risky_apps=block))
    elif not choice and before.user_consent == policies.CUSTOM_SETTING:
        # Customized through Graph and no option chosen: the custom policies stay, only the switch is saved.
        after = await run_in_threadpool(policies.set_block_risky_apps, ctx, tenant_id, block, who)
    else:
        raise ConsentryError(INVALID_VALUE, reason="Choose one of the options under \"User consent for "
                                                   "applications\".")
    setting = LABELS.get(after.user_consent, "customized using Microsoft Graph")
    summary = f"User consent for applications: {setting}. Block user consent for risky apps: " \
              f"{_on_off(after.block_user_consent_for_risky_apps)}."
    unchanged = (after.permission_grant_policies_assigned, after.block_user_consent_for_risky_apps) == (
        before.permission_grant_policies_assigned, before.block_user_consent_for_risky_apps)
    return done(request, CONSENT_PATH, ("Nothing to save: the settings were already as chosen. " if unchanged
                                        else "User consent settings saved. ") + summary)


# --- Permission classifications ----------------------------------------------------------------------
def _published_apis(sps: list[ServicePrincipal]) -> list[ServicePrincipal]:
    """Service principals that publish delegated permissions: Microsoft Graph first, then by name."""
    found = [sp for sp in sps if any(s.is_enabled for s in sp.scopes)]
    return sorted(found, key=lambda sp: (sp.app_id != MICROSOFT_GRAPH, sp.display_name.lower(), sp.id))


def _classifiable(sp: ServicePrincipal, classified: list[Classification]) -> list[PermissionScope]:
    """Delegated permissions users can consent to (type User) that are not classified yet (spec §6.2)."""
    taken = {c.permission_id for c in classified}
    return sorted((s for s in sp.scopes if s.type == "User" and s.is_enabled and s.id not in taken),
                  key=lambda s: s.value.lower())


@view
async def permission_classifications(request: Request, admin: Admin) -> Response:
    ctx = runtime_of(request).ctx
    level = request.query_params.get("level", "low")
    level = level if level in LEVELS else "low"
    apis = _published_apis(await run_in_threadpool(apps.list_service_principals, ctx, admin.tenant.id))
    wanted = request.query_params.get("api", "")
    api = next((sp for sp in apis if sp.id == wanted.lower()), None) if wanted else None
    error, status = None, 200
    if wanted and api is None:
        error, status = ("No API with that ID publishes delegated permissions in this organization. Choose an "
                         "API from the list."), 404
    api = api or (apis[0] if apis else None)
    classified = await run_in_threadpool(classifications.list_classifications, ctx, admin.tenant.id,
                                         api.id) if api else []
    scopes = {s.id: s for s in api.scopes} if api else {}
    rows = [(c, scopes.get(c.permission_id)) for c in sorted(classified, key=lambda c: c.permission_name.lower())]
    return page(request, admin, "portal/consent_classifications.html", status=status, nav="consent",
                title="Permission classifications", tab="classifications", level=level, levels=LEVELS, apis=apis,
                api=api, rows=rows, available=_classifiable(api, classified) if api else [], error=error,
                may_change=admin.may(authz.APP_ADMINS), permission_field=PERMISSION_FIELD)


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


@view
async def change_classifications(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.APP_ADMINS)
    api_id = form.get("api", "")
    if not is_guid(api_id):
        raise _bad("Choose the API whose permissions you want to classify.")
    ctx, tenant_id = runtime_of(request).ctx, admin.tenant.id
    api = await run_in_threadpool(partial(apps.find_service_principal, ctx, tenant_id, api_id.lower()))
    path = f"{CLASSIFICATIONS_PATH}?api={quote(api.id)}"
    action = form.get("action")
    if action == "add":
        return done(request, path, await _add(request, admin, api, form))
    if action == "remove":
        return done(request, path, await _remove(request, admin, api, form.get("classification", "")))
    raise _bad("Unknown action: add or remove permissions.")


async def _add(request: Request, admin: Admin, api: ServicePrincipal, form: dict[str, str]) -> str:
    """Classify each chosen permission (one change each, as Graph does); a partial success says what was and
    was not added."""
    ctx = runtime_of(request).ctx
    chosen = [name[len(PERMISSION_FIELD):].lower() for name, value in form.items()
              if name.startswith(PERMISSION_FIELD) and value]
    if not chosen:
        raise _bad("Select at least one permission to add.")
    by_id = {s.id: s for s in api.scopes if s.is_enabled}
    unknown = [pid for pid in chosen if pid not in by_id or by_id[pid].type != "User"]
    if unknown:
        raise _bad(f"{api.display_name} publishes no delegated permission with ID '{unknown[0][:40]}' that users "
                   "can consent to: only permissions that don't need an administrator can be classified.")
    added: list[str] = []
    refused: list[tuple[str, ConsentryError]] = []
    for pid in chosen:
        try:
            await run_in_threadpool(partial(classifications.classify_permission, ctx, admin.tenant.id, api.id,
                                            actor(request, admin), permission_id=pid, permission_name=None,
                                            classification="low"))
            added.append(by_id[pid].value)
        except ConsentryError as exc:
            refused.append((by_id[pid].value, exc))
    not_added = "; ".join(f"{name} ({exc.message})" for name, exc in refused)
    if not added:
        if len(refused) == 1:
            raise refused[0][1]
        raise _bad(f"No permission was added: {not_added}")
    message = f"Added to Low for {api.display_name}: {', '.join(added)}."
    return message + (f" Not added: {not_added}" if refused else "")


async def _remove(request: Request, admin: Admin, api: ServicePrincipal, classification_id: str) -> str:
    ctx = runtime_of(request).ctx
    if not classification_id or len(classification_id) > 64:
        raise _bad("Choose the classified permission to remove.")
    existing = await run_in_threadpool(classifications.list_classifications, ctx, admin.tenant.id, api.id)
    found = next((c for c in existing if c.id == classification_id), None)
    await run_in_threadpool(classifications.remove_classification, ctx, admin.tenant.id, api.id,
                            classification_id, actor(request, admin))
    name = found.permission_name if found else classification_id
    return f"Removed {name} from Low for {api.display_name}."


def routes() -> list[Route]:
    return [
        Route(CONSENT_PATH, user_consent_settings, methods=["GET"]),
        Route(CONSENT_PATH, save_user_consent_settings, methods=["POST"]),
        Route(CLASSIFICATIONS_PATH, permission_classifications, methods=["GET"]),
        Route(CLASSIFICATIONS_PATH, change_classifications, methods=["POST"]),
    ]

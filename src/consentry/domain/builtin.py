"""Microsoft's built-in applications (Microsoft Graph, Office 365 Exchange Online, Microsoft Graph Command
Line Tools) with their real appIds, permission ids, values, types and consent texts.

Every tenant gets a service principal for each of them, as a Microsoft Entra tenant does.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from consentry.domain.apps import Application, AppRole, PermissionScope

MICROSOFT_GRAPH = "00000003-0000-0000-c000-000000000000"
EXCHANGE_ONLINE = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_COMMAND_LINE_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def _scope(raw: dict[str, Any]) -> PermissionScope:
    return PermissionScope(
        id=raw["id"], value=raw["value"], type=raw["type"],
        admin_consent_display_name=raw.get("adminConsentDisplayName") or raw["value"],
        admin_consent_description=raw.get("adminConsentDescription") or "",
        user_consent_display_name=raw.get("userConsentDisplayName"),
        user_consent_description=raw.get("userConsentDescription"),
        is_enabled=raw.get("isEnabled", True))


def _role(raw: dict[str, Any]) -> AppRole:
    return AppRole(
        id=raw["id"], value=raw.get("value"), display_name=raw.get("displayName") or raw.get("value") or "",
        description=raw.get("description") or "",
        allowed_member_types=tuple(raw.get("allowedMemberTypes") or ("Application",)),
        is_enabled=raw.get("isEnabled", True))


def _application(raw: dict[str, Any]) -> Application:
    public = bool(raw.get("isPublicClient"))
    return Application(
        id=raw["appId"], app_id=raw["appId"], tenant_id=None, display_name=raw["displayName"],
        sign_in_audience=raw.get("signInAudience") or "AzureADMultipleOrgs",
        public_client_redirect_uris=tuple(raw.get("publicClientRedirectUris") or ()),
        is_fallback_public_client=public,
        identifier_uris=tuple(raw.get("identifierUris") or ()),
        scopes=tuple(_scope(s) for s in (raw.get("api") or {}).get("oauth2PermissionScopes") or ()),
        app_roles=tuple(_role(r) for r in raw.get("appRoles") or ()),
        publisher_name=raw.get("publisherName"),
        verified_publisher={k: v for k, v in (raw.get("verifiedPublisher") or {}).items()},
        info={"owner_organization_id": raw.get("appOwnerOrganizationId")},
    )


@cache
def builtin_applications() -> tuple[Application, ...]:
    text = resources.files("consentry.domain").joinpath("data/builtin_apps.json").read_text("utf-8")
    return tuple(_application(raw) for raw in json.loads(text)["applications"])


def find_builtin_application(app_id: str) -> Application | None:
    wanted = app_id.lower()
    for app in builtin_applications():
        if app.app_id == wanted:
            return app
    return None


def owner_organization(app: Application) -> str | None:
    return app.info.get("owner_organization_id")

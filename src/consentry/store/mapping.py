"""Row ↔ domain value conversions shared by the repositories."""

from __future__ import annotations

from typing import Any

from consentry.domain.apps import AppRole, PermissionScope, RequiredResourceAccess, ResourceAccess
from consentry.domain.clock import as_utc


def scope_to_json(s: PermissionScope) -> dict[str, Any]:
    return {"id": s.id, "value": s.value, "type": s.type, "isEnabled": s.is_enabled,
            "adminConsentDisplayName": s.admin_consent_display_name,
            "adminConsentDescription": s.admin_consent_description,
            "userConsentDisplayName": s.user_consent_display_name,
            "userConsentDescription": s.user_consent_description}


def scope_from_json(d: dict[str, Any]) -> PermissionScope:
    return PermissionScope(d["id"], d["value"], d.get("type", "User"), d.get("adminConsentDisplayName") or "",
                           d.get("adminConsentDescription") or "", d.get("userConsentDisplayName"),
                           d.get("userConsentDescription"), d.get("isEnabled", True))


def role_to_json(r: AppRole) -> dict[str, Any]:
    return {"id": r.id, "value": r.value, "displayName": r.display_name, "description": r.description,
            "allowedMemberTypes": list(r.allowed_member_types), "isEnabled": r.is_enabled}


def role_from_json(d: dict[str, Any]) -> AppRole:
    return AppRole(d["id"], d.get("value"), d.get("displayName") or "", d.get("description") or "",
                   tuple(d.get("allowedMemberTypes") or ()), d.get("isEnabled", True))


def rra_to_json(r: RequiredResourceAccess) -> dict[str, Any]:
    return {"resourceAppId": r.resource_app_id,
            "resourceAccess": [{"id": a.id, "type": a.type} for a in r.resource_access]}


def rra_from_json(d: dict[str, Any]) -> RequiredResourceAccess:
    return RequiredResourceAccess(d["resourceAppId"],
                                  tuple(ResourceAccess(a["id"], a["type"]) for a in d.get("resourceAccess", ())))


def utc_fields(row: Any, *names: str) -> dict[str, Any]:
    values = dict(row._mapping)
    for name in names:
        if values.get(name) is not None:
            values[name] = as_utc(values[name])
    return values

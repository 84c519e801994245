"""Deleted items of one tenant: soft-deleted service principals and applications (spec §8.2), each kept
with what was removed with it — a service principal's delegated permission grants, app role assignments
and permission classifications; an application's credentials and the id of its service principal — so
that a restore puts the same rows back with the same ids.

The snapshot lives in ``deleted_objects.payload`` as JSON: domain values are written and read here, the
only place that knows the payload's layout.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from consentry.domain.apps import Application, KeyCredential, PasswordCredential, ServicePrincipal
from consentry.domain.clock import as_utc
from consentry.domain.grants import AppRoleAssignment, OAuth2PermissionGrant
from consentry.domain.odata import ODataQuery
from consentry.store.mapping import (
    role_from_json,
    role_to_json,
    rra_from_json,
    rra_to_json,
    scope_from_json,
    scope_to_json,
)
from consentry.store.odata import Fields, Page, fetch_page, to_where
from consentry.store.tables import delegated_permission_classifications, deleted_objects

SERVICE_PRINCIPAL = "servicePrincipal"
APPLICATION = "application"

_d = deleted_objects
_c = delegated_permission_classifications


@dataclass(frozen=True, slots=True)
class DeletedObject:
    """A soft-deleted service principal (with its consent) or application (with its credentials)."""

    id: str
    object_type: str  # SERVICE_PRINCIPAL | APPLICATION
    display_name: str
    deleted_at: datetime
    app_id: str
    service_principal: ServicePrincipal | None = None
    application: Application | None = None
    grants: tuple[OAuth2PermissionGrant, ...] = ()
    assignments: tuple[AppRoleAssignment, ...] = ()
    classifications: tuple[dict[str, Any], ...] = ()  # {id, permission_id, permission_name, classification}
    service_principal_id: str | None = None  # an application's home-tenant service principal, deleted with it


class DeletedObjectRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    def add(self, obj: DeletedObject) -> None:
        self.conn.execute(insert(_d).values(
            id=obj.id, tenant_id=self.tenant_id, object_type=obj.object_type, display_name=obj.display_name[:256],
            deleted_at=obj.deleted_at, payload=_payload(obj)))

    def find(self, object_id: str, *, not_before: datetime | None = None) -> DeletedObject | None:
        query = select(_d).where(_d.c.tenant_id == self.tenant_id, _d.c.id == object_id)
        if not_before is not None:
            query = query.where(_d.c.deleted_at >= not_before)
        row = self.conn.execute(query).first()
        return _deleted(row) if row else None

    def page(self, object_type: str, query: ODataQuery,
             not_before: datetime | None = None) -> tuple[list[DeletedObject], Page]:
        """One page of this tenant's deleted objects of one type, filtered and sorted as Graph allows."""
        base = select(_d).where(_d.c.tenant_id == self.tenant_id, _d.c.object_type == object_type)
        if not_before is not None:
            base = base.where(_d.c.deleted_at >= not_before)
        if query.filter is not None:
            base = base.where(to_where(query.filter, _FIELDS))
        order = [_d.c.display_name, _d.c.id] if query.orderby else [_d.c.id]
        descending = bool(query.orderby and query.orderby[0][1])
        page = fetch_page(self.conn, base, order, descending=descending, after=query.after, limit=query.top,
                          count=query.count)
        return [_deleted(r) for r in page.rows], page

    def list_expired(self, before: datetime) -> list[DeletedObject]:
        rows = self.conn.execute(select(_d).where(_d.c.tenant_id == self.tenant_id, _d.c.deleted_at < before)
                                 .order_by(_d.c.deleted_at, _d.c.id))
        return [_deleted(r) for r in rows]

    def remove(self, object_id: str) -> int:
        return self.conn.execute(delete(_d).where(_d.c.tenant_id == self.tenant_id,
                                                  _d.c.id == object_id)).rowcount

    # delegated permission classifications of a service principal, snapshotted and put back with it
    def list_classifications(self, service_principal_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(_c.c.id, _c.c.permission_id, _c.c.permission_name, _c.c.classification)
                                 .where(_c.c.tenant_id == self.tenant_id,
                                        _c.c.service_principal_id == service_principal_id).order_by(_c.c.id))
        return [dict(r._mapping) for r in rows]

    def remove_classifications(self, service_principal_id: str) -> None:
        self.conn.execute(delete(_c).where(_c.c.tenant_id == self.tenant_id,
                                           _c.c.service_principal_id == service_principal_id))

    def add_classifications(self, service_principal_id: str, rows: tuple[dict[str, Any], ...]) -> None:
        for row in rows:
            self.conn.execute(insert(_c).values(
                id=row["id"], tenant_id=self.tenant_id, service_principal_id=service_principal_id,
                permission_id=row["permission_id"], permission_name=row["permission_name"],
                classification=row["classification"]))


def tenants_with_expired(conn: Connection, before: datetime) -> list[str]:
    """The one cross-tenant read here: which tenants hold deleted objects older than ``before`` (the purge
    job then works tenant by tenant through each tenant's repository)."""
    return list(conn.execute(select(_d.c.tenant_id).where(_d.c.deleted_at < before).distinct()).scalars())


_FIELDS = Fields({"id": _d.c.id, "displayName": _d.c.display_name,
                  "appId": _d.c.payload["appId"].as_string()})


# --- the payload ------------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def _time(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if value else None


def _at(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


def _payload(obj: DeletedObject) -> dict[str, Any]:
    payload: dict[str, Any] = {"appId": obj.app_id.lower(), "servicePrincipalId": obj.service_principal_id}
    if obj.service_principal is not None:
        payload["servicePrincipal"] = _sp_to_json(obj.service_principal)
    if obj.application is not None:
        payload["application"] = _app_to_json(obj.application)
    payload["oauth2PermissionGrants"] = [_grant_to_json(g) for g in obj.grants]
    payload["appRoleAssignments"] = [_assignment_to_json(a) for a in obj.assignments]
    payload["delegatedPermissionClassifications"] = [dict(c) for c in obj.classifications]
    return payload


def _deleted(row: Any) -> DeletedObject:
    r = row._mapping
    p = r["payload"]
    return DeletedObject(
        id=r["id"], object_type=r["object_type"], display_name=r["display_name"],
        deleted_at=as_utc(r["deleted_at"]), app_id=p.get("appId") or "",
        service_principal=_sp_from_json(p["servicePrincipal"]) if p.get("servicePrincipal") else None,
        application=_app_from_json(p["application"]) if p.get("application") else None,
        grants=tuple(_grant_from_json(g, r["tenant_id"]) for g in p.get("oauth2PermissionGrants") or ()),
        assignments=tuple(_assignment_from_json(a, r["tenant_id"]) for a in p.get("appRoleAssignments") or ()),
        classifications=tuple(dict(c) for c in p.get("delegatedPermissionClassifications") or ()),
        service_principal_id=p.get("servicePrincipalId"))


def _sp_to_json(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": sp.id, "tenantId": sp.tenant_id, "appId": sp.app_id, "displayName": sp.display_name,
        "appOwnerOrganizationId": sp.app_owner_organization_id, "accountEnabled": sp.account_enabled,
        "appRoleAssignmentRequired": sp.app_role_assignment_required, "tags": list(sp.tags),
        "scopes": [scope_to_json(s) for s in sp.scopes], "appRoles": [role_to_json(r) for r in sp.app_roles],
        "servicePrincipalNames": list(sp.service_principal_names), "replyUrls": list(sp.reply_urls),
        "homepage": sp.homepage, "publisherName": sp.publisher_name, "signInAudience": sp.sign_in_audience,
        "verifiedPublisher": dict(sp.verified_publisher), "notes": sp.notes, "createdAt": _iso(sp.created_at)}


def _sp_from_json(d: dict[str, Any]) -> ServicePrincipal:
    return ServicePrincipal(
        id=d["id"], tenant_id=d["tenantId"], app_id=d["appId"], display_name=d["displayName"],
        app_owner_organization_id=d.get("appOwnerOrganizationId"), account_enabled=d.get("accountEnabled", True),
        app_role_assignment_required=d.get("appRoleAssignmentRequired", False), tags=tuple(d.get("tags") or ()),
        scopes=tuple(scope_from_json(s) for s in d.get("scopes") or ()),
        app_roles=tuple(role_from_json(r) for r in d.get("appRoles") or ()),
        service_principal_names=tuple(d.get("servicePrincipalNames") or ()),
        reply_urls=tuple(d.get("replyUrls") or ()), homepage=d.get("homepage"),
        publisher_name=d.get("publisherName"), sign_in_audience=d.get("signInAudience"),
        verified_publisher=dict(d.get("verifiedPublisher") or {}), notes=d.get("notes"),
        created_at=_time(d.get("createdAt")))


def _app_to_json(app: Application) -> dict[str, Any]:
    return {
        "id": app.id, "appId": app.app_id, "tenantId": app.tenant_id, "displayName": app.display_name,
        "signInAudience": app.sign_in_audience, "webRedirectUris": list(app.web_redirect_uris),
        "spaRedirectUris": list(app.spa_redirect_uris),
        "publicClientRedirectUris": list(app.public_client_redirect_uris),
        "isFallbackPublicClient": app.is_fallback_public_client, "identifierUris": list(app.identifier_uris),
        "requiredResourceAccess": [rra_to_json(r) for r in app.required_resource_access],
        "scopes": [scope_to_json(s) for s in app.scopes], "appRoles": [role_to_json(r) for r in app.app_roles],
        "homepageUrl": app.homepage_url, "info": dict(app.info), "publisherName": app.publisher_name,
        "verifiedPublisher": dict(app.verified_publisher), "createdAt": _iso(app.created_at),
        "passwordCredentials": [
            {"keyId": c.key_id, "displayName": c.display_name, "hint": c.hint, "secretHash": c.secret_hash,
             "start": _iso(c.start), "end": _iso(c.end)} for c in app.password_credentials],
        "keyCredentials": [
            {"keyId": k.key_id, "displayName": k.display_name, "type": k.type, "usage": k.usage,
             "certificate": base64.b64encode(k.certificate_der).decode(), "thumbprintSha1": k.thumbprint_sha1,
             "thumbprintSha256": k.thumbprint_sha256, "start": _iso(k.start), "end": _iso(k.end)}
            for k in app.key_credentials],
    }


def _app_from_json(d: dict[str, Any]) -> Application:
    return Application(
        id=d["id"], app_id=d["appId"], tenant_id=d.get("tenantId"), display_name=d["displayName"],
        sign_in_audience=d.get("signInAudience") or "AzureADMyOrg",
        web_redirect_uris=tuple(d.get("webRedirectUris") or ()),
        spa_redirect_uris=tuple(d.get("spaRedirectUris") or ()),
        public_client_redirect_uris=tuple(d.get("publicClientRedirectUris") or ()),
        is_fallback_public_client=bool(d.get("isFallbackPublicClient")),
        identifier_uris=tuple(d.get("identifierUris") or ()),
        required_resource_access=tuple(rra_from_json(r) for r in d.get("requiredResourceAccess") or ()),
        scopes=tuple(scope_from_json(s) for s in d.get("scopes") or ()),
        app_roles=tuple(role_from_json(r) for r in d.get("appRoles") or ()),
        homepage_url=d.get("homepageUrl"), info=dict(d.get("info") or {}), publisher_name=d.get("publisherName"),
        verified_publisher=dict(d.get("verifiedPublisher") or {}),
        password_credentials=tuple(
            PasswordCredential(c["keyId"], c.get("displayName"), c["hint"], c["secretHash"], _at(c["start"]),
                               _at(c["end"]))
            for c in d.get("passwordCredentials") or ()),
        key_credentials=tuple(
            KeyCredential(k["keyId"], k.get("displayName"), k["type"], k["usage"], base64.b64decode(k["certificate"]),
                          k["thumbprintSha1"], k["thumbprintSha256"], _at(k["start"]), _at(k["end"]))
            for k in d.get("keyCredentials") or ()),
        created_at=_time(d.get("createdAt")))


def _grant_to_json(g: OAuth2PermissionGrant) -> dict[str, Any]:
    return {"id": g.id, "clientId": g.client_id, "consentType": g.consent_type, "principalId": g.principal_id,
            "resourceId": g.resource_id, "scope": g.scope, "createdAt": _iso(g.created_at),
            "modifiedAt": _iso(g.modified_at)}


def _grant_from_json(d: dict[str, Any], tenant_id: str) -> OAuth2PermissionGrant:
    return OAuth2PermissionGrant(d["id"], tenant_id, d["clientId"], d["consentType"], d.get("principalId"),
                                 d["resourceId"], d["scope"], _at(d["createdAt"]), _at(d["modifiedAt"]))


def _assignment_to_json(a: AppRoleAssignment) -> dict[str, Any]:
    return {"id": a.id, "principalId": a.principal_id, "principalType": a.principal_type,
            "principalDisplayName": a.principal_display_name, "resourceId": a.resource_id,
            "resourceDisplayName": a.resource_display_name, "appRoleId": a.app_role_id,
            "createdAt": _iso(a.created_at)}


def _assignment_from_json(d: dict[str, Any], tenant_id: str) -> AppRoleAssignment:
    return AppRoleAssignment(d["id"], tenant_id, d["principalId"], d["principalType"], d.get("principalDisplayName"),
                             d["resourceId"], d.get("resourceDisplayName"), d["appRoleId"], _at(d["createdAt"]))

"""Applications (in their home tenant), their credentials, and service principals (per tenant)."""

from __future__ import annotations

from typing import Any

from odata_query import ast
from sqlalchemy import ColumnElement, Connection, delete, func, insert, not_, or_, select, update
from sqlalchemy.exc import IntegrityError

from consentry.domain.apps import Application, KeyCredential, PasswordCredential, ServicePrincipal
from consentry.domain.apps import service_principal_names as service_principal_names_of
from consentry.domain.clock import as_utc
from consentry.domain.ids import is_guid
from consentry.domain.odata import ODataQuery
from consentry.domain.scopes import resource_key
from consentry.store.grants import ensure_text_keys, flag_property, text_property
from consentry.store.mapping import (
    role_from_json,
    role_to_json,
    rra_from_json,
    rra_to_json,
    scope_from_json,
    scope_to_json,
)
from consentry.store.odata import Fields, Page, fetch_page, json_array_contains, lambda_value, to_where
from consentry.store.tables import (
    app_role_assignments,
    applications,
    delegated_permission_classifications,
    key_credentials,
    oauth2_permission_grants,
    password_credentials,
    service_principal_names,
    service_principals,
)


def _application_values(app: Application) -> dict[str, Any]:
    return dict(
        id=app.id, app_id=app.app_id, tenant_id=app.tenant_id, display_name=app.display_name,
        sign_in_audience=app.sign_in_audience, web_redirect_uris=list(app.web_redirect_uris),
        spa_redirect_uris=list(app.spa_redirect_uris),
        public_client_redirect_uris=list(app.public_client_redirect_uris),
        is_fallback_public_client=app.is_fallback_public_client, identifier_uris=list(app.identifier_uris),
        required_resource_access=[rra_to_json(r) for r in app.required_resource_access],
        scopes=[scope_to_json(s) for s in app.scopes], app_roles=[role_to_json(r) for r in app.app_roles],
        homepage_url=app.homepage_url, info=dict(app.info), publisher_name=app.publisher_name,
        verified_publisher=dict(app.verified_publisher), created_at=app.created_at)


class _ApplicationReader:
    conn: Connection

    def _load(self, row: Any) -> Application:
        return self._load_many([row])[0]

    def _load_many(self, rows: list[Any]) -> list[Application]:
        """Applications with their credentials, in two queries whatever the number of rows."""
        ids = [row._mapping["id"] for row in rows]
        if not ids:
            return []
        secrets: dict[str, list[PasswordCredential]] = {i: [] for i in ids}
        for s in self.conn.execute(select(password_credentials).where(password_credentials.c.application_id.in_(ids))
                                   .order_by(password_credentials.c.start, password_credentials.c.key_id)):
            secrets[s.application_id].append(PasswordCredential(s.key_id, s.display_name, s.hint, s.secret_hash,
                                                                as_utc(s.start), as_utc(s.end)))
        keys: dict[str, list[KeyCredential]] = {i: [] for i in ids}
        for k in self.conn.execute(select(key_credentials).where(key_credentials.c.application_id.in_(ids))
                                   .order_by(key_credentials.c.start, key_credentials.c.key_id)):
            keys[k.application_id].append(KeyCredential(
                k.key_id, k.display_name, k.type, k.usage, k.certificate_der, k.thumbprint_sha1, k.thumbprint_sha256,
                as_utc(k.start), as_utc(k.end)))
        return [_application(row, tuple(secrets[row._mapping["id"]]), tuple(keys[row._mapping["id"]]))
                for row in rows]


def _application(row: Any, secrets: tuple[PasswordCredential, ...], keys: tuple[KeyCredential, ...]) -> Application:
    r = row._mapping
    return Application(
        id=r["id"], app_id=r["app_id"], tenant_id=r["tenant_id"], display_name=r["display_name"],
        sign_in_audience=r["sign_in_audience"], web_redirect_uris=tuple(r["web_redirect_uris"]),
        spa_redirect_uris=tuple(r["spa_redirect_uris"]),
        public_client_redirect_uris=tuple(r["public_client_redirect_uris"]),
        is_fallback_public_client=r["is_fallback_public_client"],
        identifier_uris=tuple(r["identifier_uris"]),
        required_resource_access=tuple(rra_from_json(x) for x in r["required_resource_access"]),
        scopes=tuple(scope_from_json(x) for x in r["scopes"]),
        app_roles=tuple(role_from_json(x) for x in r["app_roles"]),
        homepage_url=r["homepage_url"], info=dict(r["info"]), publisher_name=r["publisher_name"],
        verified_publisher=dict(r["verified_publisher"]), password_credentials=secrets, key_credentials=keys,
        created_at=as_utc(r["created_at"]))


class ApplicationCatalog(_ApplicationReader):
    """Cross-tenant reads of application registrations, for resolving a multi-tenant client by appId, and
    the one cross-tenant write: copying an application's published definition onto its service principals."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find_home_registration(self, app_id: str) -> Application | None:
        row = self.conn.execute(select(applications).where(applications.c.app_id == app_id.lower())).first()
        return self._load(row) if row else None

    def find_registrations_with_identifier_uri(self, uri: str) -> list[str]:
        """The object ids of applications, in any tenant, that list ``uri`` among their identifierUris."""
        return list(self.conn.execute(select(applications.c.id).where(
            json_array_contains(self.conn, applications.c.identifier_uris, uri))).scalars())

    def sync_service_principals(self, app: Application) -> int:
        """Copy an application's published definition (names, scopes, roles, URIs) onto its service principal
        in every tenant that has one; the number updated."""
        values = dict(display_name=app.display_name, scopes=[scope_to_json(s) for s in app.scopes],
                      app_roles=[role_to_json(r) for r in app.app_roles],
                      service_principal_names=list(service_principal_names_of(app)),
                      reply_urls=list(app.redirect_uris), homepage=app.homepage_url,
                      sign_in_audience=app.sign_in_audience)
        rows = self.conn.execute(select(service_principals.c.id, service_principals.c.tenant_id).where(
            service_principals.c.app_id == app.app_id.lower())).all()
        for row in rows:
            AppRepository(self.conn, row.tenant_id).update_service_principal(row.id, **values)
        return len(rows)


def _sp(row: Any) -> ServicePrincipal:
    r = row._mapping
    return ServicePrincipal(
        id=r["id"], tenant_id=r["tenant_id"], app_id=r["app_id"], display_name=r["display_name"],
        app_owner_organization_id=r["app_owner_organization_id"], account_enabled=r["account_enabled"],
        app_role_assignment_required=r["app_role_assignment_required"], tags=tuple(r["tags"]),
        scopes=tuple(scope_from_json(x) for x in r["scopes"]),
        app_roles=tuple(role_from_json(x) for x in r["app_roles"]),
        service_principal_names=tuple(r["service_principal_names"]), reply_urls=tuple(r["reply_urls"]),
        homepage=r["homepage"], publisher_name=r["publisher_name"], sign_in_audience=r["sign_in_audience"],
        verified_publisher=dict(r["verified_publisher"]), notes=r["notes"], created_at=as_utc(r["created_at"]))


def _name_prefix_or_app_id(search: str) -> ColumnElement[bool]:
    """displayName starts with ``search`` in any case, or (a GUID) appId is ``search``."""
    sp = service_principals
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    prefix = func.lower(sp.c.display_name).like(escaped + "%", escape="\\")
    return or_(sp.c.app_id == search.lower(), prefix) if is_guid(search) else prefix


class AppRepository(_ApplicationReader):
    """Applications homed in one tenant and the service principals that live in it."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    # applications
    def add_application(self, app: Application) -> None:
        values = _application_values(app)
        values.update(tenant_id=self.tenant_id, app_id=app.app_id.lower())
        self.conn.execute(insert(applications).values(**values))

    def find_application(self, object_id: str) -> Application | None:
        row = self.conn.execute(select(applications).where(applications.c.tenant_id == self.tenant_id,
                                                           applications.c.id == object_id)).first()
        return self._load(row) if row else None

    def find_application_by_app_id(self, app_id: str) -> Application | None:
        row = self.conn.execute(select(applications).where(applications.c.tenant_id == self.tenant_id,
                                                           applications.c.app_id == app_id.lower())).first()
        return self._load(row) if row else None

    def list_applications(self) -> list[Application]:
        rows = self.conn.execute(select(applications).where(applications.c.tenant_id == self.tenant_id)
                                 .order_by(applications.c.display_name, applications.c.id)).all()
        return self._load_many(list(rows))

    def page_applications(self, query: ODataQuery) -> tuple[list[Application], Page]:
        """One page of the applications homed in this tenant, filtered and sorted as Graph allows."""
        a = applications
        ensure_text_keys(query)
        base = select(a).where(a.c.tenant_id == self.tenant_id)
        if query.filter is not None:
            base = base.where(to_where(query.filter, self._application_fields()))
        order = [a.c.display_name, a.c.id] if query.orderby else [a.c.id]
        descending = bool(query.orderby and query.orderby[0][1])
        page = fetch_page(self.conn, base, order, descending=descending, after=query.after, limit=query.top,
                          count=query.count)
        return self._load_many(page.rows), page

    def _application_fields(self) -> Fields:
        a = applications

        def by_identifier_uri(lam: ast.Lambda, _node: ast.CollectionLambda) -> Any:
            return json_array_contains(self.conn, a.c.identifier_uris, str(lambda_value(lam)))

        return Fields({name: text_property(column) for name, column in (
            ("id", a.c.id), ("appId", a.c.app_id), ("displayName", a.c.display_name),
            ("signInAudience", a.c.sign_in_audience), ("publisherName", a.c.publisher_name))},
            {"identifierUris": by_identifier_uri})

    def replace_application(self, app: Application) -> None:
        values = _application_values(app)
        values.pop("id"), values.pop("tenant_id"), values.pop("created_at")
        self.conn.execute(update(applications).where(applications.c.tenant_id == self.tenant_id,
                                                     applications.c.id == app.id).values(**values))

    def remove_application(self, object_id: str) -> None:
        self.conn.execute(delete(applications).where(applications.c.tenant_id == self.tenant_id,
                                                     applications.c.id == object_id))

    def _owned(self, application_id: str) -> Any:
        """The ids of this tenant's applications: a credential change never reaches another tenant's app."""
        return select(applications.c.id).where(applications.c.tenant_id == self.tenant_id,
                                               applications.c.id == application_id)

    def _ensure_owned(self, application_id: str) -> None:
        if self.conn.execute(self._owned(application_id)).first() is None:
            raise LookupError(f"application {application_id} is not in tenant {self.tenant_id}")

    def add_password_credential(self, application_id: str, cred: PasswordCredential) -> None:
        self._ensure_owned(application_id)
        self.conn.execute(insert(password_credentials).values(
            key_id=cred.key_id, application_id=application_id, display_name=cred.display_name, hint=cred.hint,
            secret_hash=cred.secret_hash, start=cred.start, end=cred.end))

    def remove_password_credential(self, application_id: str, key_id: str) -> int:
        return self.conn.execute(delete(password_credentials).where(
            password_credentials.c.application_id.in_(self._owned(application_id)),
            password_credentials.c.key_id == key_id)).rowcount

    def add_key_credential(self, application_id: str, cred: KeyCredential) -> None:
        self._ensure_owned(application_id)
        self.conn.execute(insert(key_credentials).values(
            key_id=cred.key_id, application_id=application_id, display_name=cred.display_name, type=cred.type,
            usage=cred.usage, certificate_der=cred.certificate_der, thumbprint_sha1=cred.thumbprint_sha1,
            thumbprint_sha256=cred.thumbprint_sha256, start=cred.start, end=cred.end))

    def remove_key_credential(self, application_id: str, key_id: str) -> int:
        return self.conn.execute(delete(key_credentials).where(
            key_credentials.c.application_id.in_(self._owned(application_id)),
            key_credentials.c.key_id == key_id)).rowcount

    # service principals
    def add_service_principal(self, sp: ServicePrincipal) -> None:
        self.conn.execute(insert(service_principals).values(
            id=sp.id, tenant_id=self.tenant_id, app_id=sp.app_id.lower(), display_name=sp.display_name,
            app_owner_organization_id=sp.app_owner_organization_id, account_enabled=sp.account_enabled,
            app_role_assignment_required=sp.app_role_assignment_required, tags=list(sp.tags),
            scopes=[scope_to_json(s) for s in sp.scopes], app_roles=[role_to_json(r) for r in sp.app_roles],
            service_principal_names=list(sp.service_principal_names), reply_urls=list(sp.reply_urls),
            homepage=sp.homepage, publisher_name=sp.publisher_name, sign_in_audience=sp.sign_in_audience,
            verified_publisher=dict(sp.verified_publisher), notes=sp.notes, created_at=sp.created_at))
        self._index_names(sp)

    def _index_names(self, sp: ServicePrincipal) -> None:
        self.conn.execute(delete(service_principal_names).where(
            service_principal_names.c.service_principal_id == sp.id))
        keys = {resource_key(name) for name in sp.service_principal_names} | {sp.app_id.lower()}
        for key in sorted(keys):
            self.conn.execute(insert(service_principal_names).values(
                tenant_id=self.tenant_id, name=key, service_principal_id=sp.id))

    def find_service_principal(self, object_id: str) -> ServicePrincipal | None:
        row = self.conn.execute(select(service_principals).where(
            service_principals.c.tenant_id == self.tenant_id, service_principals.c.id == object_id)).first()
        return _sp(row) if row else None

    def find_service_principal_by_app_id(self, app_id: str) -> ServicePrincipal | None:
        row = self.conn.execute(select(service_principals).where(
            service_principals.c.tenant_id == self.tenant_id,
            service_principals.c.app_id == app_id.lower())).first()
        return _sp(row) if row else None

    def find_service_principal_by_name(self, identifier: str) -> ServicePrincipal | None:
        """A resource named by appId or by one of its identifier URIs (``https://graph.microsoft.com``)."""
        sp_id = self.conn.execute(select(service_principal_names.c.service_principal_id).where(
            service_principal_names.c.tenant_id == self.tenant_id,
            service_principal_names.c.name == resource_key(identifier))).scalar()
        return self.find_service_principal(sp_id) if sp_id else None

    def list_service_principals(self) -> list[ServicePrincipal]:
        rows = self.conn.execute(select(service_principals).where(
            service_principals.c.tenant_id == self.tenant_id).order_by(service_principals.c.display_name,
                                                                       service_principals.c.id))
        return [_sp(r) for r in rows]

    def page_service_principals(self, query: ODataQuery) -> tuple[list[ServicePrincipal], Page]:
        """One page of this tenant's service principals, filtered and sorted as Graph allows."""
        sp = service_principals
        ensure_text_keys(query)
        base = select(sp).where(sp.c.tenant_id == self.tenant_id)
        if query.filter is not None:
            base = base.where(to_where(query.filter, self._sp_fields()))
        order = [sp.c.display_name, sp.c.id] if query.orderby else [sp.c.id]
        descending = bool(query.orderby and query.orderby[0][1])
        page = fetch_page(self.conn, base, order, descending=descending, after=query.after, limit=query.top,
                          count=query.count)
        return [_sp(r) for r in page.rows], page

    def page_enterprise_apps(self, *, search: str = "", enabled: bool | None = None,
                             admin_consent: bool | None = None, microsoft: bool | None = None,
                             microsoft_orgs: frozenset[str] = frozenset(), after: tuple[str, str] | None = None,
                             limit: int = 50) -> tuple[list[ServicePrincipal], tuple[str, str] | None]:
        """One page of the portal's "All applications", by displayName then id, after the key ``after``.

        ``search`` is a case-insensitive displayName prefix or an exact appId; ``admin_consent`` means a
        tenant-wide grant with the app as client or an app role assignment held by it (EXISTS probes that
        the grant and assignment indexes keyed by client and by principal answer); ``microsoft`` means the
        app's owner organization is one of ``microsoft_orgs``. The walk follows the (tenant, displayName, id)
        index, so page 1,000 costs what page 1 costs. (Finding Microsoft's apps by owner organization wants
        an index on (tenant_id, app_owner_organization_id).)"""
        sp = service_principals
        query = select(sp).where(sp.c.tenant_id == self.tenant_id)
        if search:
            query = query.where(_name_prefix_or_app_id(search))
        if enabled is not None:
            query = query.where(sp.c.account_enabled.is_(enabled))
        if admin_consent is not None:
            consented = self._has_admin_consent()
            query = query.where(consented if admin_consent else not_(consented))
        if microsoft is not None:
            # Microsoft's apps are few: find them first (by owner organization), then walk the name index.
            owned = list(self.conn.execute(select(sp.c.id).where(
                sp.c.tenant_id == self.tenant_id, sp.c.app_owner_organization_id.in_(sorted(microsoft_orgs))))
                .scalars())
            if microsoft:
                query = query.where(sp.c.id.in_(owned))
            elif owned:
                query = query.where(sp.c.id.not_in(owned))
        page = fetch_page(self.conn, query, [sp.c.display_name, sp.c.id], descending=False, after=after,
                          limit=limit)
        next_after = (str(page.next_after[0]), str(page.next_after[1])) if page.next_after else None
        return [_sp(r) for r in page.rows], next_after

    def _has_admin_consent(self) -> ColumnElement[bool]:
        sp, g, a = service_principals, oauth2_permission_grants, app_role_assignments
        tenant_wide = select(g.c.id).where(g.c.tenant_id == self.tenant_id, g.c.client_id == sp.c.id,
                                           g.c.consent_type == "AllPrincipals").exists()
        app_roles = select(a.c.id).where(a.c.tenant_id == self.tenant_id, a.c.principal_id == sp.c.id).exists()
        return or_(tenant_wide, app_roles)

    def _sp_fields(self) -> Fields:
        sp = service_principals

        def by_name(lam: ast.Lambda, _node: ast.CollectionLambda) -> Any:
            value = lambda_value(lam)
            return sp.c.id.in_(select(service_principal_names.c.service_principal_id).where(
                service_principal_names.c.tenant_id == self.tenant_id,
                service_principal_names.c.name == resource_key(str(value))))

        def by_tag(lam: ast.Lambda, _node: ast.CollectionLambda) -> Any:
            return json_array_contains(self.conn, sp.c.tags, str(lambda_value(lam)))

        return Fields({"id": text_property(sp.c.id), "appId": text_property(sp.c.app_id),
                       "displayName": text_property(sp.c.display_name),
                       "accountEnabled": flag_property(sp.c.account_enabled),
                       "appRoleAssignmentRequired": flag_property(sp.c.app_role_assignment_required),
                       "appOwnerOrganizationId": text_property(sp.c.app_owner_organization_id),
                       "publisherName": text_property(sp.c.publisher_name)},
                      {"servicePrincipalNames": by_name, "tags": by_tag})

    def update_service_principal(self, object_id: str, **values: Any) -> None:
        self.conn.execute(update(service_principals).where(
            service_principals.c.tenant_id == self.tenant_id, service_principals.c.id == object_id)
            .values(**values))
        if "service_principal_names" in values:
            sp = self.find_service_principal(object_id)
            if sp is not None:
                self._index_names(sp)

    def remove_service_principal(self, object_id: str) -> None:
        self.conn.execute(delete(service_principals).where(
            service_principals.c.tenant_id == self.tenant_id, service_principals.c.id == object_id))

    # delegated permission classifications (spec §6.2), rows of the API's service principal
    def add_classification(self, service_principal_id: str, classification_id: str, permission_id: str,
                           permission_name: str, classification: str) -> bool:
        """False when the permission is already classified on this service principal."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(_c).values(
                    id=classification_id, tenant_id=self.tenant_id, service_principal_id=service_principal_id,
                    permission_id=permission_id, permission_name=permission_name, classification=classification))
        except IntegrityError:
            return False
        return True

    def list_classifications(self, service_principal_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(_c).where(_c.c.tenant_id == self.tenant_id,
                                                  _c.c.service_principal_id == service_principal_id)
                                 .order_by(_c.c.permission_name, _c.c.id))
        return [dict(r._mapping) for r in rows]

    def find_classification(self, service_principal_id: str, classification_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(_c).where(_c.c.tenant_id == self.tenant_id,
                                                 _c.c.service_principal_id == service_principal_id,
                                                 _c.c.id == classification_id)).first()
        return dict(row._mapping) if row else None

    def remove_classification(self, service_principal_id: str, classification_id: str) -> int:
        return self.conn.execute(delete(_c).where(_c.c.tenant_id == self.tenant_id,
                                                  _c.c.service_principal_id == service_principal_id,
                                                  _c.c.id == classification_id)).rowcount


_c = delegated_permission_classifications

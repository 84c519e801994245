"""``/applications``: list (``$filter``, ``$select``, ``$top``, ``$orderby=displayName``, ``$count``,
``$skiptoken``), get by id or by ``(appId='…')``, create (no service principal, as Graph), update (nested
objects merged; ``keyCredentials`` replaced as a whole), delete (to deleted items, with the home tenant's
service principal), the secrets actions ``addPassword`` and ``removePassword``, and the certificate
actions ``addKey`` and ``removeKey`` (with their proof of possession).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.apps import (
    Application,
    AppRole,
    KeyCredential,
    PasswordCredential,
    PermissionScope,
    RequiredResourceAccess,
    ResourceAccess,
)
from consentry.domain.callers import Caller
from consentry.domain.ids import is_guid, new_guid
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, ConsentryError
from consentry.services import app_credentials, authz, deleted_items
from consentry.services import apps as app_service
from consentry.services.certificates import KeyCredentialInput
from consentry.web.graph.common import (
    actor_of,
    caller,
    collection,
    entity,
    guid_or_404,
    iso,
    no_content,
    odata_query,
    read_body,
    runtime_of,
)
from consentry.web.graph.service_principals import app_role_json, permission_scope_json

router = APIRouter(tags=["applications"])
ORDERABLE = frozenset({"displayName"})
BY_ID = "/applications/{app_object_id}"
BY_APP_ID = "/applications(appId='{app_id}')"
INFO_KEYS = ("logoUrl", "marketingUrl", "privacyStatementUrl", "supportUrl", "termsOfServiceUrl")


# --- rendering ----------------------------------------------------------------------------------------
def password_credential_json(c: PasswordCredential, secret: str | None = None) -> dict[str, Any]:
    return {"customKeyIdentifier": None, "displayName": c.display_name, "endDateTime": iso(c.end), "hint": c.hint,
            "keyId": c.key_id, "secretText": secret, "startDateTime": iso(c.start)}


def key_credential_json(k: KeyCredential, with_key: bool = False) -> dict[str, Any]:
    """Graph's keyCredential; ``customKeyIdentifier`` is the SHA-1 thumbprint (hex, which is also valid
    base64 for the Binary type), and ``key`` is returned only when asked for with ``$select``."""
    return {"customKeyIdentifier": k.thumbprint_sha1, "displayName": k.display_name, "endDateTime": iso(k.end),
            "key": base64.b64encode(k.certificate_der).decode() if with_key else None, "keyId": k.key_id,
            "startDateTime": iso(k.start), "type": k.type, "usage": k.usage}


def application_json(app: Application, publisher_domain: str | None, with_keys: bool = False) -> dict[str, Any]:
    return {
        "id": app.id, "deletedDateTime": None, "appId": app.app_id, "applicationTemplateId": None,
        "disabledByMicrosoftStatus": None, "createdDateTime": iso(app.created_at), "displayName": app.display_name,
        "description": None, "groupMembershipClaims": None, "identifierUris": list(app.identifier_uris),
        "isDeviceOnlyAuthSupported": None, "isFallbackPublicClient": app.is_fallback_public_client, "notes": None,
        "publisherDomain": publisher_domain, "serviceManagementReference": None,
        "signInAudience": app.sign_in_audience, "tags": [], "tokenEncryptionKeyId": None,
        "verifiedPublisher": {"displayName": app.verified_publisher.get("displayName"),
                              "verifiedPublisherId": app.verified_publisher.get("verifiedPublisherId"),
                              "addedDateTime": app.verified_publisher.get("addedDateTime")},
        "addIns": [],
        "api": {"acceptMappedClaims": None, "knownClientApplications": [], "requestedAccessTokenVersion": None,
                "oauth2PermissionScopes": [permission_scope_json(s) for s in app.scopes],
                "preAuthorizedApplications": []},
        "appRoles": [app_role_json(r) for r in app.app_roles],
        "info": {key: app.info.get(key) for key in INFO_KEYS},
        "keyCredentials": [key_credential_json(k, with_keys) for k in app.key_credentials],
        "optionalClaims": None,
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [password_credential_json(c) for c in app.password_credentials],
        "publicClient": {"redirectUris": list(app.public_client_redirect_uris)},
        "requiredResourceAccess": [
            {"resourceAppId": r.resource_app_id,
             "resourceAccess": [{"id": a.id, "type": a.type} for a in r.resource_access]}
            for r in app.required_resource_access],
        "web": {"homePageUrl": app.homepage_url, "logoutUrl": None, "redirectUris": list(app.web_redirect_uris),
                "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False},
                "redirectUriSettings": [{"uri": u, "index": None} for u in app.web_redirect_uris]},
        "spa": {"redirectUris": list(app.spa_redirect_uris)},
    }


# --- request bodies -------------------------------------------------------------------------------------
# Properties Consentry keeps; the others Graph defines are accepted only with their default value (what a
# GET shows, so that a read-modify-write round trip works) and refused otherwise, never silently dropped.
APPLICATION_PROPERTIES = {"displayName", "signInAudience", "web", "spa", "publicClient", "isFallbackPublicClient",
                          "identifierUris", "requiredResourceAccess", "api", "appRoles", "info", "keyCredentials",
                          "tags", "notes", "description"}
_UNSTORED = ("tags", "notes", "description")
_WEB_DEFAULTS = frozenset({"logoutUrl", "implicitGrantSettings"})
_API_DEFAULTS = frozenset({"acceptMappedClaims", "knownClientApplications", "preAuthorizedApplications",
                           "requestedAccessTokenVersion"})
_FRACTION = re.compile(r"(\.\d{6})\d+")


def bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def _plain(value: Any) -> Any:
    """``value`` without ``@odata.*`` annotations at any depth (kiota sends them in nested objects)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("@odata.")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_set(value: Any) -> bool:
    """Whether a value differs from "nothing": null, false, empty, or objects and lists of those."""
    if isinstance(value, dict):
        return any(_is_set(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_set(v) for v in value)
    return bool(value)


def _object(value: Any, name: str, allowed: set[str], defaults: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(f"'{name}' must be an object.")
    value = _plain(value)
    for key, item in list(value.items()):
        if key in defaults:
            if _is_set(item):
                raise bad(f"Setting '{name}.{key}' is not supported by Consentry.")
            del value[key]
        elif key not in allowed:
            raise bad(f"Property '{name}.{key}' is not supported here or does not exist on this resource.")
    return value


def _str(value: Any, name: str, *, nullable: bool = True, max_length: int = 2048) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise bad(f"Invalid value for '{name}': a string of at most {max_length} characters is required.")
    return value


def _strings(value: Any, name: str, max_items: int = 256) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > max_items or not all(
            isinstance(v, str) and "\x00" not in v for v in value):
        raise bad(f"Invalid value for '{name}': a list of at most {max_items} strings is required.")
    return tuple(value)


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(f"Invalid value for '{name}': a boolean is required.")
    return value


def guid(value: Any, name: str) -> str:
    if not isinstance(value, str) or not is_guid(value):
        raise bad(f"Invalid value for '{name}': a GUID is required.")
    return value.lower()


def _datetime(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", str(value)).replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad(f"Invalid value for '{name}': an ISO 8601 date and time is required.") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _items(value: Any, name: str, parse: Callable[[dict[str, Any], str], Any], max_items: int = 500) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > max_items:
        raise bad(f"Invalid value for '{name}': a list of at most {max_items} objects is required.")
    return tuple(parse(item, f"{name}[{i}]") for i, item in enumerate(value))


def _scope(value: Any, name: str) -> PermissionScope:
    v = _object(value, name, {"id", "value", "type", "isEnabled", "adminConsentDisplayName",
                              "adminConsentDescription", "userConsentDisplayName", "userConsentDescription",
                              "origin"})
    return PermissionScope(guid(v.get("id"), f"{name}.id"), _str(v.get("value"), f"{name}.value", nullable=False,
                                                                   max_length=256) or "",
                           _str(v.get("type"), f"{name}.type") or "User",
                           _str(v.get("adminConsentDisplayName"), f"{name}.adminConsentDisplayName") or "",
                           _str(v.get("adminConsentDescription"), f"{name}.adminConsentDescription") or "",
                           _str(v.get("userConsentDisplayName"), f"{name}.userConsentDisplayName"),
                           _str(v.get("userConsentDescription"), f"{name}.userConsentDescription"),
                           True if v.get("isEnabled") is None else _bool(v.get("isEnabled"), f"{name}.isEnabled"))


def _role(value: Any, name: str) -> AppRole:
    v = _object(value, name, {"id", "value", "displayName", "description", "allowedMemberTypes", "isEnabled",
                              "origin"})
    return AppRole(guid(v.get("id"), f"{name}.id"), _str(v.get("value"), f"{name}.value", max_length=256),
                   _str(v.get("displayName"), f"{name}.displayName") or "",
                   _str(v.get("description"), f"{name}.description") or "",
                   _strings(v.get("allowedMemberTypes"), f"{name}.allowedMemberTypes", 2),
                   True if v.get("isEnabled") is None else _bool(v.get("isEnabled"), f"{name}.isEnabled"))


def _required(value: Any, name: str) -> RequiredResourceAccess:
    v = _object(value, name, {"resourceAppId", "resourceAccess"})

    def access(item: Any, where: str) -> ResourceAccess:
        a = _object(item, where, {"id", "type"})
        return ResourceAccess(guid(a.get("id"), f"{where}.id"), _str(a.get("type"), f"{where}.type") or "")

    return RequiredResourceAccess(guid(v.get("resourceAppId"), f"{name}.resourceAppId"),
                                  _items(v.get("resourceAccess"), f"{name}.resourceAccess", access, 400))


def _key(value: Any, name: str) -> KeyCredentialInput:
    v = _object(value, name, {"keyId", "key", "type", "usage", "displayName", "startDateTime", "endDateTime",
                              "customKeyIdentifier"})
    raw = v.get("key")
    der = None
    if raw is not None:
        try:
            der = base64.b64decode(_str(raw, f"{name}.key", max_length=64 * 1024) or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad(f"Invalid value for '{name}.key': base64 of the DER certificate is required.") from exc
    key_id = v.get("keyId")
    return KeyCredentialInput(der, guid(key_id, f"{name}.keyId") if key_id is not None else None,
                              _str(v.get("displayName"), f"{name}.displayName", max_length=256),
                              _str(v.get("type"), f"{name}.type") or "AsymmetricX509Cert",
                              _str(v.get("usage"), f"{name}.usage") or "Verify",
                              _datetime(v.get("startDateTime"), f"{name}.startDateTime"),
                              _datetime(v.get("endDateTime"), f"{name}.endDateTime"))


def _web(value: Any, changes: dict[str, Any]) -> None:
    web = _object(value, "web", {"redirectUris", "homePageUrl", "redirectUriSettings"}, _WEB_DEFAULTS)
    if "redirectUris" in web:
        changes["web_redirect_uris"] = _strings(web["redirectUris"], "web.redirectUris")
    if "homePageUrl" in web:
        changes["homepage_url"] = _str(web["homePageUrl"], "web.homePageUrl")
    settings = web.get("redirectUriSettings") or []
    if not isinstance(settings, list) or not all(isinstance(s, dict) and s.get("index") is None for s in settings):
        raise bad("Setting 'web.redirectUriSettings' is not supported by Consentry; use web.redirectUris.")
    if settings and [s.get("uri") for s in settings] != list(changes.get("web_redirect_uris", ())):
        raise bad("'web.redirectUriSettings' must list the same URIs as web.redirectUris.")


def application_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments for a Graph application body; nested objects carry only what they name."""
    changes: dict[str, Any] = {}
    for key in _UNSTORED:
        if _is_set(_plain(body.get(key))):
            raise bad(f"Setting '{key}' is not supported by Consentry.")
    if "displayName" in body:
        changes["display_name"] = _str(body["displayName"], "displayName", nullable=False, max_length=256)
    if "signInAudience" in body:
        changes["sign_in_audience"] = _str(body["signInAudience"], "signInAudience", nullable=False, max_length=64)
    if "isFallbackPublicClient" in body:
        changes["is_fallback_public_client"] = _bool(body["isFallbackPublicClient"], "isFallbackPublicClient")
    if "identifierUris" in body:
        changes["identifier_uris"] = _strings(body["identifierUris"], "identifierUris", 50)
    if body.get("web") is not None:
        _web(body["web"], changes)
    for key, field in (("spa", "spa_redirect_uris"), ("publicClient", "public_client_redirect_uris")):
        if body.get(key) is not None:
            nested = _object(body[key], key, {"redirectUris"})
            if "redirectUris" in nested:
                changes[field] = _strings(nested["redirectUris"], f"{key}.redirectUris")
    if body.get("api") is not None:
        api = _object(body["api"], "api", {"oauth2PermissionScopes"}, _API_DEFAULTS)
        if "oauth2PermissionScopes" in api:
            changes["scopes"] = _items(api["oauth2PermissionScopes"], "api.oauth2PermissionScopes", _scope)
    if "appRoles" in body:
        changes["app_roles"] = _items(body["appRoles"], "appRoles", _role)
    if "requiredResourceAccess" in body:
        changes["required_resource_access"] = _items(body["requiredResourceAccess"], "requiredResourceAccess",
                                                     _required, 50)
    if body.get("info") is not None:
        info = _object(body["info"], "info", set(INFO_KEYS))
        changes["info"] = {k: _str(v, f"info.{k}") for k, v in info.items()}
    if "keyCredentials" in body:
        changes["key_credentials"] = list(_items(body["keyCredentials"], "keyCredentials", _key, 50))
    return changes


class PasswordRequest(NamedTuple):
    display_name: str | None
    start: datetime | None
    end: datetime | None


def password_request(value: Any) -> PasswordRequest:
    if value is None:
        return PasswordRequest(None, None, None)
    v = _object(value, "passwordCredential", {"displayName", "startDateTime", "endDateTime"},
                frozenset({"customKeyIdentifier", "keyId", "hint", "secretText"}))
    return PasswordRequest(_str(v.get("displayName"), "passwordCredential.displayName", max_length=256),
                           _datetime(v.get("startDateTime"), "passwordCredential.startDateTime"),
                           _datetime(v.get("endDateTime"), "passwordCredential.endDateTime"))


# --- lookups --------------------------------------------------------------------------------------------
def _not_found(value: str) -> ConsentryError:
    return ConsentryError(GRAPH_NOT_FOUND, id=value)


def _lookup(request: Request, who: Caller) -> Application:
    """By object id (``/applications/{id}``) or by the alternate key ``/applications(appId='…')``."""
    ctx = runtime_of(request).ctx
    params = request.path_params
    if "app_id" in params:
        app_id = guid_or_404(params["app_id"], lambda: _not_found(params["app_id"]))
        return app_service.find_application(ctx, who.tenant_id, app_id=app_id)
    object_id = guid_or_404(params["app_object_id"], lambda: _not_found(params["app_object_id"]))
    return app_service.find_application(ctx, who.tenant_id, object_id=object_id)


# --- routes ---------------------------------------------------------------------------------------------
@router.get("/applications")
async def list_applications(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request, ORDERABLE)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_APPS)
    items, page = await run_in_threadpool(app_service.page_applications, rt.ctx, who.tenant_id, query)
    domain = await run_in_threadpool(app_service.publisher_domain, rt.ctx, who.tenant_id)
    return collection(request, "applications", [application_json(a, domain) for a in items], query,
                      page.next_after, page.count)


@router.get(BY_ID)
@router.get(BY_APP_ID, include_in_schema=False)
async def get_application(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_APPS)
    app = await run_in_threadpool(_lookup, request, who)
    domain = await run_in_threadpool(app_service.publisher_domain, rt.ctx, who.tenant_id)
    with_keys = bool(query.select and "keyCredentials" in query.select)
    return entity(request, "applications/$entity", application_json(app, domain, with_keys), select=query.select)


@router.post("/applications", status_code=201)
async def create_application(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, APPLICATION_PROPERTIES, required=("displayName",))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    fields = application_changes(body)
    info = fields.pop("info", None) or {}
    certificates = fields.pop("key_credentials", ())
    draft = Application(id=new_guid(), app_id=new_guid(), tenant_id=who.tenant_id,
                        display_name=str(fields.pop("display_name")), info=info, **fields)
    app = await run_in_threadpool(lambda: app_service.register_application(
        rt.ctx, who.tenant_id, draft, actor_of(request, who), create_service_principal=False,
        certificates=certificates))
    domain = await run_in_threadpool(app_service.publisher_domain, rt.ctx, who.tenant_id)
    return entity(request, "applications/$entity", application_json(app, domain), status=201)


@router.patch(BY_ID, status_code=204)
@router.patch(BY_APP_ID, status_code=204, include_in_schema=False)
async def update_application(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, APPLICATION_PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    app = await run_in_threadpool(_lookup, request, who)
    changes = application_changes(body)
    await run_in_threadpool(lambda: app_service.update_application(
        rt.ctx, who.tenant_id, app.id, actor_of(request, who), **changes))
    return no_content()


@router.delete(BY_ID, status_code=204)
@router.delete(BY_APP_ID, status_code=204, include_in_schema=False)
async def delete_application(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    app = await run_in_threadpool(_lookup, request, who)
    await run_in_threadpool(deleted_items.soft_delete_application, rt.ctx, who.tenant_id, app.id,
                            actor_of(request, who))
    return no_content()


@router.post(BY_ID + "/addPassword")
@router.post(BY_APP_ID + "/addPassword", include_in_schema=False)
async def add_password(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, {"passwordCredential"})
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    app = await run_in_threadpool(_lookup, request, who)
    wanted = password_request(body.get("passwordCredential"))
    cred, secret = await run_in_threadpool(lambda: app_credentials.add_password(
        rt.ctx, who.tenant_id, app.id, actor_of(request, who), wanted.display_name, wanted.end, start=wanted.start,
        lifetime=app_credentials.GRAPH_SECRET_LIFETIME))
    return entity(request, "microsoft.graph.passwordCredential", password_credential_json(cred, secret))


@router.post(BY_ID + "/removePassword", status_code=204)
@router.post(BY_APP_ID + "/removePassword", status_code=204, include_in_schema=False)
async def remove_password(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, {"keyId"}, required=("keyId",))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    app = await run_in_threadpool(_lookup, request, who)
    key_id = guid(body["keyId"], "keyId")
    await run_in_threadpool(app_credentials.remove_password, rt.ctx, who.tenant_id, app.id, key_id,
                            actor_of(request, who))
    return no_content()



async def _allowed_to_roll_keys(request: Request, who: Caller) -> Application:
    """An application may roll its own keys without any permission; anyone else needs to write applications."""
    rt = runtime_of(request)
    app = await run_in_threadpool(_lookup, request, who)
    if not (who.is_app_only and who.app_id.lower() == app.app_id):
        await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    return app


def _proof(body: dict[str, Any]) -> str:
    proof = body.get("proof")
    if not isinstance(proof, str) or not proof or len(proof) > 64 * 1024:
        raise bad("Property 'proof' is required: a JWT signed with one of the application's certificates.")
    return proof


@router.post(BY_ID + "/addKey")
@router.post(BY_APP_ID + "/addKey", include_in_schema=False)
async def add_key(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, {"keyCredential", "passwordCredential", "proof"}, required=("keyCredential",))
    if body.get("passwordCredential") is not None:
        raise bad("Keys of type X509CertAndPassword are not supported; set passwordCredential to null.")
    key, proof = _key(body["keyCredential"], "keyCredential"), _proof(body)
    app = await _allowed_to_roll_keys(request, who)
    cred = await run_in_threadpool(app_credentials.add_key, rt.ctx, who.tenant_id, app.id, key, proof,
                                   actor_of(request, who))
    return entity(request, "microsoft.graph.keyCredential", key_credential_json(cred))


@router.post(BY_ID + "/removeKey", status_code=204)
@router.post(BY_APP_ID + "/removeKey", status_code=204, include_in_schema=False)
async def remove_key(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, {"keyId", "proof"}, required=("keyId",))
    key_id, proof = guid(body["keyId"], "keyId"), _proof(body)
    app = await _allowed_to_roll_keys(request, who)
    await run_in_threadpool(app_credentials.remove_key, rt.ctx, who.tenant_id, app.id, key_id, proof,
                            actor_of(request, who))
    return no_content()

"""Discovery documents (spec §2.2, §2.3; real-clients §6): OpenID configuration (v2.0 and v1), instance
discovery and user realm discovery, shaped as Microsoft Entra ID serves them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from consentry.domain.directory import Tenant

TENANT_PLACEHOLDER = "{tenantid}"
CLAIMS_SUPPORTED = ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                    "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name",
                    "tid", "ver", "at_hash", "c_hash", "email"]
DISCOVERY_HEADERS = {"cache-control": "max-age=86400, private", "access-control-allow-origin": "*",
                     "access-control-allow-methods": "GET, OPTIONS"}


def openid_configuration(base_url: str, segment: str, tenant: Tenant | None, *, v2: bool) -> dict[str, Any]:
    """The document for ``/{segment}/v2.0/.well-known/openid-configuration`` (or v1 without ``v2.0``).

    Endpoint URLs keep the segment as requested; the issuer names the tenant GUID, or the literal
    ``{tenantid}`` for ``common`` and ``organizations``.
    """
    tid = tenant.id if tenant else TENANT_PLACEHOLDER
    root = f"{base_url}/{segment}"
    host = urlsplit(base_url).netloc
    if v2:
        doc: dict[str, Any] = {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base_url}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": CLAIMS_SUPPORTED,
            "code_challenge_methods_supported": ["S256", "plain"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "password",
                                      "urn:ietf:params:oauth:grant-type:device_code"],
        }
    else:
        doc = {
            "token_endpoint": f"{root}/oauth2/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{root}/discovery/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": f"{base_url}/{tid}/",
            "microsoft_multi_refresh_token": True,
            "authorization_endpoint": f"{root}/oauth2/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                                 "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                                 "amr", "nonce", "email", "given_name", "family_name", "nickname"],
            "check_session_iframe": f"{root}/oauth2/checksession",
            "userinfo_endpoint": f"{root}/openid/userinfo",
        }
    doc.update({
        "kerberos_endpoint": f"{root}/kerberos",
        "tenant_region_scope": "WW" if tenant else None,
        "cloud_instance_name": host.split(":")[0],
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": base_url,
    })
    return doc


def instance_metadata(base_url: str, authorization_endpoint: str | None, api_version: str) -> dict[str, Any]:
    """``/common/discovery/instance``: where a tenant's configuration lives and which hosts alias this one."""
    parts = urlsplit(base_url)
    tenant = "common"
    if authorization_endpoint:
        segments = [s for s in urlsplit(authorization_endpoint).path.split("/") if s]
        tenant = segments[0] if segments else "common"
    aliases = sorted({parts.hostname or "localhost", parts.netloc})
    return {
        "tenant_discovery_endpoint": f"{base_url}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": api_version or "1.1",
        "metadata": [{"preferred_network": parts.netloc, "preferred_cache": parts.netloc, "aliases": aliases}],
    }


def user_realm(base_url: str, upn: str, tenant: Tenant | None) -> dict[str, Any]:
    domain = upn.rsplit("@", 1)[-1] if "@" in upn else ""
    return {"ver": "1.0", "account_type": "Managed" if tenant else "Unknown",
            "domain_name": domain if tenant else None,
            "cloud_instance_name": urlsplit(base_url).hostname, "cloud_audience_urn": "urn:federation:MicrosoftOnline"}

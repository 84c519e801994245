"""The one error catalog.

Every failure that a client, an administrator or a person at a browser can see is an entry here: its
AADSTS number (reused from Microsoft Entra ID where the meaning matches, so people can search for it),
the OAuth ``error`` value, the HTTP status, the Microsoft Graph error code, a message template and
whether it may be sent back to a client's redirect URI. Renderers at the edges (token JSON, authorize
redirect, Graph envelope, HTML page, CLI line) turn a :class:`ConsentryError` into their own shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CatalogEntry:
    """One kind of failure."""

    name: str
    aadsts: int | None
    oauth_error: str
    http_status: int
    graph_code: str
    message: str
    may_redirect: bool = True
    suberror: str | None = None

    def render(self, params: dict[str, Any]) -> str:
        try:
            return self.message.format(**params)
        except (KeyError, IndexError):
            return self.message


class ConsentryError(Exception):
    """A failure described by a catalog entry and the values its message names."""

    def __init__(self, entry: CatalogEntry, **params: Any) -> None:
        self.entry = entry
        self.params = params
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return self.entry.render(self.params)

    @property
    def description(self) -> str:
        """The message with its ``AADSTSnnnnn: `` prefix, as Entra writes ``error_description``."""
        if self.entry.aadsts is None:
            return self.message
        return f"AADSTS{self.entry.aadsts}: {self.message}"


def _e(name: str, aadsts: int | None, oauth_error: str, status: int, graph_code: str, message: str,
       *, may_redirect: bool = True, suberror: str | None = None) -> CatalogEntry:
    return CatalogEntry(name, aadsts, oauth_error, status, graph_code, message, may_redirect, suberror)


# --- tenants, clients, redirect URIs -------------------------------------------------------------
TENANT_NOT_FOUND = _e(
    "tenant_not_found", 90002, "invalid_request", 400, "Request_ResourceNotFound",
    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
    "the correct cloud.", may_redirect=False)
TENANT_REQUIRED = _e(
    "tenant_required", 90130, "invalid_request", 400, "Request_BadRequest",
    "Application '{app_id}'({app_name}) is not supported over the /common or /consumers endpoints. "
    "Please use the /organizations or tenant-specific endpoint.")
CLIENT_NOT_FOUND = _e(
    "client_not_found", 700016, "unauthorized_client", 400, "Request_ResourceNotFound",
    "Application with identifier '{app_id}' was not found in the directory '{tenant}'. This can happen if "
    "the application has not been installed by the administrator of the tenant or consented to by any user "
    "in the tenant. You may have sent your authentication request to the wrong tenant.",
    may_redirect=False)
REDIRECT_URI_MISMATCH = _e(
    "redirect_uri_mismatch", 50011, "invalid_request", 400, "Request_BadRequest",
    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured "
    "for the application '{app_id}'. Make sure the redirect URI sent in the request matches one added to "
    "your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn "
    "more about how to fix this.", may_redirect=False)
APP_DISABLED = _e(
    "app_disabled", 7000112, "unauthorized_client", 400, "Authorization_RequestDenied",
    "Application '{app_id}'({app_name}) is disabled.")
USER_NOT_ASSIGNED = _e(
    "user_not_assigned", 50105, "invalid_grant", 400, "Authorization_RequestDenied",
    "Your administrator has configured the application {app_name} ('{app_id}') to block users unless they "
    "are specifically granted ('assigned') access to the application. The signed in user '{user}' is "
    "blocked because they are not a direct member of a group with access, nor had access directly assigned "
    "by an administrator. Please contact your administrator to assign access to this application.")
USER_NOT_IN_TENANT = _e(
    "user_not_in_tenant", 50020, "invalid_request", 400, "Authorization_RequestDenied",
    "User account '{user}' from identity provider '{idp}' does not exist in tenant '{tenant}' and cannot "
    "access the application '{app_id}'({app_name}) in that tenant. This account needs to be added as an "
    "external user in the tenant first. Sign out and sign in again with a different Microsoft Entra user "
    "account.")

# --- client authentication -----------------------------------------------------------------------
CLIENT_SECRET_INVALID = _e(
    "client_secret_invalid", 7000215, "invalid_client", 401, "InvalidAuthenticationToken",
    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
    "value, not the client secret ID, for a secret added to app '{app_id}'.")
CLIENT_CREDENTIAL_MISSING = _e(
    "client_credential_missing", 7000218, "invalid_client", 401, "InvalidAuthenticationToken",
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
CLIENT_ASSERTION_INVALID = _e(
    "client_assertion_invalid", 700027, "invalid_client", 401, "InvalidAuthenticationToken",
    "Client assertion failed signature validation. {reason}")
CLIENT_ASSERTION_MALFORMED = _e(
    "client_assertion_malformed", 50027, "invalid_client", 401, "InvalidAuthenticationToken",
    "JWT token is invalid or malformed. {reason}")
CLIENT_ASSERTION_EXPIRED = _e(
    "client_assertion_expired", 700024, "invalid_client", 401, "InvalidAuthenticationToken",
    "Client assertion is not within its valid time range. {reason}")
CLIENT_ASSERTION_REPLAYED = _e(
    "client_assertion_replayed", 50027, "invalid_client", 401, "InvalidAuthenticationToken",
    "JWT token is invalid or malformed. The assertion's 'jti' was used before; assertions are single-use.")
PUBLIC_CLIENT_CONFIDENTIAL_FLOW = _e(
    "public_client_confidential_flow", 700025, "invalid_client", 401, "InvalidAuthenticationToken",
    "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")

# --- request shape -------------------------------------------------------------------------------
MISSING_PARAMETER = _e(
    "missing_parameter", 900144, "invalid_request", 400, "Request_BadRequest",
    "The request body must contain the following parameter: '{name}'.")
MALFORMED_REQUEST = _e(
    "malformed_request", 9002313, "invalid_request", 400, "Request_BadRequest",
    "Invalid request. Request is malformed or invalid. {reason}")
METHOD_NOT_ALLOWED = _e(
    "method_not_allowed", 900561, "invalid_request", 405, "Request_BadRequest",
    "The endpoint only accepts {allowed} requests. Received a {method} request.", may_redirect=False)
UNSUPPORTED_GRANT_TYPE = _e(
    "unsupported_grant_type", 70003, "unsupported_grant_type", 400, "Request_BadRequest",
    "The app requested an unsupported grant type '{grant_type}'.")
UNSUPPORTED_RESPONSE_TYPE = _e(
    "unsupported_response_type", 700054, "unsupported_response_type", 400, "Request_BadRequest",
    "response_type '{response_type}' is not enabled for the application.")
UNSUPPORTED_RESPONSE_MODE = _e(
    "unsupported_response_mode", 900144, "invalid_request", 400, "Request_BadRequest",
    "The provided value '{response_mode}' for the input parameter 'response_mode' is not valid.")
PKCE_REQUIRED = _e(
    "pkce_required", 9002325, "invalid_request", 400, "Request_BadRequest",
    "Proof Key for Code Exchange is required for public client authorization code flows.")
PKCE_METHOD_INVALID = _e(
    "pkce_method_invalid", 501491, "invalid_request", 400, "Request_BadRequest",
    "Invalid size of Code_Challenge parameter or unsupported code_challenge_method '{method}'.")

# --- scopes and resources ------------------------------------------------------------------------
INVALID_SCOPE = _e(
    "invalid_scope", 70011, "invalid_scope", 400, "Request_BadRequest",
    "The provided request must include a 'scope' input parameter. The provided value for the input "
    "parameter 'scope' isn't valid. {reason}")
DEFAULT_SCOPE_MIXED = _e(
    "default_scope_mixed", 70011, "invalid_scope", 400, "Request_BadRequest",
    "The provided value for the input parameter 'scope' isn't valid. The scope {scope} isn't valid. "
    "static scope limit exceeded: .default scope can't be combined with resource-specific scopes.")
MULTIPLE_RESOURCES = _e(
    "multiple_resources", 700022, "invalid_scope", 400, "Request_BadRequest",
    "The provided value for the input parameter scope is not valid because it contains more than one "
    "resource. Scope {scope} is not valid.")
CLIENT_CREDENTIALS_SCOPE = _e(
    "client_credentials_scope", 1002012, "invalid_scope", 400, "Request_BadRequest",
    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
    "with /.default suffixed to the resource identifier (application ID URI).")
RESOURCE_NOT_FOUND = _e(
    "resource_not_found", 500011, "invalid_resource", 400, "Request_ResourceNotFound",
    "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen "
    "if the application has not been installed by the administrator of the tenant or consented to by any "
    "user in the tenant. You might have sent your authentication request to the wrong tenant.")
SCOPE_NOT_FOUND = _e(
    "scope_not_found", 650053, "invalid_scope", 400, "Request_BadRequest",
    "The application '{app_name}' asked for scope '{scope}' that doesn't exist on the resource "
    "'{resource}'. Contact the app vendor.")

# --- consent -------------------------------------------------------------------------------------
CONSENT_REQUIRED = _e(
    "consent_required", 65001, "invalid_grant", 400, "Authorization_RequestDenied",
    "The user or administrator has not consented to use the application with ID '{app_id}' named "
    "'{app_name}'. Send an interactive authorization request for this user and resource.",
    suberror="consent_required")
CONSENT_REQUIRED_INTERACTIVE = _e(
    "consent_required_interactive", 65001, "consent_required", 400, "Authorization_RequestDenied",
    "The user or administrator has not consented to use the application with ID '{app_id}' named "
    "'{app_name}'. Send an interactive authorization request for this user and resource.")
USER_DECLINED = _e(
    "user_declined", 65004, "access_denied", 400, "Authorization_RequestDenied",
    "User declined to consent to access the app.")
ADMIN_CONSENT_REQUIRED = _e(
    "admin_consent_required", 90094, "access_denied", 400, "Authorization_RequestDenied",
    "The grant requires admin permission.")
APPROVAL_REQUIRED = _e(
    "approval_required", 90095, "access_denied", 400, "Authorization_RequestDenied",
    "Admin consent is required for the permissions requested by this application. An admin consent request "
    "may be sent to the admin.")
NOT_AUTHORIZED_TO_GRANT = _e(
    "not_authorized_to_grant", 90093, "access_denied", 400, "Authorization_RequestDenied",
    "{app_name} is requesting one or more permissions that you aren't authorized to grant. Contact an "
    "administrator, who can consent to this application on your behalf.")
RISKY_APP_ADMIN_CONSENT_REQUIRED = _e(
    "risky_app_admin_consent_required", 900941, "access_denied", 400, "Authorization_RequestDenied",
    "Administrator consent is required. App is considered risky.")
RISKY_APP_WARNING = _e(
    "risky_app_warning", 900981, "access_denied", 400, "Authorization_RequestDenied",
    "An admin consent request was received for a risky app.")
RESOURCE_NOT_SUBSCRIBED = _e(
    "resource_not_subscribed", 650052, "invalid_resource", 400, "Request_BadRequest",
    "The app needs access to a service (\"{resource}\") that your organization \"{tenant}\" has not subscribed "
    "to or enabled. Contact your IT Admin to review the configuration of your service subscriptions.")

# --- users and sign-in ---------------------------------------------------------------------------
INVALID_PASSWORD = _e(
    "invalid_password", 50126, "invalid_grant", 400, "Authorization_RequestDenied",
    "Error validating credentials due to invalid username or password.")
ACCOUNT_LOCKED = _e(
    "account_locked", 50053, "invalid_grant", 400, "Authorization_RequestDenied",
    "Your account is locked because you've tried to sign in too many times with an incorrect user ID or "
    "password. Wait a minute and try again.")
USER_DISABLED = _e(
    "user_disabled", 50057, "invalid_grant", 400, "Authorization_RequestDenied",
    "The user account is disabled. The account has been disabled by an administrator.")
LOGIN_REQUIRED = _e(
    "login_required", 50058, "login_required", 400, "Authorization_RequestDenied",
    "A silent sign-in request was sent but no user is signed in.")
FLOW_EXPIRED = _e(
    "flow_expired", 50089, "invalid_request", 400, "Request_BadRequest",
    "Authentication failed due to flow token expired. Start the sign-in again from the application.",
    may_redirect=False)
FORM_TOKEN_INVALID = _e(
    "form_token_invalid", 50089, "invalid_request", 403, "Request_BadRequest",
    "The form could not be verified (its anti-forgery token is missing or does not match). Reload the page "
    "and try again.", may_redirect=False)

# --- codes, refresh tokens, device codes ---------------------------------------------------------
CODE_INVALID = _e(
    "code_invalid", 70000, "invalid_grant", 400, "Request_BadRequest",
    "The provided value for the 'code' parameter is not valid.")
CODE_REDEEMED = _e(
    "code_redeemed", 54005, "invalid_grant", 400, "Request_BadRequest",
    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
    "existing refresh token.")
CODE_EXPIRED = _e(
    "code_expired", 70008, "invalid_grant", 400, "Request_BadRequest",
    "The provided authorization code or refresh token has expired due to inactivity. Send a new "
    "interactive authorization request for this user and resource.")
CODE_CLIENT_MISMATCH = _e(
    "code_client_mismatch", 70000, "invalid_grant", 400, "Request_BadRequest",
    "The provided value for the 'code' parameter is not valid. The code was issued to another client.")
CODE_REDIRECT_MISMATCH = _e(
    "code_redirect_mismatch", 70000, "invalid_grant", 400, "Request_BadRequest",
    "The provided value for the input parameter 'redirect_uri' is not valid. It must match the "
    "redirect_uri of the authorization request.")
PKCE_MISMATCH = _e(
    "pkce_mismatch", 501481, "invalid_grant", 400, "Request_BadRequest",
    "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
REFRESH_TOKEN_INVALID = _e(
    "refresh_token_invalid", 9002313, "invalid_grant", 400, "Request_BadRequest",
    "Invalid request. Request is malformed or invalid. The refresh token is not valid.")
REFRESH_TOKEN_EXPIRED = _e(
    "refresh_token_expired", 700082, "invalid_grant", 400, "Request_BadRequest",
    "The refresh token has expired due to inactivity. Sign in again.")
REFRESH_TOKEN_REVOKED = _e(
    "refresh_token_revoked", 50173, "invalid_grant", 400, "Request_BadRequest",
    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might "
    "have changed or reset their password, or a refresh token was used twice.")
AUTHORIZATION_PENDING = _e(
    "authorization_pending", 70016, "authorization_pending", 400, "Request_BadRequest",
    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
DEVICE_CODE_EXPIRED = _e(
    "device_code_expired", 70019, "expired_token", 400, "Request_BadRequest",
    "Verification code expired.")
DEVICE_CODE_DECLINED = _e(
    "device_code_declined", 65004, "access_denied", 400, "Authorization_RequestDenied",
    "User declined to consent to access the app.")
USER_CODE_INVALID = _e(
    "user_code_invalid", 70000, "invalid_grant", 400, "Request_BadRequest",
    "The code you entered is not valid or has expired. Check the code and try again.", may_redirect=False)

# --- the service itself --------------------------------------------------------------------------
SERVER_ERROR = _e(
    "server_error", 50000, "server_error", 500, "generalException",
    "There was an error issuing a token or an issue with our sign-in service.", may_redirect=False)
TEMPORARILY_UNAVAILABLE = _e(
    "temporarily_unavailable", 90090, "temporarily_unavailable", 503, "serviceNotAvailable",
    "The service is temporarily unavailable. Try again later.", may_redirect=False)
NOT_FOUND = _e(
    "not_found", None, "invalid_request", 404, "Request_ResourceNotFound",
    "The requested address was not found on this server.", may_redirect=False)
CONFLICT = _e(
    "conflict", None, "invalid_request", 409, "Request_MultipleObjectsWithSameKeyValue",
    "{reason}", may_redirect=False)
INVALID_VALUE = _e(
    "invalid_value", None, "invalid_request", 400, "Request_BadRequest", "{reason}", may_redirect=False)


def entries_for_code(aadsts: int) -> list[CatalogEntry]:
    """Every catalog entry with this AADSTS number (some numbers cover several situations)."""
    return [e for e in globals().values() if isinstance(e, CatalogEntry) and e.aadsts == aadsts]


# --- Microsoft Graph -------------------------------------------------------------------------------
GRAPH_UNAUTHENTICATED = _e(
    "graph_unauthenticated", None, "invalid_token", 401, "InvalidAuthenticationToken",
    "{reason}", may_redirect=False)
MAILBOX_ACCESS_DENIED = _e(
    "mailbox_access_denied", None, "access_denied", 403, "ErrorAccessDenied",
    "Access is denied. Check credentials and try again.", may_redirect=False)
GRAPH_FORBIDDEN = _e(
    "graph_forbidden", None, "access_denied", 403, "Authorization_RequestDenied",
    "Insufficient privileges to complete the operation.", may_redirect=False)
GRAPH_NOT_FOUND = _e(
    "graph_not_found", None, "invalid_request", 404, "Request_ResourceNotFound",
    "Resource '{id}' does not exist or one of its queried reference-property objects are not present.",
    may_redirect=False)
GRAPH_BAD_REQUEST = _e(
    "graph_bad_request", None, "invalid_request", 400, "Request_BadRequest", "{reason}", may_redirect=False)
GRAPH_UNSUPPORTED_QUERY = _e(
    "graph_unsupported_query", None, "invalid_request", 400, "Request_UnsupportedQuery", "{reason}",
    may_redirect=False)

# --- directory roles -----------------------------------------------------------------------------
GLOBAL_ADMIN_SELF_REMOVAL = _e(
    "global_admin_self_removal", None, "invalid_request", 400, "Request_BadRequest",
    "Removing self from Global Administrator built-in role is not allowed.", may_redirect=False)
LAST_GLOBAL_ADMIN = _e(
    "last_global_admin", None, "invalid_request", 400, "Request_BadRequest",
    "The tenant must keep at least one enabled Global Administrator.", may_redirect=False)

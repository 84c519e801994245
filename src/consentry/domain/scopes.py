"""Parsing the OAuth ``scope`` parameter the way the Microsoft identity platform reads it (spec §3.1, §3.3).

* ``openid``, ``profile``, ``email`` and ``offline_access`` are the OpenID Connect scopes.
* A value without a resource prefix is a Microsoft Graph permission: ``User.Read`` is
  ``https://graph.microsoft.com/User.Read``.
* ``{resource}/.default`` asks for whatever is statically configured or granted for that resource, and
  cannot be combined with resource-specific scopes of any resource (AADSTS70011).
* A resource URI that itself ends with ``/`` is written with a double slash: ``https://x.example//.default``.
"""

from __future__ import annotations

from dataclasses import dataclass

from consentry.errors import DEFAULT_SCOPE_MIXED, INVALID_SCOPE, MULTIPLE_RESOURCES, ConsentryError

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_RESOURCE = "https://graph.microsoft.com"
DEFAULT = ".default"
MAX_SCOPE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class ScopeItem:
    resource: str  # an identifier URI or appId, as the client wrote it
    value: str  # a permission value, or ".default"

    @property
    def is_default(self) -> bool:
        return self.value == DEFAULT


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    oidc: frozenset[str]
    items: tuple[ScopeItem, ...]

    @property
    def is_default(self) -> bool:
        return any(item.is_default for item in self.items)

    @property
    def resources(self) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for item in self.items:
            seen.setdefault(resource_key(item.resource), item.resource)
        return tuple(seen.values())

    def values_for(self, resource: str) -> tuple[str, ...]:
        key = resource_key(resource)
        return tuple(item.value for item in self.items if resource_key(item.resource) == key)

    def single_resource(self, raw: str) -> str:
        """The one resource a token request may name (AADSTS700022 otherwise); Graph when none is named."""
        resources = self.resources
        if len(resources) > 1:
            raise ConsentryError(MULTIPLE_RESOURCES, scope=raw)
        return resources[0] if resources else GRAPH_RESOURCE


def resource_key(resource: str) -> str:
    """Compare resource identifiers case-insensitively and without a trailing slash."""
    return resource.rstrip("/").lower()


def _split_item(value: str) -> ScopeItem:
    if "/" not in value:
        return ScopeItem(GRAPH_RESOURCE, value)
    resource, _, permission = value.rpartition("/")
    if not resource or not permission:
        raise ConsentryError(INVALID_SCOPE, reason=f"The scope '{value}' is not valid.")
    return ScopeItem(resource, permission)


def parse_scope(raw: str | None, *, required: bool = True) -> ScopeRequest:
    """Parse a space-separated scope string. Raises AADSTS70011 on an empty or malformed value."""
    raw = raw or ""
    if len(raw) > MAX_SCOPE_LENGTH:
        raise ConsentryError(INVALID_SCOPE, reason="The scope parameter is too long.")
    oidc: set[str] = set()
    items: list[ScopeItem] = []
    for value in raw.split():
        if value.lower() in OIDC_SCOPES:
            oidc.add(value.lower())
        elif any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in value):
            raise ConsentryError(INVALID_SCOPE, reason=f"The scope '{value}' is not valid.")
        else:
            items.append(_split_item(value))
    if required and not oidc and not items:
        raise ConsentryError(INVALID_SCOPE, reason="The scope parameter is empty.")
    request = ScopeRequest(frozenset(oidc), tuple(dict.fromkeys(items)))
    if request.is_default and any(not item.is_default for item in request.items):
        raise ConsentryError(DEFAULT_SCOPE_MIXED, scope=raw)
    return request


def format_scope(resource: str, values: list[str] | tuple[str, ...], *, qualify: bool) -> list[str]:
    """Scope strings as a token response's ``scope`` lists them: Graph's unqualified, others qualified."""
    if not qualify or resource_key(resource) == resource_key(GRAPH_RESOURCE):
        return list(values)
    return [f"{resource.rstrip('/')}/{value}" if value.lower() not in OIDC_SCOPES else value for value in values]

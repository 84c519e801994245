"""App consent policies (``permissionGrantPolicy``, spec §6.1, §6.3, §7.5, §11) and who they let consent.

A *permission event* is one permission being granted to one client for one resource. A policy matches an
event when at least one of its ``includes`` condition sets matches and none of *its own* ``excludes`` do; a
condition set matches only when every one of its conditions does. A user may consent to a list of
permissions when, for each one, at least one of the user's applicable policies matches.

Applicable policies:

* for consent on one's own behalf, the default user role's ``ManagePermissionGrantsForSelf.{id}`` entries
  (the prefix compared case-insensitively; an empty list means user consent is off), plus the policies a
  directory role grants for all users (whoever may consent for everyone may consent for themselves);
* for tenant-wide consent, the ``managePermissionGrantsForAll.{id}`` policies of the user's directory
  roles: Global Administrator and Privileged Role Administrator hold ``microsoft-company-admin``
  (everything), Cloud Application Administrator and Application Administrator hold
  ``microsoft-application-admin`` (everything except Microsoft Graph app roles).

The built-in ``microsoft-*`` policies are generated per tenant, because two of them name the tenant
itself ("apps registered in this organization").
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.directory import (
    APPLICATION_ADMINISTRATOR,
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    PRIVILEGED_ROLE_ADMINISTRATOR,
)

DELEGATED = "delegated"
APPLICATION = "application"
DELEGATED_USER_CONSENTABLE = "delegatedUserConsentable"
PERMISSION_TYPES = (DELEGATED, APPLICATION, DELEGATED_USER_CONSENTABLE)
CLASSIFICATIONS = ("low", "medium", "high", "all")
ALL = "all"
ANY = "any"

SELF_PREFIX = "managepermissiongrantsforself."
BUILTIN_PREFIX = "microsoft-"
_CONDITION_SET_NAMESPACE = uuid.UUID("6f2b8a1e-4c3d-5e7f-9a0b-1c2d3e4f5a6b")
POLICY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

USER_DEFAULT_LOW = "microsoft-user-default-low"
USER_DEFAULT_LEGACY = "microsoft-user-default-legacy"
USER_DEFAULT_RECOMMENDED = "microsoft-user-default-recommended"
USER_DEFAULT_ALLOW_CONSENT_APPS = "microsoft-user-default-allow-consent-apps"
ALL_APPLICATION_PERMISSIONS = "microsoft-all-application-permissions"
ALL_APPLICATION_PERMISSIONS_VERIFIED = "microsoft-all-application-permissions-verified"
APPLICATION_ADMIN = "microsoft-application-admin"
COMPANY_ADMIN = "microsoft-company-admin"

# The four portal settings of spec §6.1, as the self-consent policy ids each one assigns.
USER_CONSENT_SETTINGS: dict[str, tuple[str, ...]] = {
    "none": (),
    "low": (USER_DEFAULT_LOW,),
    "legacy": (USER_DEFAULT_LEGACY,),
    "recommended": (USER_DEFAULT_RECOMMENDED, USER_DEFAULT_ALLOW_CONSENT_APPS),
}
DEFAULT_USER_CONSENT_SETTING = "recommended"  # Microsoft's default for new tenants

# Tenant-wide consent rights of the directory roles (spec §7.5).
ROLE_POLICIES: dict[str, tuple[str, ...]] = {
    GLOBAL_ADMINISTRATOR.id: (COMPANY_ADMIN,),
    PRIVILEGED_ROLE_ADMINISTRATOR.id: (COMPANY_ADMIN,),
    CLOUD_APPLICATION_ADMINISTRATOR.id: (APPLICATION_ADMIN,),
    APPLICATION_ADMINISTRATOR.id: (APPLICATION_ADMIN,),
}

# Mail clients and permissions of Microsoft's "popular mail clients" policy (spec §6.3).
MAIL_CLIENT_APP_IDS = (
    "f8d98a96-0999-43f5-8af3-69971c7bb423",  # Apple Mail (Apple Internet Accounts)
    "b50c1dbd-1855-4e54-b07c-d3c3029e93d3",  # Spark Email
    "e9a7fea1-1cc0-4cd9-a31b-9137ca5deedd",  # eM Client
    "8acd33ea-7197-4a96-bc33-d7cc7101262f",  # Android-Samsung
    "2cee05de-2b8f-45a2-8289-2a06ca32c4c8",  # Android-Mail
    "9e5f94bc-e8a4-4e73-b8be-63364c29d753",  # Thunderbird
)
RECOMMENDED_EXCLUDED_GRAPH = (
    "Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All", "Mail.Read", "Mail.ReadWrite",
    "Mail.ReadBasic", "Mail.Read.Shared", "Mail.ReadBasic.Shared", "Mail.ReadWrite.Shared", "MailboxItem.Read",
    "Calendars.Read", "Calendars.ReadBasic", "Calendars.ReadWrite", "Calendars.Read.Shared",
    "Calendars.ReadWrite.Shared", "Chat.Read", "Chat.ReadWrite", "OnlineMeetings.Read", "OnlineMeetings.ReadWrite",
    "MailBoxFolder.Read", "MailBoxFolder.ReadWrite", "MailBoxSettings.Read", "MailBoxSettings.ReadWrite",
    "Contacts.ReadWrite", "Contacts.Read.Shared", "Contacts.ReadWrite.Shared", "Tasks.Read", "Tasks.Read.Shared",
    "Tasks.ReadWrite", "Tasks.ReadWrite.Shared", "People.Read")
RECOMMENDED_EXCLUDED_EXCHANGE = ("EAS.AccessAsUser.All", "EWS.AccessAsUser.All", "IMAP.AccessAsUser.All",
                                 "POP.AccessAsUser.All")


@dataclass(frozen=True, slots=True)
class ConditionSet:
    """``permissionGrantConditionSet`` (v1.0 fields); ``all``/``any`` mean "no restriction"."""

    id: str
    permission_type: str
    permission_classification: str = ALL
    resource_application: str = ANY
    permissions: tuple[str, ...] = (ALL,)
    client_application_ids: tuple[str, ...] = (ALL,)
    client_application_tenant_ids: tuple[str, ...] = (ALL,)
    client_application_publisher_ids: tuple[str, ...] = (ALL,)
    client_applications_from_verified_publisher_only: bool = False


@dataclass(frozen=True, slots=True)
class PermissionGrantPolicy:
    id: str
    display_name: str
    description: str
    includes: tuple[ConditionSet, ...]
    excludes: tuple[ConditionSet, ...] = ()

    @property
    def is_builtin(self) -> bool:
        return self.id.lower().startswith(BUILTIN_PREFIX)


@dataclass(frozen=True, slots=True)
class PermissionEvent:
    """One permission, one client, one resource: what a condition set is matched against."""

    permission_type: str  # "delegated" or "application"
    permission_id: str
    permission_value: str
    resource_app_id: str
    admin_only: bool  # a delegated permission the API marked "Admin" (always True for app roles)
    classification: str | None  # "low", "medium", "high" or None (unclassified)
    client_app_id: str
    client_tenant_id: str | None  # the client's home tenant; None for Microsoft's own applications
    client_publisher_id: str | None  # verified publisher (MPN) id
    client_verified: bool


def _in(values: tuple[str, ...], wanted: str | None) -> bool:
    if ALL in (v.lower() for v in values):
        return True
    return wanted is not None and wanted.lower() in (v.lower() for v in values)


def condition_set_matches(cs: ConditionSet, ev: PermissionEvent) -> bool:
    if cs.permission_type == DELEGATED_USER_CONSENTABLE:
        type_ok = ev.permission_type == DELEGATED and not ev.admin_only
    else:
        type_ok = cs.permission_type == ev.permission_type
    return (type_ok
            and (cs.permission_classification == ALL or cs.permission_classification == ev.classification)
            and cs.resource_application.lower() in (ANY, ev.resource_app_id.lower())
            and _in(cs.permissions, ev.permission_id)
            and _in(cs.client_application_ids, ev.client_app_id)
            and _in(cs.client_application_tenant_ids, ev.client_tenant_id)
            and _in(cs.client_application_publisher_ids, ev.client_publisher_id)
            and (not cs.client_applications_from_verified_publisher_only or ev.client_verified))


def policy_matches(policy: PermissionGrantPolicy, ev: PermissionEvent) -> bool:
    return (any(condition_set_matches(cs, ev) for cs in policy.includes)
            and not any(condition_set_matches(cs, ev) for cs in policy.excludes))


def all_covered(policies: Sequence[PermissionGrantPolicy], events: Iterable[PermissionEvent]) -> bool:
    """Every event is matched by at least one of the policies (an empty event list is covered)."""
    return all(any(policy_matches(p, ev) for p in policies) for ev in events)


def uncovered(policies: Sequence[PermissionGrantPolicy], events: Iterable[PermissionEvent]) -> list[PermissionEvent]:
    return [ev for ev in events if not any(policy_matches(p, ev) for p in policies)]


# --- the default user role's assigned policies -------------------------------------------------------
def self_policy_ids(assigned: Iterable[str]) -> tuple[str, ...]:
    """The policy ids behind ``ManagePermissionGrantsForSelf.{id}`` entries, prefix in either casing."""
    ids = []
    for entry in assigned:
        if entry.lower().startswith(SELF_PREFIX):
            ids.append(entry[len(SELF_PREFIX):])
    return tuple(dict.fromkeys(ids))


def with_self_policies(assigned: Sequence[str], policy_ids: Sequence[str]) -> tuple[str, ...]:
    """``assigned`` with its self-consent entries replaced by ``policy_ids``; other entries (owned
    resources, developer consent) are kept in place."""
    others = [e for e in assigned if not e.lower().startswith(SELF_PREFIX)]
    return (*others, *(f"ManagePermissionGrantsForSelf.{pid}" for pid in policy_ids))


def user_consent_setting(assigned: Sequence[str]) -> str:
    """The portal option a list of assigned policies amounts to: one of USER_CONSENT_SETTINGS, or
    ``custom``."""
    ids = tuple(sorted(pid.lower() for pid in self_policy_ids(assigned)))
    for name, policy_ids in USER_CONSENT_SETTINGS.items():
        if ids == tuple(sorted(policy_ids)):
            return name
    return "custom"


def role_policy_ids(role_template_ids: Iterable[str]) -> tuple[str, ...]:
    ids: list[str] = []
    for role in role_template_ids:
        ids.extend(ROLE_POLICIES.get(role, ()))
    return tuple(dict.fromkeys(ids))


# --- built-in policies ------------------------------------------------------------------------------
def _ids(resource_app_id: str, values: Sequence[str]) -> tuple[str, ...]:
    """Permission ids of the named delegated permissions that the built-in resource publishes."""
    resource = find_builtin_application(resource_app_id)
    published = {s.value.lower(): s.id for s in resource.scopes} if resource else {}
    return tuple(published[v.lower()] for v in values if v.lower() in published)


@dataclass(frozen=True, slots=True)
class _Builtin:
    id: str
    display_name: str
    description: str
    includes: list[dict[str, object]]
    excludes: list[dict[str, object]] = field(default_factory=list)


def _builtin_definitions(tenant_id: str) -> list[_Builtin]:
    graph_mail = _ids(MICROSOFT_GRAPH, RECOMMENDED_EXCLUDED_GRAPH)
    exchange_mail = _ids(EXCHANGE_ONLINE, RECOMMENDED_EXCLUDED_EXCHANGE)
    mail_clients = list(MAIL_CLIENT_APP_IDS)
    return [
        _Builtin(USER_DEFAULT_LOW, "Microsoft User Default Low Policy",
                 "All low risk permissions consentable by member type users by default: apps from verified "
                 "publishers or registered in this organization, permissions classified low.",
                 [dict(permission_type=DELEGATED_USER_CONSENTABLE, permission_classification="low",
                       client_applications_from_verified_publisher_only=True),
                  dict(permission_type=DELEGATED_USER_CONSENTABLE, permission_classification="low",
                       client_application_tenant_ids=[tenant_id])]),
        _Builtin(USER_DEFAULT_LEGACY, "Microsoft User Default Legacy Policy",
                 "All user-consentable delegated permissions, for any application.",
                 [dict(permission_type=DELEGATED_USER_CONSENTABLE)]),
        _Builtin(USER_DEFAULT_RECOMMENDED, "Microsoft User Default Recommended Policy",
                 "Permissions consentable based on Microsoft's current recommendations.",
                 [dict(permission_type=DELEGATED_USER_CONSENTABLE)],
                 [dict(permission_type=DELEGATED, resource_application=MICROSOFT_GRAPH, permissions=graph_mail),
                  dict(permission_type=DELEGATED, resource_application=EXCHANGE_ONLINE, permissions=exchange_mail)]),
        _Builtin(USER_DEFAULT_ALLOW_CONSENT_APPS, "Microsoft User Default Allow Consent Apps Policy",
                 "Popular mail clients consentable for users.",
                 [dict(permission_type=DELEGATED, resource_application=MICROSOFT_GRAPH, permissions=graph_mail,
                       client_application_ids=mail_clients),
                  dict(permission_type=DELEGATED, resource_application=EXCHANGE_ONLINE, permissions=exchange_mail,
                       client_application_ids=mail_clients)]),
        _Builtin(ALL_APPLICATION_PERMISSIONS, "All application permissions, for any client app",
                 "Includes all application permissions (app roles), for all APIs, for any client application.",
                 [dict(permission_type=APPLICATION)]),
        _Builtin(ALL_APPLICATION_PERMISSIONS_VERIFIED, "All application permissions, for verified client apps",
                 "Includes all application permissions (app roles), for all APIs, for client applications from "
                 "verified publishers or registered in this organization.",
                 [dict(permission_type=APPLICATION, client_applications_from_verified_publisher_only=True),
                  dict(permission_type=APPLICATION, client_application_tenant_ids=[tenant_id])]),
        _Builtin(APPLICATION_ADMIN, "Application Administrator",
                 "Permissions consentable by Application Administrators and Cloud Application Administrators: "
                 "all delegated permissions and all application permissions except those of Microsoft Graph.",
                 [dict(permission_type=DELEGATED), dict(permission_type=APPLICATION)],
                 [dict(permission_type=APPLICATION, resource_application=MICROSOFT_GRAPH)]),
        _Builtin(COMPANY_ADMIN, "Company Administrator",
                 "Permissions consentable by Company Administrators: all delegated and all application "
                 "permissions.",
                 [dict(permission_type=DELEGATED), dict(permission_type=APPLICATION)]),
    ]


def _condition_set(policy_id: str, kind: str, index: int, raw: dict[str, object]) -> ConditionSet:
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    # Stable ids, so a GET of a built-in policy never changes between calls.
    set_id = str(uuid.uuid5(_CONDITION_SET_NAMESPACE, f"{policy_id}/{kind}/{index}"))
    return ConditionSet(id=set_id, **values)  # type: ignore[arg-type]


def builtin_policies(tenant_id: str) -> tuple[PermissionGrantPolicy, ...]:
    return tuple(PermissionGrantPolicy(
        d.id, d.display_name, d.description,
        tuple(_condition_set(d.id, "include", i, raw) for i, raw in enumerate(d.includes)),
        tuple(_condition_set(d.id, "exclude", i, raw) for i, raw in enumerate(d.excludes)))
        for d in _builtin_definitions(tenant_id))


def is_builtin_policy_id(policy_id: str) -> bool:
    return policy_id.lower().startswith(BUILTIN_PREFIX)

"""Who may do what in the admin plane (Microsoft Graph), as Graph decides it.

A delegated call needs one of the operation's delegated permissions in ``scp`` *and*, for the user,
one of the directory roles the operation requires (checked against the directory now, not the token).
An app-only call needs one of its application permissions in ``roles``. Missing either: 403
``Authorization_RequestDenied``.
"""

from __future__ import annotations

from dataclasses import dataclass

from consentry.domain.callers import Caller
from consentry.domain.directory import (
    APPLICATION_ADMINISTRATOR,
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
    PRIVILEGED_ROLE_ADMINISTRATOR,
)
from consentry.errors import GRAPH_FORBIDDEN, ConsentryError
from consentry.services.context import ServiceContext
from consentry.services.directory import role_template_ids_of

ANY_USER: frozenset[str] = frozenset()
APP_ADMINS = frozenset({GLOBAL_ADMINISTRATOR.id, CLOUD_APPLICATION_ADMINISTRATOR.id, APPLICATION_ADMINISTRATOR.id})
READERS = frozenset({*APP_ADMINS, GLOBAL_READER.id, PRIVILEGED_ROLE_ADMINISTRATOR.id})
GRANT_ADMINS = frozenset({*APP_ADMINS, PRIVILEGED_ROLE_ADMINISTRATOR.id})
ROLE_ADMINS = frozenset({GLOBAL_ADMINISTRATOR.id, PRIVILEGED_ROLE_ADMINISTRATOR.id})
USER_ADMINS = frozenset({GLOBAL_ADMINISTRATOR.id})


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    delegated: frozenset[str]
    application: frozenset[str]
    directory_roles: frozenset[str]  # empty: any signed-in member of the tenant


def _op(name: str, delegated: str, application: str, roles: frozenset[str]) -> Operation:
    return Operation(name, frozenset(delegated.split()), frozenset(application.split()), roles)


_DIR_READ = "Directory.Read.All Directory.ReadWrite.All"
READ_USERS = _op("read users", f"User.Read User.ReadBasic.All User.Read.All User.ReadWrite.All {_DIR_READ}",
                 f"User.Read.All User.ReadWrite.All {_DIR_READ}", ANY_USER)
WRITE_USERS = _op("write users", "User.ReadWrite.All Directory.ReadWrite.All",
                  "User.ReadWrite.All Directory.ReadWrite.All", USER_ADMINS)
READ_GROUPS = _op("read groups", f"Group.Read.All Group.ReadWrite.All {_DIR_READ}",
                  f"Group.Read.All Group.ReadWrite.All {_DIR_READ}", ANY_USER)
WRITE_GROUPS = _op("write groups", "Group.ReadWrite.All Directory.ReadWrite.All",
                   "Group.ReadWrite.All Directory.ReadWrite.All", USER_ADMINS)
READ_ORGANIZATION = _op("read organization", f"User.Read Organization.Read.All {_DIR_READ}",
                        f"Organization.Read.All {_DIR_READ}", ANY_USER)
READ_ROLES = _op("read directory roles", f"RoleManagement.Read.Directory RoleManagement.ReadWrite.Directory "
                 f"{_DIR_READ}", f"RoleManagement.Read.Directory RoleManagement.ReadWrite.Directory {_DIR_READ}",
                 ANY_USER)
WRITE_ROLES = _op("write directory roles", "RoleManagement.ReadWrite.Directory",
                  "RoleManagement.ReadWrite.Directory", ROLE_ADMINS)
READ_APPS = _op("read applications", f"Application.Read.All Application.ReadWrite.All {_DIR_READ}",
                f"Application.Read.All Application.ReadWrite.All {_DIR_READ}", ANY_USER)
WRITE_APPS = _op("write applications", "Application.ReadWrite.All Directory.ReadWrite.All",
                 "Application.ReadWrite.All Directory.ReadWrite.All", APP_ADMINS)
READ_GRANTS = _op("read permission grants", f"DelegatedPermissionGrant.ReadWrite.All Application.Read.All "
                  f"Application.ReadWrite.All {_DIR_READ}", f"Application.Read.All Application.ReadWrite.All "
                  f"{_DIR_READ}", ANY_USER)
WRITE_GRANTS = _op("write permission grants", "DelegatedPermissionGrant.ReadWrite.All Directory.ReadWrite.All",
                   "DelegatedPermissionGrant.ReadWrite.All Directory.ReadWrite.All", GRANT_ADMINS)
WRITE_ASSIGNMENTS = _op("write app role assignments", "AppRoleAssignment.ReadWrite.All Directory.ReadWrite.All",
                        "AppRoleAssignment.ReadWrite.All Directory.ReadWrite.All", GRANT_ADMINS)
# Spec §7.5: Cloud and Application Administrators (and apps holding only Application.ReadWrite.All) may grant
# any app role except Microsoft Graph's to a service principal.
GRANT_GRAPH_APP_ROLES = _op("grant Microsoft Graph app roles", "AppRoleAssignment.ReadWrite.All",
                            "AppRoleAssignment.ReadWrite.All", ROLE_ADMINS)
READ_DIRECTORY_OBJECTS = _op("read directory objects", f"User.Read.All User.ReadWrite.All Group.Read.All "
                             f"Application.Read.All Application.ReadWrite.All {_DIR_READ}",
                             f"User.Read.All Application.Read.All Application.ReadWrite.All {_DIR_READ}", ANY_USER)
READ_AUDIT = _op("read audit logs", "AuditLog.Read.All", "AuditLog.Read.All", READERS)


def ensure_allowed(ctx: ServiceContext, caller: Caller, operation: Operation) -> None:
    """Raise 403 unless the caller holds the operation's permission (and, delegated, a suitable role)."""
    if caller.is_app_only:
        if caller.roles & operation.application:
            return
        raise ConsentryError(GRAPH_FORBIDDEN)
    if not caller.scopes & operation.delegated:
        raise ConsentryError(GRAPH_FORBIDDEN)
    if operation.directory_roles:
        with ctx.uow.read() as tx:
            held = role_template_ids_of(tx.tenant(caller.tenant_id), caller.object_id)
        if not held & operation.directory_roles:
            raise ConsentryError(GRAPH_FORBIDDEN)


def directory_roles(ctx: ServiceContext, tenant_id: str, user_id: str) -> frozenset[str]:
    """The directory role template ids a user holds now."""
    with ctx.uow.read() as tx:
        return frozenset(role_template_ids_of(tx.tenant(tenant_id), user_id))

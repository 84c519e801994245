"""``directoryObjects``: any user, group, application or service principal of a tenant, by id."""

from __future__ import annotations

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.directory import Group, User
from consentry.domain.ids import is_guid
from consentry.errors import GRAPH_NOT_FOUND, ConsentryError
from consentry.services.context import ServiceContext

DirectoryObject = User | Group | Application | ServicePrincipal


def find_directory_object(ctx: ServiceContext, tenant_id: str, object_id: str) -> DirectoryObject:
    if not is_guid(object_id):
        raise ConsentryError(GRAPH_NOT_FOUND, id=object_id[:100])
    object_id = object_id.lower()
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        found: DirectoryObject | None = (scope.directory.find_user(object_id) or scope.directory.find_group(object_id)
                                         or scope.apps.find_application(object_id)
                                         or scope.apps.find_service_principal(object_id))
    if found is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=object_id)
    return found

"""Assertions and lookups the Graph tests share."""

from __future__ import annotations

from typing import Any

import httpx
from tests.support.server import RunningServer

from consentry.services.demo import CONTOSO_TENANT_ID


def assert_graph_error(response: httpx.Response, status: int, code: str,
                       message: str | None = None) -> dict[str, Any]:
    """Graph's envelope with this status and code (and message, when given)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    if message is not None:
        assert error["message"] == message
    return dict(error)


def audit_events(server: RunningServer, activity: str, target_id: str, tenant: str = CONTOSO_TENANT_ID) -> list[Any]:
    with server.ctx.uow.read() as tx:
        events = tx.tenant(tenant).audit.list_events(limit=100_000)
    return [e for e in events if e["activity_display_name"] == activity
            and any(t["id"] == target_id for t in e["target_resources"])]


def service_principal_id(server: RunningServer, app_id: str, tenant: str = CONTOSO_TENANT_ID) -> str:
    with server.ctx.uow.read() as tx:
        sp = tx.tenant(tenant).apps.find_service_principal_by_app_id(app_id)
    assert sp is not None
    return sp.id


def user_id(server: RunningServer, upn: str) -> str:
    with server.ctx.uow.read() as tx:
        user = tx.tenant(CONTOSO_TENANT_ID).directory.find_user_by_upn(upn)
    assert user is not None
    return user.id

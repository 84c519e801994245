"""The admin portal at ``/portal``: server-rendered pages for administrators (navigation and labels follow the
Entra admin center). Each module serves one area; :func:`routes` lists them all."""

from __future__ import annotations

from starlette.routing import Route

from consentry.web.portal import (
    consent_requests,
    consent_settings,
    enterprise_apps,
    groups,
    logs,
    outbox,
    overview,
    registrations,
    users,
)


def routes() -> list[Route]:
    return [
        *overview.routes(),
        *enterprise_apps.routes(),
        *consent_settings.routes(),
        *consent_requests.routes(),
        *registrations.routes(),
        *users.routes(),
        *groups.routes(),
        *logs.routes(),
        *outbox.routes(),
    ]

"""The admin portal at ``/portal``: server-rendered pages for administrators (navigation and labels follow the
Entra admin center). Each module serves one area; :func:`routes` lists them all."""

from __future__ import annotations

from starlette.routing import Route

from consentry.web.portal import overview


def routes() -> list[Route]:
    return [
        *overview.routes(),
    ]

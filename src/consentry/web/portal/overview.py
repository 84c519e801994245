"""Overview: the tenant's name, primary domain and Tenant ID."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.web.portal.base import Admin, page, view


@view
async def overview(request: Request, admin: Admin) -> Response:
    return page(request, admin, "portal/overview.html", nav="overview", title="Overview")


def routes() -> list[Route]:
    return [Route("/portal", overview, methods=["GET"]), Route("/portal/", overview, methods=["GET"])]

"""What every portal page shares: the signed-in administrator, role checks, forms and rendering.

The portal signs administrators in through Consentry's own sign-in page and SSO session. Any of the roles
in :data:`consentry.services.authz.READERS` may look; what may be changed is checked per action, against
the directory roles held *now* (a Global Reader sees every page and every button disabled, and a POST is
refused anyway). A signed-in user without such a role gets a 403 page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from consentry.domain.directory import ROLE_TEMPLATES, Tenant, User
from consentry.errors import GRAPH_NOT_FOUND, INVALID_VALUE, NOT_FOUND, ConsentryError
from consentry.services import authz, directory
from consentry.services.context import Actor
from consentry.services.tokens import Session
from consentry.web.http import client_ip, ensure_csrf, read_form, runtime_of, signed, unsigned
from consentry.web.pages import current_session, error_page, render, start_portal_sign_in


@dataclass(frozen=True, slots=True)
class Admin:
    session: Session
    tenant: Tenant
    roles: frozenset[str]

    @property
    def user(self) -> User:
        return self.session.user

    def may(self, roles: frozenset[str]) -> bool:
        return bool(self.roles & roles)

    @property
    def role_names(self) -> list[str]:
        return sorted(ROLE_TEMPLATES[r].display_name for r in self.roles if r in ROLE_TEMPLATES)


class Refused(Exception):
    """A page answer instead of the page: the sign-in redirect or the 403 page."""

    def __init__(self, response: Response) -> None:
        super().__init__("refused")
        self.response = response


def _load(request: Request, session: Session) -> Admin:
    ctx = runtime_of(request).ctx
    tenant = directory.get_organization(ctx, session.user.tenant_id)
    return Admin(session, tenant, authz.directory_roles(ctx, tenant.id, session.user.id))


async def admin_of(request: Request) -> Admin:
    """The signed-in administrator, or :class:`Refused` with the sign-in redirect or the 403 page."""
    session = await run_in_threadpool(current_session, request)
    if session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Refused(await run_in_threadpool(start_portal_sign_in, request, path if request.method == "GET"
                                              else "/portal"))
    admin = await run_in_threadpool(_load, request, session)
    if not admin.may(authz.READERS):
        raise Refused(render(request, "portal/forbidden.html", status=403, admin=admin, nav=None))
    return admin


def actor(request: Request, admin: Admin) -> Actor:
    return Actor("user", admin.user.id, admin.user.user_principal_name, client_ip(request))


async def form_of(request: Request, admin: Admin, roles: frozenset[str]) -> dict[str, str]:
    """A submitted portal form: anti-forgery token checked, and the administrator holds one of ``roles``."""
    form = await read_form(request)
    ensure_csrf(request, form)
    if not admin.may(roles):
        raise Refused(page(request, admin, "portal/forbidden.html", status=403, nav=None, action_refused=True))
    return form


def page(request: Request, admin: Admin, template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("nav", "overview")
    context.setdefault("confirmation", confirmation(request))
    return render(request, template, status=status, admin=admin, **context)


def done(request: Request, path: str, message: str) -> Response:
    """After a change: back to a page that shows ``message`` as its confirmation (POST-redirect-GET). The
    message is signed, so a crafted link cannot make the portal show a confirmation it never gave."""
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={quote(signed(request, message[:200]))}", status_code=303)


def confirmation(request: Request) -> str | None:
    return unsigned(request, request.query_params.get("done"))


Handler = Callable[[Request, Admin], Awaitable[Response]]


def view(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A portal endpoint: the administrator resolved first; a refusal or a catalog error becomes a page (a
    failed change shows its reason on the portal's error page, and nothing was changed)."""
    async def endpoint(request: Request) -> Response:
        admin: Admin | None = None
        try:
            admin = await admin_of(request)
            return await handler(request, admin)
        except Refused as refused:
            return refused.response
        except ConsentryError as exc:
            if admin is None:
                return error_page(request, exc)
            status = exc.entry.http_status if 400 <= exc.entry.http_status < 500 else 400
            return page(request, admin, "portal/failed.html", status=status, nav=None, failure=exc)

    endpoint.__name__ = handler.__name__
    return endpoint


def is_missing(exc: ConsentryError) -> bool:
    return exc.entry in (GRAPH_NOT_FOUND, NOT_FOUND)


def invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def status_of(exc: ConsentryError) -> int:
    """The status of a page that shows a refused change: the error's own when it is a client error."""
    return exc.entry.http_status if 400 <= exc.entry.http_status < 500 else 400

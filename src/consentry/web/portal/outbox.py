"""Monitoring → Outbox: the tenant's queued and sent mail (DESIGN "Nothing is lost"), newest first, with a
status filter (pending, sent, failed) and paging; and one message, its plain text and its HTML part.

Without an SMTP server the outbox is where the demo's mail is read. Every portal role may look. The HTML
part is never put into the portal page as markup: it is shown in an ``<iframe sandbox="">`` (no scripts, no
forms, no same-origin access, no navigation of the portal) through ``srcdoc``, and as escaped source.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.ids import is_guid
from consentry.errors import NOT_FOUND, ConsentryError
from consentry.services import outbox
from consentry.web.http import runtime_of
from consentry.web.portal.base import Admin, Refused, page, view

OUTBOX_PATH = "/portal/outbox"
NAV = "outbox"
PAGE_SIZE = 50
MAX_CURSOR = 200


@view
async def outbox_list(request: Request, admin: Admin) -> Response:
    params = request.query_params
    status = params.get("status", "") if params.get("status") in outbox.STATUSES else ""
    cursor = params.get("page", "")[:MAX_CURSOR] or None
    fetch = partial(outbox.page_outbox, runtime_of(request).ctx, admin.tenant.id, status=status or None,
                    limit=PAGE_SIZE)
    invalid = False
    try:
        messages, next_cursor = await run_in_threadpool(partial(fetch, after=cursor))
    except ConsentryError:
        cursor, invalid = None, True
        messages, next_cursor = await run_in_threadpool(partial(fetch, after=None))
    kept = {"status": status} if status else {}
    return page(request, admin, "portal/outbox.html", nav=NAV, title="Outbox", messages=messages, chosen_status=status,
                statuses=outbox.STATUSES, paged=cursor is not None,
                first_link=f"{OUTBOX_PATH}?{urlencode(kept)}" if kept else OUTBOX_PATH,
                next_link=f"{OUTBOX_PATH}?{urlencode({**kept, 'page': next_cursor})}" if next_cursor else None,
                error="That page link is not valid any more; showing the newest messages." if invalid else None)


@view
async def outbox_message(request: Request, admin: Admin) -> Response:
    mail_id = str(request.path_params.get("mail_id", "")).lower()
    try:
        if not is_guid(mail_id):
            raise ConsentryError(NOT_FOUND)
        message = await run_in_threadpool(outbox.get_outbox_message, runtime_of(request).ctx, admin.tenant.id,
                                          mail_id)
    except ConsentryError as exc:
        if exc.entry is not NOT_FOUND:
            raise
        raise Refused(page(request, admin, "portal/outbox_missing.html", status=404, nav=NAV,
                           title="Message not found")) from exc
    return page(request, admin, "portal/outbox_message.html", nav=NAV, title=f"Outbox | {message.subject}",
                message=message)


def routes() -> list[Route]:
    return [
        Route(OUTBOX_PATH, outbox_list, methods=["GET"]),
        Route(OUTBOX_PATH + "/{mail_id}", outbox_message, methods=["GET"]),
    ]

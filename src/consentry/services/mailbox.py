"""Mailbox items behind Microsoft Graph's ``/me/events``, ``/me/contacts`` and
``/users/{id | userPrincipalName}/events`` and ``/contacts``: list, get and create, each one transaction; and
the demo mailboxes.

Who may touch which mailbox, as Graph decides it for Outlook data:

- delegated: one of the operation's permissions in ``scp``, and only the signed-in user's own mailbox
  (another user's needs ``Calendars.Read.Shared`` or ``Contacts.Read.Shared`` and a share, which Consentry
  does not model);
- app-only: one of the operation's application permissions in ``roles``; any mailbox of the token's tenant.

Missing either is 403 ``ErrorAccessDenied`` (see :data:`ACCESS_DENIED`). A user outside the caller's tenant
is 404, exactly as one that does not exist.

Mailbox changes are not directory changes: Entra's directory audit log does not record them, so nothing
here calls :func:`consentry.services.audit.record` (which would also move the directory version that read
caches compare against).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import IntegrityError

from consentry.domain.callers import Caller
from consentry.domain.directory import User
from consentry.domain.ids import is_guid, new_guid
from consentry.domain.mailbox import CalendarEvent, Contact, ContactDraft, EmailAddress, EventDraft
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_NOT_FOUND, MAILBOX_ACCESS_DENIED, ConsentryError
from consentry.services.authz import ANY_USER, Operation
from consentry.services.context import ServiceContext
from consentry.store.mailbox import CONTACT_TABLE, EVENT_TABLE, ItemTable, validate_query
from consentry.store.odata import Page
from consentry.store.uow import TenantScope

T = TypeVar("T")
D = TypeVar("D")

# Graph answers ErrorAccessDenied, "Access is denied. Check credentials and try again.", for mailbox data;
# until the catalog has that entry, the directory's 403 stands in for it.
ACCESS_DENIED = MAILBOX_ACCESS_DENIED


def _op(name: str, permissions: str) -> Operation:
    held = frozenset(permissions.split())
    return Operation(name, held, held, ANY_USER)


# Calendars.ReadBasic would also read events, but Microsoft Graph as built in here does not publish it.
READ_EVENTS = _op("read calendar events", "Calendars.Read Calendars.ReadWrite")
WRITE_EVENTS = _op("write calendar events", "Calendars.ReadWrite")
READ_CONTACTS = _op("read contacts", "Contacts.Read Contacts.ReadWrite")
WRITE_CONTACTS = _op("write contacts", "Contacts.ReadWrite")


def _event(event_id: str, user_id: str, draft: EventDraft, now: datetime) -> CalendarEvent:
    return CalendarEvent(event_id, user_id, draft.subject, draft.body, draft.location, draft.start, draft.end, now)


def _contact(contact_id: str, user_id: str, draft: ContactDraft, now: datetime) -> Contact:
    return Contact(contact_id, user_id, draft.display_name, draft.given_name, draft.surname, draft.company_name,
                   draft.job_title, draft.email_addresses, draft.business_phones, draft.mobile_phone, now)


@dataclass(frozen=True, slots=True)
class ItemKind(Generic[T, D]):
    """One kind of mailbox item: where it is stored, the operations that read and write it, and how a draft
    becomes an item (from its id, its owner's id, the draft and the time)."""

    table: ItemTable[T]
    read: Operation
    write: Operation
    new: Callable[[str, str, D, datetime], T]


EVENTS = ItemKind(EVENT_TABLE, READ_EVENTS, WRITE_EVENTS, _event)
CONTACTS = ItemKind(CONTACT_TABLE, READ_CONTACTS, WRITE_CONTACTS, _contact)


def ensure_mailbox_access(caller: Caller, operation: Operation) -> None:
    """Raise 403 unless the token holds one of the operation's permissions (``scp`` or ``roles``)."""
    held = caller.roles & operation.application if caller.is_app_only else caller.scopes & operation.delegated
    if not held:
        raise ConsentryError(ACCESS_DENIED)


def _owner(scope: TenantScope, caller: Caller, id_or_upn: str) -> User:
    """The mailbox's user, by object id or userPrincipalName, in the caller's tenant; a delegated caller
    only reaches their own."""
    user = (scope.directory.find_user(id_or_upn.lower()) if is_guid(id_or_upn)
            else scope.directory.find_user_by_upn(id_or_upn))
    if user is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=id_or_upn[:255])
    if not caller.is_app_only and user.id != caller.object_id:
        raise ConsentryError(ACCESS_DENIED)
    return user


# --- list, get and create, for any kind --------------------------------------------------------------------
def page_items(kind: ItemKind[T, Any], ctx: ServiceContext, caller: Caller, id_or_upn: str,
               query: ODataQuery) -> tuple[User, list[T], Page]:
    validate_query(kind.table, query)  # a malformed query is 400 before the permission is looked at, as in Graph
    ensure_mailbox_access(caller, kind.read)
    with ctx.uow.read() as tx:
        scope = tx.tenant(caller.tenant_id)
        owner = _owner(scope, caller, id_or_upn)
        items, page = scope.mailbox.page(kind.table, owner.id, query)
    return owner, items, page


def find_item(kind: ItemKind[T, Any], ctx: ServiceContext, caller: Caller, id_or_upn: str,
              item_id: str) -> tuple[User, T]:
    ensure_mailbox_access(caller, kind.read)
    with ctx.uow.read() as tx:
        scope = tx.tenant(caller.tenant_id)
        owner = _owner(scope, caller, id_or_upn)
        item = scope.mailbox.find(kind.table, owner.id, item_id.lower()) if is_guid(item_id) else None
    if item is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=item_id[:255])
    return owner, item


def create_item(kind: ItemKind[T, D], ctx: ServiceContext, caller: Caller, id_or_upn: str,
                draft: D) -> tuple[User, T]:
    ensure_mailbox_access(caller, kind.write)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(caller.tenant_id)
        owner = _owner(scope, caller, id_or_upn)
        item = kind.new(new_guid(), owner.id, draft, now)
        scope.mailbox.add(kind.table, item)
    return owner, item



# --- the demo mailboxes -------------------------------------------------------------------------------------
DEMO_MAILBOX_OWNERS = ("admin@contoso.example", "alex@contoso.example", "adele@contoso.example")
# (days from today, start hour, minutes, subject, location, body)
DEMO_EVENTS = (
    (1, 9, 30, "Contoso weekly stand-up", "Teams meeting", "What we did, what we will do, what is in the way."),
    (2, 14, 60, "Review: Apple Internet Accounts consent request", "Room 2.14",
     "Decide whether Contoso grants tenant-wide consent to Apple Internet Accounts (Calendars.ReadWrite, "
     "Contacts.ReadWrite)."),
    (7, 12, 60, "Lunch with the Fabrikam account team", "Fourth Coffee, Main Street",
     "Quarterly catch-up over lunch."),
)
DEMO_CONTACTS = (
    ContactDraft("Megan Bowen", "Megan", "Bowen", "Fabrikam", "Marketing Manager",
                 (EmailAddress("Megan Bowen", "megan.bowen@fabrikam.example"),), ("+1 425 555 0109",),
                 "+1 425 555 0110"),
    ContactDraft("Nestor Wilke", "Nestor", "Wilke", "Northwind Traders", "Director of Operations",
                 (EmailAddress("Nestor Wilke", "nestor.wilke@northwind.example"),), ("+1 206 555 0128",), None),
    ContactDraft("Patti Fernandez", "Patti", "Fernandez", "Tailspin Toys", "President",
                 (EmailAddress("Patti Fernandez", "patti@tailspin.example"),
                  EmailAddress("Patti (home)", "patti.fernandez@home.example")), (), "+1 980 555 0101"),
)


def _demo_id(tenant_id: str, user_id: str, kind: str, index: int) -> str:
    """The same ids on every run, so that two seeders racing insert the same rows and one of them fails."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"consentry-demo-mailbox:{tenant_id}:{user_id}:{kind}:{index}"))


def _demo_events(tenant_id: str, user: User, now: datetime) -> list[CalendarEvent]:
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    events = []
    for index, (days, hour, minutes, subject, location, body) in enumerate(DEMO_EVENTS):
        start = today + timedelta(days=days, hours=hour)
        events.append(CalendarEvent(_demo_id(tenant_id, user.id, "event", index), user.id, subject, body, location,
                                    start, start + timedelta(minutes=minutes), now))
    return events


def _seed_once(ctx: ServiceContext, tenant_id: str) -> tuple[str, ...]:
    now = ctx.clock.now().astimezone(UTC)
    created: list[str] = []
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        for upn in DEMO_MAILBOX_OWNERS:
            user = scope.directory.find_user_by_upn(upn)
            if user is None:
                continue
            if scope.mailbox.count(EVENT_TABLE, user.id) == 0:
                for event in _demo_events(tenant_id, user, now):
                    scope.mailbox.add(EVENT_TABLE, event)
                created.append(f"{len(DEMO_EVENTS)} calendar events for {upn}")
            if scope.mailbox.count(CONTACT_TABLE, user.id) == 0:
                for index, draft in enumerate(DEMO_CONTACTS):
                    scope.mailbox.add(CONTACT_TABLE, _contact(_demo_id(tenant_id, user.id, "contact", index), user.id,
                                                       draft, now))
                created.append(f"{len(DEMO_CONTACTS)} contacts for {upn}")
    return tuple(created)


def seed_mailbox(ctx: ServiceContext, tenant_id: str) -> tuple[str, ...]:
    """Give each demo user of the tenant three calendar events (dated from the clock's today) and three
    contacts, unless they have some already; say what was added. If another process seeds at the same time,
    its rows win and this adds nothing."""
    try:
        return _seed_once(ctx, tenant_id)
    except IntegrityError:
        return _seed_once(ctx, tenant_id)

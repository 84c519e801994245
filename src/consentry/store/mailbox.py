"""Calendar events and contacts of one tenant's users (Graph's ``/users/{id}/events`` and ``/contacts``).

Each kind of item is described once (:class:`ItemTable`) and stored by the same repository methods. Events
are keyset-paged on ``(start, id)``, contacts on ``(displayName, id)``, each ascending unless ``$orderby``
says ``desc``. An event's ``$skiptoken`` carries its start as ISO 8601 text (the token is JSON). A query can
be checked before it runs (:func:`validate_query`), so that a service refuses a bad one first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, ColumnElement, Connection, Table, func, insert, select

from consentry.domain.clock import as_utc
from consentry.domain.ids import is_guid
from consentry.domain.mailbox import CalendarEvent, Contact, EmailAddress
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_UNSUPPORTED_QUERY, ConsentryError
from consentry.store.grants import ensure_text_keys, text_property
from consentry.store.odata import Fields, Page, fetch_page, to_where
from consentry.store.tables import calendar_events, contacts

T = TypeVar("T")
Key = tuple[Any, ...] | None


def _as_is(key: Key) -> Key:
    return key


@dataclass(frozen=True, slots=True)
class ItemTable(Generic[T]):
    """One kind of mailbox item as stored: its table, the properties ``$filter`` may name, the column pages
    are ordered by (then ``id``), the mapping between rows and items, and how a page key is read from and
    written to ``$skiptoken``."""

    table: Table
    fields: Fields
    order: Column[Any]
    item: Callable[[Any], T]
    values: Callable[[T], dict[str, Any]]
    decode_key: Callable[[Key], Key] = _as_is
    encode_key: Callable[[Key], Key] = _as_is


def _event(row: Any) -> CalendarEvent:
    r = row._mapping
    return CalendarEvent(r["id"], r["user_id"], r["subject"], r["body"] or "", r["location"] or "",
                         as_utc(r["start"]), as_utc(r["end"]), as_utc(r["created_at"]))


def _event_values(event: CalendarEvent) -> dict[str, Any]:
    return dict(id=event.id, user_id=event.user_id, subject=event.subject, body=event.body,
                location=event.location, start=event.start, end=event.end, created_at=event.created_at)


def _contact(row: Any) -> Contact:
    r = row._mapping
    emails = tuple(EmailAddress(e.get("name"), e["address"]) for e in r["email_addresses"] or ())
    return Contact(r["id"], r["user_id"], r["display_name"], r["given_name"], r["surname"], r["company_name"],
                   r["job_title"], emails, tuple(r["business_phones"] or ()), r["mobile_phone"],
                   as_utc(r["created_at"]))


def _contact_values(contact: Contact) -> dict[str, Any]:
    return dict(
        id=contact.id, user_id=contact.user_id, display_name=contact.display_name, given_name=contact.given_name,
        surname=contact.surname, company_name=contact.company_name, job_title=contact.job_title,
        email_addresses=[{"name": e.name, "address": e.address} for e in contact.email_addresses],
        business_phones=list(contact.business_phones), mobile_phone=contact.mobile_phone,
        created_at=contact.created_at)


def _descending(query: ODataQuery) -> bool:
    return bool(query.orderby and query.orderby[0][1])


def _not_ours() -> ConsentryError:
    return ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="The $skiptoken does not match this query.")


def _where(query: ODataQuery, fields: Fields) -> ColumnElement[bool] | None:
    """The ``$filter`` as SQL, after the checks every page key passes: text without NUL, and an item id last
    (a key whose last value is not a GUID was not issued here)."""
    ensure_text_keys(query)
    if query.after is not None and not (query.after and is_guid(query.after[-1])):
        raise _not_ours()
    return to_where(query.filter, fields) if query.filter is not None else None


def _decode_time_key(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if key is None:
        return None
    try:
        when, item_id = key
        return as_utc(datetime.fromisoformat(when)), str(item_id)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _not_ours() from exc


def _encode_time_key(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if key is None:
        return None
    when, item_id = key
    return as_utc(when).isoformat(), item_id


_ev = calendar_events
EVENT_TABLE = ItemTable(
    _ev, Fields({"id": text_property(_ev.c.id), "subject": text_property(_ev.c.subject)}), _ev.c.start, _event,
    _event_values, decode_key=_decode_time_key, encode_key=_encode_time_key)

_ct = contacts
CONTACT_TABLE = ItemTable(
    _ct, Fields({name: text_property(column) for name, column in (
        ("id", _ct.c.id), ("displayName", _ct.c.display_name), ("givenName", _ct.c.given_name),
        ("surname", _ct.c.surname), ("companyName", _ct.c.company_name), ("jobTitle", _ct.c.job_title),
        ("mobilePhone", _ct.c.mobile_phone))}),
    _ct.c.display_name, _contact, _contact_values)


def validate_query(kind: ItemTable[Any], query: ODataQuery) -> None:
    """Refuse (400) a ``$filter`` or ``$skiptoken`` that paging this kind cannot use, before anything is read."""
    _where(query, kind.fields)
    kind.decode_key(query.after)


class MailboxRepository:
    """Mailbox items of every kind, each of one user of this tenant."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    def _owned(self, kind: ItemTable[Any], user_id: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return kind.table.c.tenant_id == self.tenant_id, kind.table.c.user_id == user_id

    def add(self, kind: ItemTable[T], item: T) -> None:
        self.conn.execute(insert(kind.table).values(tenant_id=self.tenant_id, **kind.values(item)))

    def find(self, kind: ItemTable[T], user_id: str, item_id: str) -> T | None:
        row = self.conn.execute(select(kind.table).where(*self._owned(kind, user_id),
                                                         kind.table.c.id == item_id)).first()
        return kind.item(row) if row else None

    def count(self, kind: ItemTable[Any], user_id: str) -> int:
        return int(self.conn.execute(select(func.count()).select_from(kind.table).where(
            *self._owned(kind, user_id))).scalar() or 0)

    def page(self, kind: ItemTable[T], user_id: str, query: ODataQuery) -> tuple[list[T], Page]:
        """One page of a user's items, in the kind's order (then id), filtered on the kind's fields."""
        base = select(kind.table).where(*self._owned(kind, user_id))
        if (where := _where(query, kind.fields)) is not None:
            base = base.where(where)
        page = fetch_page(self.conn, base, [kind.order, kind.table.c.id], descending=_descending(query),
                          after=kind.decode_key(query.after), limit=query.top, count=query.count)
        return [kind.item(r) for r in page.rows], Page(page.rows, kind.encode_key(page.next_after), page.count)

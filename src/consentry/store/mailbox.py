"""Calendar events and contacts of one tenant's users (Graph's ``/users/{id}/events`` and ``/contacts``).

Events are keyset-paged on ``(start, id)``, contacts on ``(displayName, id)``, each ascending unless
``$orderby`` says ``desc``. An event's ``$skiptoken`` carries its start as ISO 8601 text (the token is JSON).
A query can be checked before it runs (``validate_*_query``), so that a service refuses a bad one first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, select

from consentry.domain.clock import as_utc
from consentry.domain.ids import is_guid
from consentry.domain.mailbox import CalendarEvent, Contact, EmailAddress
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_UNSUPPORTED_QUERY, ConsentryError
from consentry.store.grants import ensure_text_keys, text_property
from consentry.store.odata import Fields, Page, fetch_page, to_where
from consentry.store.tables import calendar_events, contacts

_ev = calendar_events
_ct = contacts
_EVENT_FIELDS = Fields({"id": text_property(_ev.c.id), "subject": text_property(_ev.c.subject)})
_CONTACT_FIELDS = Fields({name: text_property(column) for name, column in (
    ("id", _ct.c.id), ("displayName", _ct.c.display_name), ("givenName", _ct.c.given_name),
    ("surname", _ct.c.surname), ("companyName", _ct.c.company_name), ("jobTitle", _ct.c.job_title),
    ("mobilePhone", _ct.c.mobile_phone))})


def _event(row: Any) -> CalendarEvent:
    r = row._mapping
    return CalendarEvent(r["id"], r["user_id"], r["subject"], r["body"] or "", r["location"] or "",
                         as_utc(r["start"]), as_utc(r["end"]), as_utc(r["created_at"]))


def _contact(row: Any) -> Contact:
    r = row._mapping
    emails = tuple(EmailAddress(e.get("name"), e["address"]) for e in r["email_addresses"] or ())
    return Contact(r["id"], r["user_id"], r["display_name"], r["given_name"], r["surname"], r["company_name"],
                   r["job_title"], emails, tuple(r["business_phones"] or ()), r["mobile_phone"],
                   as_utc(r["created_at"]))


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


def validate_event_query(query: ODataQuery) -> None:
    """Refuse (400) a ``$filter`` or ``$skiptoken`` that paging events cannot use, before anything is read."""
    _where(query, _EVENT_FIELDS)
    _decode_time_key(query.after)


def validate_contact_query(query: ODataQuery) -> None:
    _where(query, _CONTACT_FIELDS)


class MailboxRepository:
    """Events and contacts, each of one user of this tenant."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    # calendar events
    def add_event(self, event: CalendarEvent) -> None:
        self.conn.execute(insert(_ev).values(
            id=event.id, tenant_id=self.tenant_id, user_id=event.user_id, subject=event.subject, body=event.body,
            location=event.location, start=event.start, end=event.end, created_at=event.created_at))

    def find_event(self, user_id: str, event_id: str) -> CalendarEvent | None:
        row = self.conn.execute(select(_ev).where(_ev.c.tenant_id == self.tenant_id, _ev.c.user_id == user_id,
                                                  _ev.c.id == event_id)).first()
        return _event(row) if row else None

    def count_events(self, user_id: str) -> int:
        return int(self.conn.execute(select(func.count()).select_from(_ev).where(
            _ev.c.tenant_id == self.tenant_id, _ev.c.user_id == user_id)).scalar() or 0)

    def page_events(self, user_id: str, query: ODataQuery) -> tuple[list[CalendarEvent], Page]:
        """One page of a user's events, by start time (then id), filtered on ``id`` or ``subject``."""
        base = select(_ev).where(_ev.c.tenant_id == self.tenant_id, _ev.c.user_id == user_id)
        if (where := _where(query, _EVENT_FIELDS)) is not None:
            base = base.where(where)
        page = fetch_page(self.conn, base, [_ev.c.start, _ev.c.id], descending=_descending(query),
                          after=_decode_time_key(query.after), limit=query.top, count=query.count)
        return [_event(r) for r in page.rows], Page(page.rows, _encode_time_key(page.next_after), page.count)

    # contacts
    def add_contact(self, contact: Contact) -> None:
        self.conn.execute(insert(_ct).values(
            id=contact.id, tenant_id=self.tenant_id, user_id=contact.user_id, display_name=contact.display_name,
            given_name=contact.given_name, surname=contact.surname, company_name=contact.company_name,
            job_title=contact.job_title,
            email_addresses=[{"name": e.name, "address": e.address} for e in contact.email_addresses],
            business_phones=list(contact.business_phones), mobile_phone=contact.mobile_phone,
            created_at=contact.created_at))

    def find_contact(self, user_id: str, contact_id: str) -> Contact | None:
        row = self.conn.execute(select(_ct).where(_ct.c.tenant_id == self.tenant_id, _ct.c.user_id == user_id,
                                                  _ct.c.id == contact_id)).first()
        return _contact(row) if row else None

    def count_contacts(self, user_id: str) -> int:
        return int(self.conn.execute(select(func.count()).select_from(_ct).where(
            _ct.c.tenant_id == self.tenant_id, _ct.c.user_id == user_id)).scalar() or 0)

    def page_contacts(self, user_id: str, query: ODataQuery) -> tuple[list[Contact], Page]:
        """One page of a user's contacts, by display name (then id), filtered on their text properties."""
        base = select(_ct).where(_ct.c.tenant_id == self.tenant_id, _ct.c.user_id == user_id)
        if (where := _where(query, _CONTACT_FIELDS)) is not None:
            base = base.where(where)
        page = fetch_page(self.conn, base, [_ct.c.display_name, _ct.c.id], descending=_descending(query),
                          after=query.after, limit=query.top, count=query.count)
        return [_contact(r) for r in page.rows], page

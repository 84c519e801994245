"""A user's mailbox items as Microsoft Graph serves them from Outlook: calendar events (``event``) and
contacts (``contact``), and the rules a new one must pass (what ``POST /me/events`` and ``POST /me/contacts``
accept). Every failure is Graph's 400 ``Request_BadRequest`` with a message naming the property.

Times are UTC. An event body is kept as plain text: an HTML body sent in is reduced to its text, the way
Outlook derives ``bodyPreview``. Lengths are those of the ``calendar_events`` and ``contacts`` columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError

MAX_SUBJECT = 255
MAX_LOCATION = 255
MAX_DISPLAY_NAME = 255
MAX_NAME_PART = 64  # givenName, surname
MAX_ORGANIZATION = 128  # companyName, jobTitle
MAX_PHONE = 64
MAX_EMAIL = 255
MAX_EMAIL_ADDRESSES = 3  # Outlook keeps EmailAddress1..3 on a contact
MAX_BUSINESS_PHONES = 2  # and BusinessPhone, BusinessPhone2
MAX_TIME_ZONE = 100
PREVIEW_LENGTH = 255

# dateTimeTimeZone.dateTime: "<date>T<time>", seconds and up to 7 fractional digits (Graph writes 7) optional;
# an explicit offset is accepted and wins over timeZone.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_UTC_NAMES = frozenset({"utc", "etc/utc", "etc/gmt", "gmt", "coordinated universal time"})


@dataclass(frozen=True, slots=True)
class EmailAddress:
    name: str | None
    address: str


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    id: str
    user_id: str
    subject: str
    body: str  # plain text
    location: str
    start: datetime
    end: datetime
    created_at: datetime

    @property
    def body_preview(self) -> str:
        return preview(self.body)


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    user_id: str
    display_name: str
    given_name: str | None
    surname: str | None
    company_name: str | None
    job_title: str | None
    email_addresses: tuple[EmailAddress, ...]
    business_phones: tuple[str, ...]
    mobile_phone: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What a new event holds before it has an id and an owner."""

    subject: str
    body: str
    location: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ContactDraft:
    display_name: str
    given_name: str | None = None
    surname: str | None = None
    company_name: str | None = None
    job_title: str | None = None
    email_addresses: tuple[EmailAddress, ...] = ()
    business_phones: tuple[str, ...] = ()
    mobile_phone: str | None = None


EVENT_PROPERTIES = frozenset({"subject", "body", "start", "end", "location"})
CONTACT_PROPERTIES = frozenset({"displayName", "givenName", "surname", "companyName", "jobTitle", "emailAddresses",
                                "businessPhones", "mobilePhone"})


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def _invalid(name: str, resource: str) -> ConsentryError:
    return _bad(f"Invalid value specified for property '{name}' of resource '{resource}'.")


def preview(text: str) -> str:
    """``bodyPreview``: the text with its white space collapsed, at most 255 characters."""
    return " ".join(text.split())[:PREVIEW_LENGTH]


class _Text(HTMLParser):
    """The text of an HTML body: line breaks for block elements, nothing from head, script or style."""

    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})
    _HIDDEN = frozenset({"head", "script", "style", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BREAKS and self.parts:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = ("".join(parser.parts)).splitlines()
    return "\n".join(line.strip() for line in lines if line.strip())


def _sub_object(value: Any, name: str, resource: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(name, resource)
    unknown = sorted(k for k in value if k not in allowed and not k.startswith("@odata."))
    if unknown:
        raise _bad(f"Property '{unknown[0]}' is not supported here or does not exist on this resource.")
    return value


def _text(value: Any, name: str, resource: str, longest: int, *, required: bool = False) -> str | None:
    """A string property, stripped; None (or blank) is allowed unless required."""
    if value is None:
        if required:
            raise _bad(f"Property '{name}' is required.")
        return None
    if not isinstance(value, str) or len(value) > longest:
        raise _invalid(name, resource)
    text = value.strip()
    if required and not text:
        raise _bad(f"Property '{name}' is required.")
    return text or None


def parse_date_time_time_zone(value: Any, name: str) -> datetime:
    """A ``dateTimeTimeZone`` as UTC. ``timeZone`` may be UTC or an IANA name (Windows names other than
    UTC are not known here); when absent, UTC."""
    obj = _sub_object(value, name, "Event", frozenset({"dateTime", "timeZone"}))
    raw, zone_name = obj.get("dateTime"), obj.get("timeZone")
    if not isinstance(raw, str) or not _DATE_TIME.fullmatch(raw):
        raise _bad(f"Property '{name}' must have a dateTime in ISO 8601 form, such as 2026-05-01T09:00:00.")
    if zone_name is not None and (not isinstance(zone_name, str) or len(zone_name) > MAX_TIME_ZONE):
        raise _invalid(f"{name}.timeZone", "Event")
    try:
        when = datetime.fromisoformat(raw)  # 3.11: "Z", and fractions beyond 6 digits truncated
        if when.tzinfo is None:
            when = when.replace(tzinfo=_zone(zone_name, name))
        return when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise _bad(f"Property '{name}' has a date and time that does not exist.") from exc


def _zone(zone_name: str | None, name: str) -> Any:
    if zone_name is None or zone_name.strip().lower() in _UTC_NAMES:
        return UTC
    try:
        return ZoneInfo(zone_name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _bad(f"A valid TimeZone value must be specified for '{name}'. The following TimeZone value is "
                   f"not supported: '{zone_name[:MAX_TIME_ZONE]}'.") from exc


def _event_body(value: Any) -> str:
    if value is None:
        return ""
    obj = _sub_object(value, "body", "Event", frozenset({"contentType", "content"}))
    content_type, content = obj.get("contentType", "text"), obj.get("content", "")
    if not isinstance(content_type, str) or content_type.lower() not in ("text", "html"):
        raise _invalid("body.contentType", "Event")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise _invalid("body.content", "Event")
    return html_to_text(content) if content_type.lower() == "html" else content


def _location(value: Any) -> str:
    if value is None:
        return ""
    obj = _sub_object(value, "location", "Event",
                      frozenset({"displayName", "locationType", "uniqueId", "uniqueIdType"}))
    return _text(obj.get("displayName"), "location.displayName", "Event", MAX_LOCATION) or ""


def event_draft(body: Mapping[str, Any]) -> EventDraft:
    """A new event from Graph's JSON: ``subject``, ``start`` and ``end`` required, ``end`` not before ``start``."""
    subject = _text(body.get("subject"), "subject", "Event", MAX_SUBJECT, required=True) or ""
    if "start" not in body or body["start"] is None:
        raise _bad("Property 'start' is required.")
    if "end" not in body or body["end"] is None:
        raise _bad("Property 'end' is required.")
    start = parse_date_time_time_zone(body["start"], "start")
    end = parse_date_time_time_zone(body["end"], "end")
    if end < start:
        raise _bad("The end time of the event must not be before its start time.")
    return EventDraft(subject, _event_body(body.get("body")), _location(body.get("location")), start, end)


def _email_addresses(value: Any) -> tuple[EmailAddress, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_EMAIL_ADDRESSES:
        raise _invalid("emailAddresses", "Contact")
    found = []
    for item in value:
        obj = _sub_object(item, "emailAddresses", "Contact", frozenset({"name", "address"}))
        address = obj.get("address")
        if not isinstance(address, str) or len(address) > MAX_EMAIL or not _EMAIL.fullmatch(address.strip()):
            raise _bad(f"The email address '{str(address)[:MAX_EMAIL]}' is not valid.")
        name = _text(obj.get("name"), "emailAddresses.name", "Contact", MAX_DISPLAY_NAME)
        found.append(EmailAddress(name, address.strip()))
    return tuple(found)


def _phones(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_BUSINESS_PHONES:
        raise _invalid("businessPhones", "Contact")
    phones = [_text(v, "businessPhones", "Contact", MAX_PHONE, required=True) for v in value]
    return tuple(p for p in phones if p)


def contact_draft(body: Mapping[str, Any]) -> ContactDraft:
    """A new contact from Graph's JSON: ``displayName`` or ``givenName`` required; without a display name,
    Outlook files the contact under "givenName surname"."""
    given = _text(body.get("givenName"), "givenName", "Contact", MAX_NAME_PART)
    surname = _text(body.get("surname"), "surname", "Contact", MAX_NAME_PART)
    display = _text(body.get("displayName"), "displayName", "Contact", MAX_DISPLAY_NAME)
    if display is None:
        if given is None:
            raise _bad("Property 'displayName' or 'givenName' is required.")
        display = " ".join(p for p in (given, surname) if p)
    return ContactDraft(
        display_name=display, given_name=given, surname=surname,
        company_name=_text(body.get("companyName"), "companyName", "Contact", MAX_ORGANIZATION),
        job_title=_text(body.get("jobTitle"), "jobTitle", "Contact", MAX_ORGANIZATION),
        email_addresses=_email_addresses(body.get("emailAddresses")),
        business_phones=_phones(body.get("businessPhones")),
        mobile_phone=_text(body.get("mobilePhone"), "mobilePhone", "Contact", MAX_PHONE))

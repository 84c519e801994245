"""``/me/events`` and ``/me/contacts`` (and the same under ``/users/{id | userPrincipalName}``): list
(``$top``, ``$select``, ``$filter`` on a few text properties, ``$orderby``, ``$count``, ``$skiptoken``), get by
id and create, with Microsoft Graph's ``event`` and ``contact`` shapes.

Event times are returned in UTC (``Prefer: outlook.timezone`` is not honoured). Event bodies are returned as
HTML, as Graph does by default, or as text with ``Prefer: outlook.body-content-type="text"``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.directory import User
from consentry.domain.ids import is_guid
from consentry.domain.mailbox import (
    CONTACT_PROPERTIES,
    EVENT_PROPERTIES,
    CalendarEvent,
    Contact,
    ContactDraft,
    EventDraft,
    contact_draft,
    event_draft,
)
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError
from consentry.services import mailbox
from consentry.web.graph.common import caller, collection, entity, iso, odata_query, read_body, runtime_of
from consentry.web.graph.users import ME_APP_ONLY

T = TypeVar("T")
D = TypeVar("D")

router = APIRouter(tags=["mailbox"])
EVENT_ORDERABLE = frozenset({"start/dateTime"})
CONTACT_ORDERABLE = frozenset({"displayName"})
PREFER_BODY = "outlook.body-content-type"
_NEVER = "0001-01-01T00:00:00Z"


# --- resource shapes -----------------------------------------------------------------------------------------
def _graph_time(value: datetime) -> str:
    """dateTimeTimeZone.dateTime as Graph writes it: seven fractional digits, no offset."""
    utc = value.astimezone(UTC)
    return f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond:06d}0"


def _html(text: str) -> str:
    body = html.escape(text).replace("\n", "<br>\r\n")
    return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
            f"<body>{body}</body></html>")


def _recipient(user: User) -> dict[str, Any]:
    return {"emailAddress": {"name": user.display_name, "address": user.mail or user.user_principal_name}}


def event_json(event: CalendarEvent, owner: User, body_type: str = "html") -> dict[str, Any]:
    location = {"displayName": event.location, "locationType": "default", "uniqueIdType": "unknown"}
    if event.location:
        location.update(uniqueId=event.location, uniqueIdType="private")
    content = _html(event.body) if body_type == "html" else event.body
    created = iso(event.created_at)
    return {
        "id": event.id, "createdDateTime": created, "lastModifiedDateTime": created, "categories": [],
        "originalStartTimeZone": "UTC", "originalEndTimeZone": "UTC", "reminderMinutesBeforeStart": 15,
        "isReminderOn": True, "hasAttachments": False, "subject": event.subject, "bodyPreview": event.body_preview,
        "importance": "normal", "sensitivity": "normal", "isAllDay": False, "isCancelled": False,
        "isOrganizer": True, "responseRequested": True, "showAs": "busy", "type": "singleInstance",
        "responseStatus": {"response": "organizer", "time": _NEVER},
        "body": {"contentType": body_type, "content": content},
        "start": {"dateTime": _graph_time(event.start), "timeZone": "UTC"},
        "end": {"dateTime": _graph_time(event.end), "timeZone": "UTC"},
        "location": location, "locations": [location] if event.location else [], "attendees": [],
        "organizer": _recipient(owner),
    }


def contact_json(contact: Contact) -> dict[str, Any]:
    created = iso(contact.created_at)
    return {
        "id": contact.id, "createdDateTime": created, "lastModifiedDateTime": created, "categories": [],
        "displayName": contact.display_name, "givenName": contact.given_name, "middleName": None,
        "surname": contact.surname, "nickName": None, "title": None, "initials": None, "generation": None,
        "fileAs": "", "companyName": contact.company_name, "department": None, "jobTitle": contact.job_title,
        "officeLocation": None, "profession": None, "manager": None, "assistantName": None, "birthday": None,
        "businessHomePage": None, "personalNotes": "", "spouseName": None, "imAddresses": [], "homePhones": [],
        "businessPhones": list(contact.business_phones), "mobilePhone": contact.mobile_phone,
        "emailAddresses": [{"name": e.name or e.address, "address": e.address} for e in contact.email_addresses],
    }


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NOBODY = User("", "", "x@y", "", None, True, None, _EPOCH)
EVENT_JSON_PROPERTIES = frozenset(event_json(CalendarEvent("", "", "", "", "", _EPOCH, _EPOCH, _EPOCH), _NOBODY))
CONTACT_JSON_PROPERTIES = frozenset(contact_json(Contact("", "", "", None, None, None, None, (), (), None, _EPOCH)))


@dataclass(frozen=True, slots=True)
class GraphResource(Generic[T, D]):
    """One kind of mailbox item as Graph serves it: the service's kind, the Graph type and its collection's
    path segment, the properties ``$select`` may name and ``$orderby`` may sort on, the properties a new one
    may carry and how they become a draft, the item's JSON (given its owner and body format), and whether
    ``Prefer: outlook.body-content-type`` applies."""

    kind: mailbox.ItemKind[T, D]
    type_name: str
    segment: str
    properties: frozenset[str]
    orderable: frozenset[str]
    writable: frozenset[str]
    draft: Callable[[Mapping[str, Any]], D]
    to_json: Callable[[T, User, str], dict[str, Any]]
    body_preference: bool


EVENTS: GraphResource[CalendarEvent, EventDraft] = GraphResource(
    mailbox.EVENTS, "event", "events", EVENT_JSON_PROPERTIES, EVENT_ORDERABLE, EVENT_PROPERTIES, event_draft,
    event_json, body_preference=True)
CONTACTS: GraphResource[Contact, ContactDraft] = GraphResource(
    mailbox.CONTACTS, "contact", "contacts", CONTACT_JSON_PROPERTIES, CONTACT_ORDERABLE, CONTACT_PROPERTIES,
    contact_draft, lambda contact, _owner, _body_type: contact_json(contact), body_preference=False)


# --- request helpers -----------------------------------------------------------------------------------------
def _me(who: Caller) -> str:
    if who.is_app_only:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=ME_APP_ONLY)
    return who.object_id


def _query(request: Request, type_name: str, properties: frozenset[str], orderable: frozenset[str]) -> ODataQuery:
    query = odata_query(request, orderable)
    for name in query.select or ():
        if name not in properties:
            raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
                "Parsing OData Select and Expand failed: Could not find a property named "
                f"'{name[:100]}' on type 'microsoft.graph.{type_name}'."))
    return query


def _item_id(value: str) -> str:
    """Graph's own ids are opaque; Consentry's are GUIDs, and anything else is malformed (400)."""
    if not is_guid(value):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="Id is malformed.")
    return value.lower()


def _body_type(request: Request) -> str | None:
    """The body format asked for with ``Prefer: outlook.body-content-type="text"`` (or ``"html"``)."""
    for header in request.headers.getlist("prefer"):
        for preference in header.split(","):
            name, _, value = preference.strip().partition("=")
            if name.strip().lower() == PREFER_BODY and value.strip().strip('"').lower() in ("text", "html"):
                return value.strip().strip('"').lower()
    return None


def _applied(response: JSONResponse, body_type: str | None) -> JSONResponse:
    if body_type is not None:
        response.headers["Preference-Applied"] = f'{PREFER_BODY}="{body_type}"'
    return response


# --- list, get and create, for either resource ---------------------------------------------------------------
def _asked(request: Request, resource: GraphResource[Any, Any]) -> str | None:
    return _body_type(request) if resource.body_preference else None


def _entity(request: Request, resource: GraphResource[T, Any], owner: User, item: T, asked: str | None,
            select: tuple[str, ...] | None = None, status: int = 200) -> JSONResponse:
    shown = resource.to_json(item, owner, asked or "html")
    fragment = f"users('{owner.id}')/{resource.segment}/$entity"
    return _applied(entity(request, fragment, shown, status, select), asked)


async def _list(request: Request, who: Caller, resource: GraphResource[Any, Any], id_or_upn: str) -> JSONResponse:
    query = _query(request, resource.type_name, resource.properties, resource.orderable)
    asked = _asked(request, resource)
    owner, items, page = await run_in_threadpool(mailbox.page_items, resource.kind, runtime_of(request).ctx, who,
                                                 id_or_upn, query)
    shown = [resource.to_json(item, owner, asked or "html") for item in items]
    fragment = f"users('{owner.id}')/{resource.segment}"
    return _applied(collection(request, fragment, shown, query, page.next_after, page.count), asked)


async def _get(request: Request, who: Caller, resource: GraphResource[Any, Any], id_or_upn: str,
               item_id: str) -> JSONResponse:
    query = _query(request, resource.type_name, resource.properties, frozenset())
    owner, item = await run_in_threadpool(mailbox.find_item, resource.kind, runtime_of(request).ctx, who, id_or_upn,
                                          _item_id(item_id))
    return _entity(request, resource, owner, item, _asked(request, resource), select=query.select)


async def _create(request: Request, who: Caller, resource: GraphResource[Any, Any], id_or_upn: str) -> JSONResponse:
    draft = resource.draft(await read_body(request, resource.writable))
    owner, item = await run_in_threadpool(mailbox.create_item, resource.kind, runtime_of(request).ctx, who,
                                          id_or_upn, draft)
    return _entity(request, resource, owner, item, _asked(request, resource), status=201)


# --- events --------------------------------------------------------------------------------------------------
@router.get("/me/events")
async def list_my_events(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _list(request, who, EVENTS, _me(who))


@router.post("/me/events", status_code=201)
async def create_my_event(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _create(request, who, EVENTS, _me(who))


@router.get("/me/events/{event_id}")
async def get_my_event(request: Request, event_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    return await _get(request, who, EVENTS, _me(who), event_id)


@router.get("/users/{user_id}/events")
async def list_user_events(request: Request, user_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    return await _list(request, who, EVENTS, user_id)


@router.post("/users/{user_id}/events", status_code=201)
async def create_user_event(request: Request, user_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    return await _create(request, who, EVENTS, user_id)


@router.get("/users/{user_id}/events/{event_id}")
async def get_user_event(request: Request, user_id: str, event_id: str,
                         who: Caller = Depends(caller)) -> JSONResponse:
    return await _get(request, who, EVENTS, user_id, event_id)


# --- contacts ------------------------------------------------------------------------------------------------
@router.get("/me/contacts")
async def list_my_contacts(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _list(request, who, CONTACTS, _me(who))


@router.post("/me/contacts", status_code=201)
async def create_my_contact(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _create(request, who, CONTACTS, _me(who))


@router.get("/me/contacts/{contact_id}")
async def get_my_contact(request: Request, contact_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    return await _get(request, who, CONTACTS, _me(who), contact_id)


@router.get("/users/{user_id}/contacts")
async def list_user_contacts(request: Request, user_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    return await _list(request, who, CONTACTS, user_id)


@router.post("/users/{user_id}/contacts", status_code=201)
async def create_user_contact(request: Request, user_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    return await _create(request, who, CONTACTS, user_id)


@router.get("/users/{user_id}/contacts/{contact_id}")
async def get_user_contact(request: Request, user_id: str, contact_id: str,
                           who: Caller = Depends(caller)) -> JSONResponse:
    return await _get(request, who, CONTACTS, user_id, contact_id)

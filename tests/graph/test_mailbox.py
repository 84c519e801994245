"""``/me/events`` and ``/me/contacts`` (and under ``/users/{id | userPrincipalName}``): what a token that was
consented Calendars.* or Contacts.* may read and create, Graph's ``event`` and ``contact`` shapes, paging,
body validation, tenant isolation, and the demo mailboxes (``seed_mailbox``).

Delegated tokens with exactly the scopes a test needs come from a confidential app holding a tenant-wide grant
of those scopes (MSAL ROPC); app-only tokens from ``app_token`` with Graph application permissions.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema_rs
import msal
import pytest
from tests.clients.helpers import RegisteredApp, decode_jwt, register_app
from tests.graph.conftest import GRAPH_DEFAULT, TEST_ACTOR, OtherTenant
from tests.graph.helpers import assert_graph_error, user_id
from tests.support.server import RunningServer

from consentry.domain.callers import Caller
from consentry.domain.directory import User
from consentry.domain.mailbox import EventDraft
from consentry.services import directory, mailbox
from consentry.services.demo import CONTOSO_TENANT_ID, DEMO_PASSWORD

Graph = Callable[..., httpx.Client]
Token = Callable[..., str]
Seeded = tuple[str, ...]  # what seeding the demo mailboxes a second time added
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")  # MSAL's ROPC

ALEX = "alex@contoso.example"
ADELE = "adele@contoso.example"
DENIED = mailbox.ACCESS_DENIED
GRAPH_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}")
ME_APP_ONLY = "/me request is only valid with delegated authentication flow."


def _when(value: str, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": value, "timeZone": zone}


def _event_body(subject: str = "Planning", start: str = "2026-05-04T09:00:00", end: str = "2026-05-04T10:00:00",
                **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": _when(start), "end": _when(end), **extra}


def _denied(response: httpx.Response) -> None:
    assert_graph_error(response, 403, DENIED.graph_code, DENIED.message)


def _bad_request(response: httpx.Response, message: str | None = None) -> None:
    assert_graph_error(response, 400, "Request_BadRequest", message)


# --- fixtures ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded(server: RunningServer) -> Seeded:
    """The demo mailboxes (seeded here, or already by the demo): what a second seeding added."""
    mailbox.seed_mailbox(server.ctx, CONTOSO_TENANT_ID)
    return mailbox.seed_mailbox(server.ctx, CONTOSO_TENANT_ID)


@pytest.fixture(scope="module")
def _scoped_apps() -> dict[str, RegisteredApp]:
    return {}


@pytest.fixture
def scoped_token(server: RunningServer, _scoped_apps: dict[str, RegisteredApp]) -> Token:
    """``scoped_token(scopes, upn=ADELE)``: a delegated Graph token whose ``scp`` holds exactly ``scopes``."""
    def acquire(scopes: str, upn: str = ADELE) -> str:
        app = _scoped_apps.get(scopes)
        if app is None:
            app = _scoped_apps[scopes] = register_app(server, CONTOSO_TENANT_ID, delegated=scopes,
                                                      name=f"mailbox tests ({scopes})")
        client = msal.ConfidentialClientApplication(app.app_id, client_credential=app.secret,
                                                    authority=f"{server.base_url}/{CONTOSO_TENANT_ID}",
                                                    instance_discovery=False)
        result = client.acquire_token_by_username_password(upn, DEMO_PASSWORD, scopes=GRAPH_DEFAULT)
        assert "access_token" in result, result
        return str(result["access_token"])
    return acquire


def _new_user(server: RunningServer, name: str = "Mailbox Tester") -> User:
    upn = f"mailbox-{uuid.uuid4().hex[:10]}@contoso.example"
    return directory.create_user(server.ctx, CONTOSO_TENANT_ID, upn, name, DEMO_PASSWORD, TEST_ACTOR)


def _app_caller(tenant_id: str, role: str) -> Caller:
    return Caller(tenant_id, str(uuid.uuid4()), str(uuid.uuid4()), frozenset(), frozenset({role}), True)


# --- the demo mailboxes --------------------------------------------------------------------------------------
def test_demo_users_get_three_events_ordered_by_start_dated_from_the_clock(
        server: RunningServer, seeded: Seeded, scoped_token: Token, graph: Graph) -> None:
    assert seeded == ()
    r = graph(scoped_token("Calendars.Read", ALEX)).get("/v1.0/me/events")
    assert r.status_code == 200, r.text
    alex = user_id(server, ALEX)
    body = r.json()
    assert body["@odata.context"] == f"{server.base_url}/v1.0/$metadata#users('{alex}')/events"
    assert "@odata.nextLink" not in body
    events = body["value"]
    assert [e["subject"] for e in events] == [
        "Contoso weekly stand-up", "Review: Apple Internet Accounts consent request",
        "Lunch with the Fabrikam account team"]
    seeded_at = datetime.fromisoformat(events[0]["createdDateTime"])
    today = datetime(seeded_at.year, seeded_at.month, seeded_at.day, tzinfo=UTC)
    first = today + timedelta(days=1, hours=9)
    assert events[0]["start"] == {"dateTime": first.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}
    assert events[0]["end"] == {"dateTime": (first + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                                "timeZone": "UTC"}
    assert events[2]["start"]["dateTime"].startswith((today + timedelta(days=7)).strftime("%Y-%m-%dT12:00:00"))
    assert events[1]["location"]["displayName"] == "Room 2.14"
    assert events[0]["organizer"] == {"emailAddress": {"name": "Alex Wilber", "address": ALEX}}
    assert events[0]["isAllDay"] is False and events[0]["type"] == "singleInstance"
    assert events[0]["bodyPreview"] == "What we did, what we will do, what is in the way."
    assert events[0]["body"]["contentType"] == "html"
    assert "What we did, what we will do" in events[0]["body"]["content"]


def test_demo_users_get_three_contacts_and_seeding_twice_adds_nothing(
        server: RunningServer, seeded: Seeded, scoped_token: Token, graph: Graph) -> None:
    assert mailbox.seed_mailbox(server.ctx, CONTOSO_TENANT_ID) == ()
    for upn in ("admin@contoso.example", ALEX, ADELE):
        r = graph(scoped_token("Contacts.Read", upn)).get("/v1.0/me/contacts")
        assert r.status_code == 200, r.text
        contacts = r.json()["value"]
        assert [c["displayName"] for c in contacts] == ["Megan Bowen", "Nestor Wilke", "Patti Fernandez"], upn
    patti = contacts[2]
    assert patti["emailAddresses"] == [{"name": "Patti Fernandez", "address": "patti@tailspin.example"},
                                       {"name": "Patti (home)", "address": "patti.fernandez@home.example"}]
    assert patti["companyName"] == "Tailspin Toys" and patti["jobTitle"] == "President"
    assert patti["businessPhones"] == [] and patti["mobilePhone"] == "+1 980 555 0101"


# --- delegated permissions -----------------------------------------------------------------------------------
def test_calendars_readwrite_creates_an_event_and_reads_it_back(
        server: RunningServer, scoped_token: Token, graph: Graph) -> None:
    owner = _new_user(server, "Casey Jensen")
    client = graph(scoped_token("Calendars.ReadWrite", owner.user_principal_name))
    with server.ctx.uow.read() as tx:
        version = tx.directory_version()
    created = client.post("/v1.0/me/events", json={
        "subject": "Let's go for lunch", "body": {"contentType": "HTML", "content": "<p>Does noon <b>work</b>?</p>"},
        "start": _when("2026-06-15T12:00:00.0000000"), "end": {"dateTime": "2026-06-15T14:30:00+02:00"},
        "location": {"displayName": "Harry's Bar"}})
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["@odata.context"] == f"{server.base_url}/v1.0/$metadata#users('{owner.id}')/events/$entity"
    assert event["subject"] == "Let's go for lunch"
    assert event["start"] == {"dateTime": "2026-06-15T12:00:00.0000000", "timeZone": "UTC"}
    assert event["end"] == {"dateTime": "2026-06-15T12:30:00.0000000", "timeZone": "UTC"}
    assert event["bodyPreview"] == "Does noon work?"
    assert event["location"]["displayName"] == "Harry's Bar"
    assert event["organizer"]["emailAddress"] == {"name": "Casey Jensen", "address": owner.user_principal_name}
    got = client.get(f"/v1.0/me/events/{event['id']}")
    assert got.status_code == 200 and got.json() == event
    listed = client.get("/v1.0/me/events").json()["value"]
    assert [e["id"] for e in listed] == [event["id"]]
    with server.ctx.uow.read() as tx:  # a mailbox change is no directory change: no audit record
        assert tx.directory_version() == version



@pytest.mark.skipif("Europe/Paris" not in zoneinfo.available_timezones(), reason="no IANA time zone database")
def test_an_iana_time_zone_is_converted_to_utc(server: RunningServer, scoped_token: Token, graph: Graph) -> None:
    owner = _new_user(server)
    client = graph(scoped_token("Calendars.ReadWrite", owner.user_principal_name))
    created = client.post("/v1.0/me/events", json={
        "subject": "Paris, summer time", "start": _when("2026-07-01T09:00:00", "Europe/Paris"),
        "end": _when("2026-07-01T09:45:00", "Europe/Paris")})
    assert created.status_code == 201, created.text
    assert created.json()["start"] == {"dateTime": "2026-07-01T07:00:00.0000000", "timeZone": "UTC"}
    assert created.json()["end"]["dateTime"] == "2026-07-01T07:45:00.0000000"
    _bad_request(client.post("/v1.0/me/events", json={**_event_body(), "end": _when("2026-05-04T10:00:00",
                                                                                    "Pacific Standard Time")}))

def test_calendars_read_lists_and_gets_but_cannot_create(
        server: RunningServer, seeded: Seeded, scoped_token: Token, graph: Graph) -> None:
    token = scoped_token("Calendars.Read", ALEX)
    assert decode_jwt(token)["scp"] == "Calendars.Read"
    client = graph(token)
    first = client.get("/v1.0/me/events", params={"$top": "1"}).json()["value"][0]
    assert client.get(f"/v1.0/me/events/{first['id']}").json()["subject"] == first["subject"]
    _denied(client.post("/v1.0/me/events", json=_event_body()))
    assert len(client.get("/v1.0/me/events").json()["value"]) == 3


def test_a_token_without_a_calendar_scope_is_denied(scoped_token: Token, graph: Graph, seeded: Seeded,
                                                    server: RunningServer) -> None:
    client = graph(scoped_token("User.Read Contacts.ReadWrite", ALEX))
    _denied(client.get("/v1.0/me/events"))
    _denied(client.get(f"/v1.0/me/events/{uuid.uuid4()}"))
    _denied(client.post("/v1.0/me/events", json=_event_body()))
    _denied(client.get(f"/v1.0/users/{user_id(server, ALEX)}/events"))


def test_the_graph_cli_token_without_calendar_scopes_is_denied(admin_token: str, graph: Graph) -> None:
    _denied(graph(admin_token).get("/v1.0/me/events"))
    _denied(graph(admin_token).get("/v1.0/me/contacts"))


def test_contacts_readwrite_creates_a_contact_and_contacts_read_cannot(
        server: RunningServer, scoped_token: Token, graph: Graph) -> None:
    owner = _new_user(server)
    writer = graph(scoped_token("Contacts.ReadWrite", owner.user_principal_name))
    created = writer.post("/v1.0/me/contacts", json={
        "givenName": "Pavel", "surname": "Bansky", "companyName": "Fabrikam", "jobTitle": "Engineer",
        "emailAddresses": [{"address": "pavelb@fabrikam.example", "name": "Pavel Bansky"},
                           {"address": "pavel@home.example"}],
        "businessPhones": ["+1 732 555 0102"], "mobilePhone": None})
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["@odata.context"] == f"{server.base_url}/v1.0/$metadata#users('{owner.id}')/contacts/$entity"
    assert contact["displayName"] == "Pavel Bansky"  # filed under givenName surname
    assert contact["emailAddresses"] == [{"name": "Pavel Bansky", "address": "pavelb@fabrikam.example"},
                                         {"name": "pavel@home.example", "address": "pavel@home.example"}]
    assert contact["businessPhones"] == ["+1 732 555 0102"] and contact["mobilePhone"] is None
    reader = graph(scoped_token("Contacts.Read", owner.user_principal_name))
    assert reader.get(f"/v1.0/me/contacts/{contact['id']}").json() == contact
    assert [c["id"] for c in reader.get("/v1.0/me/contacts").json()["value"]] == [contact["id"]]
    _denied(reader.post("/v1.0/me/contacts", json={"displayName": "Nobody"}))
    calendar_only = graph(scoped_token("Calendars.ReadWrite", owner.user_principal_name))
    _denied(calendar_only.get("/v1.0/me/contacts"))
    _denied(calendar_only.get(f"/v1.0/me/contacts/{contact['id']}"))


def test_a_delegated_caller_reaches_only_their_own_mailbox(
        server: RunningServer, seeded: Seeded, scoped_token: Token, graph: Graph) -> None:
    client = graph(scoped_token("Calendars.ReadWrite Contacts.ReadWrite", ADELE))
    alex = user_id(server, ALEX)
    _denied(client.get(f"/v1.0/users/{alex}/events"))
    _denied(client.get(f"/v1.0/users/{ALEX}/contacts"))
    _denied(client.post(f"/v1.0/users/{alex}/events", json=_event_body()))
    own = client.get(f"/v1.0/users/{ADELE.upper()}/contacts")
    assert own.status_code == 200, own.text
    assert own.json()["@odata.context"].endswith(f"users('{user_id(server, ADELE)}')/contacts")
    alex_event = graph(scoped_token("Calendars.Read", ALEX)).get("/v1.0/me/events").json()["value"][0]
    assert_graph_error(client.get(f"/v1.0/me/events/{alex_event['id']}"), 404, "Request_ResourceNotFound")


# --- application permissions -----------------------------------------------------------------------------------
def test_an_app_with_calendars_read_reads_any_users_events_by_id_or_upn(
        server: RunningServer, seeded: Seeded, app_token: Token, graph: Graph) -> None:
    client = graph(app_token(roles=("Calendars.Read",)))
    alex = user_id(server, ALEX)
    by_id = client.get(f"/v1.0/users/{alex}/events")
    assert by_id.status_code == 200, by_id.text
    assert len(by_id.json()["value"]) == 3
    assert by_id.json()["@odata.context"] == f"{server.base_url}/v1.0/$metadata#users('{alex}')/events"
    by_upn = client.get(f"/v1.0/users/{ALEX}/events")
    assert by_upn.json()["value"] == by_id.json()["value"]
    one = by_id.json()["value"][1]
    assert client.get(f"/v1.0/users/{ALEX}/events/{one['id']}").json()["subject"] == one["subject"]
    _denied(client.post(f"/v1.0/users/{alex}/events", json=_event_body()))
    _denied(client.get(f"/v1.0/users/{alex}/contacts"))
    assert_graph_error(client.get("/v1.0/me/events"), 400, "Request_BadRequest", ME_APP_ONLY)
    assert_graph_error(client.get(f"/v1.0/users/nobody-{uuid.uuid4().hex[:6]}@contoso.example/events"), 404,
                       "Request_ResourceNotFound")


def test_an_app_with_readwrite_creates_in_a_users_mailbox_and_one_without_roles_is_denied(
        server: RunningServer, app_token: Token, graph: Graph) -> None:
    owner = _new_user(server)
    writer = graph(app_token(roles=("Calendars.ReadWrite", "Contacts.ReadWrite")))
    created = writer.post(f"/v1.0/users/{owner.id}/events", json=_event_body("Booked by the daemon"))
    assert created.status_code == 201, created.text
    assert created.json()["organizer"]["emailAddress"]["address"] == owner.user_principal_name
    contact = writer.post(f"/v1.0/users/{owner.user_principal_name}/contacts", json={"displayName": "Daemon Contact"})
    assert contact.status_code == 201, contact.text
    reader = graph(app_token(roles=("Contacts.Read",)))
    assert [c["displayName"] for c in reader.get(f"/v1.0/users/{owner.id}/contacts").json()["value"]] == [
        "Daemon Contact"]
    nothing = graph(app_token(roles=("User.Read.All",)))
    _denied(nothing.get(f"/v1.0/users/{owner.id}/events"))
    _denied(nothing.get(f"/v1.0/users/{owner.id}/contacts"))


# --- tenant isolation ------------------------------------------------------------------------------------------
def test_another_tenants_users_and_items_are_not_found(
        server: RunningServer, seeded: Seeded, other_tenant: OtherTenant, app_token: Token, scoped_token: Token,
        graph: Graph) -> None:
    _, foreign = mailbox.create_item(
        mailbox.EVENTS, server.ctx, _app_caller(other_tenant.tenant_id, "Calendars.ReadWrite"), other_tenant.user_id,
        EventDraft("Fabrikam board meeting", "", "", datetime(2026, 7, 1, 9, tzinfo=UTC),
                   datetime(2026, 7, 1, 10, tzinfo=UTC)))
    app = graph(app_token(roles=("Calendars.ReadWrite", "Contacts.ReadWrite")))
    for response in (app.get(f"/v1.0/users/{other_tenant.user_id}/events"),
                     app.get(f"/v1.0/users/{other_tenant.upn}/events"),
                     app.get(f"/v1.0/users/{other_tenant.user_id}/events/{foreign.id}"),
                     app.post(f"/v1.0/users/{other_tenant.user_id}/events", json=_event_body()),
                     app.get(f"/v1.0/users/{other_tenant.user_id}/contacts"),
                     app.get(f"/v1.0/users/{ALEX}/events/{foreign.id}")):
        assert_graph_error(response, 404, "Request_ResourceNotFound")
    delegated = graph(scoped_token("Calendars.Read", ALEX))
    assert_graph_error(delegated.get(f"/v1.0/me/events/{foreign.id}"), 404, "Request_ResourceNotFound")
    assert_graph_error(delegated.get(f"/v1.0/users/{other_tenant.user_id}/events"), 404, "Request_ResourceNotFound")
    owner_app = _app_caller(other_tenant.tenant_id, "Calendars.Read")
    assert mailbox.find_item(mailbox.EVENTS, server.ctx, owner_app, other_tenant.user_id, foreign.id)[1] == foreign


# --- request bodies ----------------------------------------------------------------------------------------------
BAD_EVENTS: dict[str, tuple[Any, str | None]] = {
    "no subject": ({"start": _when("2026-05-04T09:00:00"), "end": _when("2026-05-04T10:00:00")},
                   "Property 'subject' is required."),
    "blank subject": (_event_body("   "), "Property 'subject' is required."),
    "no start": ({"subject": "x", "end": _when("2026-05-04T10:00:00")}, "Property 'start' is required."),
    "no end": ({"subject": "x", "start": _when("2026-05-04T10:00:00")}, "Property 'end' is required."),
    "end before start": (_event_body(start="2026-05-04T10:00:00", end="2026-05-04T09:59:59"),
                         "The end time of the event must not be before its start time."),
    "not ISO 8601": (_event_body(start="next Tuesday"), None),
    "no such day": (_event_body(start="2026-02-30T10:00:00"), None),
    "unknown time zone": ({**_event_body(), "start": _when("2026-05-04T09:00:00", "Mars/Olympus_Mons")}, None),
    "start not an object": ({**_event_body(), "start": "2026-05-04T09:00:00"},
                            "Invalid value specified for property 'start' of resource 'Event'."),
    "subject too long": (_event_body("x" * 256), "Invalid value specified for property 'subject' of resource 'Event'."),
    "subject with NUL": (_event_body("lunch\u0000"), "The request body contains a NUL character."),
    "unknown property": (_event_body(attendees=[]),
                         "Property 'attendees' is not supported here or does not exist on this resource."),
    "unknown body type": (_event_body(body={"contentType": "rtf", "content": "x"}), None),
    "location too long": (_event_body(location={"displayName": "x" * 256}), None),
    "not an object": ([], "The request body must be a JSON object."),
}
BAD_CONTACTS: dict[str, tuple[Any, str | None]] = {
    "no name": ({"companyName": "Fabrikam"}, "Property 'displayName' or 'givenName' is required."),
    "blank names": ({"displayName": " ", "givenName": ""}, "Property 'displayName' or 'givenName' is required."),
    "malformed email": ({"displayName": "x", "emailAddresses": [{"address": "not-an-address"}]},
                        "The email address 'not-an-address' is not valid."),
    "email without address": ({"displayName": "x", "emailAddresses": [{"name": "x"}]}, None),
    "four emails": ({"displayName": "x", "emailAddresses": [{"address": f"a{i}@b.example"} for i in range(4)]},
                    None),
    "given name too long": ({"givenName": "x" * 65}, "Invalid value specified for property 'givenName' of "
                                                     "resource 'Contact'."),
    "display name not a string": ({"displayName": 5}, None),
    "three business phones": ({"displayName": "x", "businessPhones": ["1", "2", "3"]}, None),
    "unknown email property": ({"displayName": "x", "emailAddresses": [{"address": "a@b.example", "x": 1}]},
                               "Property 'x' is not supported here or does not exist on this resource."),
}


@pytest.mark.parametrize("case", BAD_EVENTS, ids=str)
def test_a_bad_event_body_is_a_bad_request(server: RunningServer, scoped_token: Token, graph: Graph,
                                           case: str) -> None:
    body, message = BAD_EVENTS[case]
    client = graph(scoped_token("Calendars.ReadWrite", ADELE))
    _bad_request(client.post("/v1.0/me/events", json=body), message)


@pytest.mark.parametrize("case", BAD_CONTACTS, ids=str)
def test_a_bad_contact_body_is_a_bad_request(server: RunningServer, scoped_token: Token, graph: Graph,
                                             case: str) -> None:
    body, message = BAD_CONTACTS[case]
    client = graph(scoped_token("Contacts.ReadWrite", ADELE))
    _bad_request(client.post("/v1.0/me/contacts", json=body), message)


def test_bad_bodies_create_nothing(server: RunningServer, seeded: Seeded, scoped_token: Token,
                                   graph: Graph) -> None:
    client = graph(scoped_token("Calendars.ReadWrite Contacts.ReadWrite", ADELE))
    for body, _ in BAD_EVENTS.values():
        client.post("/v1.0/me/events", json=body)
    for body, _ in BAD_CONTACTS.values():
        client.post("/v1.0/me/contacts", json=body)
    assert len(client.get("/v1.0/me/events").json()["value"]) == 3
    assert len(client.get("/v1.0/me/contacts").json()["value"]) == 3


def test_a_malformed_item_id_is_a_bad_request_and_an_unknown_one_not_found(
        scoped_token: Token, graph: Graph) -> None:
    client = graph(scoped_token("Calendars.Read Contacts.Read", ALEX))
    _bad_request(client.get("/v1.0/me/events/AAMkAGI2TGuLAAA="), "Id is malformed.")
    _bad_request(client.get("/v1.0/me/contacts/not-an-id"), "Id is malformed.")
    assert_graph_error(client.get(f"/v1.0/me/events/{uuid.uuid4()}"), 404, "Request_ResourceNotFound")
    assert_graph_error(client.get(f"/v1.0/me/contacts/{uuid.uuid4()}"), 404, "Request_ResourceNotFound")


# --- query options -----------------------------------------------------------------------------------------------
def test_events_page_with_top_in_start_order_and_select_keeps_id(
        server: RunningServer, scoped_token: Token, graph: Graph) -> None:
    owner = _new_user(server)
    client = graph(scoped_token("Calendars.ReadWrite", owner.user_principal_name))
    starts = {"e": "2026-05-09T08:00:00", "b": "2026-05-02T08:00:00", "d": "2026-05-05T08:00:00",
              "a": "2026-05-01T08:00:00", "c": "2026-05-05T08:00:00"}  # c and d start together
    for subject, start in starts.items():
        assert client.post("/v1.0/me/events", json=_event_body(subject, start, start)).status_code == 201
    pages: list[list[dict[str, Any]]] = []
    url: str | None = "/v1.0/me/events?$top=2&$select=subject,start"
    while url:
        body = client.get(url).json()
        pages.append(body["value"])
        url = body.get("@odata.nextLink")
        if url:
            assert url.startswith(f"{server.base_url}/v1.0/me/events?")
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [e for p in pages for e in p]
    assert [e["subject"] for e in items][:2] == ["a", "b"] and items[-1]["subject"] == "e"
    assert sorted(e["subject"] for e in items[2:4]) == ["c", "d"]
    assert all(set(e) == {"id", "subject", "start"} for e in items)
    assert all(GRAPH_TIME.fullmatch(e["start"]["dateTime"]) for e in items)
    newest = client.get("/v1.0/me/events", params={"$orderby": "start/dateTime desc", "$top": "1"}).json()
    assert [e["subject"] for e in newest["value"]] == ["e"] and "@odata.nextLink" in newest
    found = client.get("/v1.0/me/events", params={"$filter": "subject eq 'd'", "$count": "true"}).json()
    assert [e["subject"] for e in found["value"]] == ["d"] and found["@odata.count"] == 1


def test_contacts_page_by_display_name(server: RunningServer, scoped_token: Token, graph: Graph) -> None:
    owner = _new_user(server)
    client = graph(scoped_token("Contacts.ReadWrite", owner.user_principal_name))
    for name in ("Zoe", "Adam", "Mia"):
        assert client.post("/v1.0/me/contacts", json={"displayName": name}).status_code == 201
    first = client.get("/v1.0/me/contacts", params={"$top": "2"}).json()
    assert [c["displayName"] for c in first["value"]] == ["Adam", "Mia"]
    rest = client.get(first["@odata.nextLink"]).json()
    assert [c["displayName"] for c in rest["value"]] == ["Zoe"] and "@odata.nextLink" not in rest


def test_unknown_select_and_unsupported_query_options_are_refused(scoped_token: Token, graph: Graph) -> None:
    client = graph(scoped_token("Calendars.Read Contacts.Read", ALEX))
    _bad_request(client.get("/v1.0/me/events", params={"$select": "subject,attendeez"}), (
        "Parsing OData Select and Expand failed: Could not find a property named 'attendeez' on type "
        "'microsoft.graph.event'."))
    _bad_request(client.get("/v1.0/me/contacts", params={"$orderby": "surname"}),
                 "Sorting by 'surname' is not supported.")
    assert_graph_error(client.get("/v1.0/me/events", params={"$filter": "start/dateTime ge '2026'"}), 400,
                       "Request_UnsupportedQuery")
    _bad_request(client.get("/v1.0/me/events", params={"$skiptoken": "bm90IGpzb24"}), "The $skiptoken is not valid.")


def test_prefer_text_returns_the_body_as_text(seeded: Seeded, scoped_token: Token, graph: Graph) -> None:
    client = graph(scoped_token("Calendars.Read", ALEX))
    r = client.get("/v1.0/me/events", params={"$top": "1"}, headers={"Prefer": 'outlook.body-content-type="text"'})
    assert r.headers["preference-applied"] == 'outlook.body-content-type="text"'
    assert r.json()["value"][0]["body"] == {"contentType": "text",
                                            "content": "What we did, what we will do, what is in the way."}
    assert "preference-applied" not in client.get("/v1.0/me/events", params={"$top": "1"}).headers


def _skiptoken(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


HOSTILE_QUERIES = (  # those test_schemathesis sends to every collection
    {"$top": "\u00b2"}, {"$filter": "id eq 99999999999999999999999"}, {"$skiptoken": _skiptoken([2**70, "x"])},
    {"$skiptoken": _skiptoken(["9999-12-31T23:59:59-14:00", "x"])},
    {"$filter": "activityDateTime ge 2026-02-30T00:00:00Z"})


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=lambda q: "&".join(f"{k}={v[:30]}" for k, v in q.items()))
def test_a_malformed_query_is_refused_before_the_permission_is_checked(
        server: RunningServer, admin_token: str, graph: Graph, query: dict[str, str]) -> None:
    """Schemathesis sends these with a token that holds no mailbox permission: 400, never 403 or 500."""
    client = graph(admin_token)
    for path in ("/v1.0/me/events", "/v1.0/me/contacts", f"/v1.0/users/{ALEX}/events", f"/v1.0/users/{ALEX}/contacts"):
        response = client.get(path, params=query)
        assert response.status_code == 400, (path, response.text)


# --- the OpenAPI document ----------------------------------------------------------------------------------------
def test_responses_match_the_documented_schemas(server: RunningServer, seeded: Seeded, scoped_token: Token,
                                                graph: Graph) -> None:
    with server.client() as anonymous:
        document = anonymous.get("/v1.0/openapi.json").json()
    assert document["paths"]["/me/events"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/event"}

    def validate(name: str, body: dict[str, Any]) -> None:
        jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}",
                                     "components": document["components"]}).validate(body)

    client = graph(scoped_token("Calendars.Read Contacts.Read", ALEX))
    events = client.get("/v1.0/me/events").json()
    validate("eventCollection", events)
    validate("event", client.get(f"/v1.0/me/events/{events['value'][0]['id']}").json())
    contacts = client.get("/v1.0/me/contacts").json()
    validate("contactCollection", contacts)
    validate("contact", client.get(f"/v1.0/me/contacts/{contacts['value'][0]['id']}").json())


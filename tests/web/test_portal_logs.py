"""The portal's Audit logs and Sign-in logs over HTTP (spec §9): filters by activity, actor, target and date,
paging with signed cursors, CSV and JSON exports (and the spreadsheet formula guard), the AADSTS code and
consent reason of each sign-in, and who may look."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from tests.protocol.helpers import (
    TEST_ACTOR,
    authorize_params,
    make_app,
    make_tenant,
    make_user,
    sign_in_for_code,
)
from tests.support.server import RunningServer
from tests.web.portal_helpers import portal_client, text_of
from tests.web.test_consent import need_admin_approval, to_consent_page

from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.directory import Tenant, User
from consentry.domain.odata import encode_skiptoken
from consentry.services import apps, audit, classifications, directory, policies
from consentry.services.context import Actor

POLICY = "Update authorization policy"


def admin_with(server: RunningServer, tenant: Tenant, role: str | None) -> User:
    user = make_user(server, tenant)
    if role:
        directory.assign_role(server.ctx, tenant.id, user.user_principal_name, role, TEST_ACTOR)
    return user


def as_user(user: User) -> Actor:
    return Actor("user", user.id, user.user_principal_name, "203.0.113.7")


def toggle_risky(server: RunningServer, tenant: Tenant, actor: Actor, times: int = 1) -> None:
    """Each toggle is one "Update authorization policy" record."""
    for _ in range(times):
        block = policies.get_consent_settings(server.ctx, tenant.id).block_user_consent_for_risky_apps
        policies.set_block_risky_apps(server.ctx, tenant.id, not block, actor)


def column(page: httpx.Response, label: str) -> list[str]:
    cells = re.findall(r'<td data-label="' + re.escape(label) + r'"[^>]*>(.*?)</td>', page.text, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]


def record_ids(page: httpx.Response) -> list[str]:
    return re.findall(r"<dt>Id</dt><dd><code>([0-9a-f-]{36})</code></dd>", page.text)


def audit_page(client: httpx.Client, **params: str) -> httpx.Response:
    return client.get("/portal/audit-logs", params=params)


def link(page: httpx.Response, text: str) -> str | None:
    match = re.search(r'<a [^>]*href="([^"]+)"[^>]*>' + re.escape(text) + "</a>", page.text)
    return html.unescape(match.group(1)) if match else None


# --- audit log filters -----------------------------------------------------------------------------------
def test_the_audit_log_filters_by_activity_and_actor(server: RunningServer) -> None:
    tenant = make_tenant(server)
    first = admin_with(server, tenant, "Global Administrator")
    second = admin_with(server, tenant, "Cloud Application Administrator")
    toggle_risky(server, tenant, as_user(first))
    graph = apps.find_service_principal(server.ctx, tenant.id, app_id=MICROSOFT_GRAPH)
    classifications.classify_permission(server.ctx, tenant.id, graph.id, as_user(second), permission_id=None,
                                        permission_name="openid", classification="low")
    with portal_client(server, first.user_principal_name) as client:
        everything = audit_page(client)
        by_activity = audit_page(client, activity="update AUTHORIZATION")
        by_actor = audit_page(client, actor=second.user_principal_name)
        by_actor_id = audit_page(client, actor=second.id)
        by_system = audit_page(client, actor="protocol tests", activity="Add member to role")
    assert everything.status_code == 200
    assert 'href="/portal/audit-logs" aria-current="page"' in everything.text
    assert {"Add member to role", POLICY, "Add delegated permission classification"} <= set(
        column(everything, "Activity"))
    assert column(by_activity, "Activity") == [POLICY]
    assert column(by_activity, "Initiated by (actor)") == [first.user_principal_name]
    assert column(by_activity, "Status") == ["Success"]
    assert column(by_activity, "Target(s)") == ["Policy: Authorization Policy (authorizationPolicy)"]
    assert "BlockUserConsentForRiskyApps: &#34;True&#34; → &#34;False&#34;" in by_activity.text
    assert column(by_actor, "Activity") == ["Add delegated permission classification"]
    assert column(by_actor_id, "Activity") == ["Add delegated permission classification"]
    assert column(by_system, "Initiated by (actor)") == ["protocol tests", "protocol tests"]


def test_typed_text_cannot_change_what_the_filter_means(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Reader")
    toggle_risky(server, tenant, as_user(admin))
    with portal_client(server, admin.user_principal_name) as client:
        widened = audit_page(client, activity="Nothing') or startswith(activityDisplayName,'")
        quoted = audit_page(client, actor="o'brien@example.com")
        wildcard = audit_page(client, activity="%")
    for page in (widened, quoted, wildcard):
        assert page.status_code == 200
        assert column(page, "Activity") == []
        assert "No audit records match these filters." in text_of(page)
    assert 'value="Nothing&#39;) or startswith(activityDisplayName,&#39;"' in widened.text


def test_the_audit_log_filters_by_target(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    app = make_app(server, tenant)
    sp = apps.find_service_principal(server.ctx, tenant.id, app_id=app.app_id)
    with portal_client(server, admin.user_principal_name) as client:
        by_name = audit_page(client, target=sp.display_name)
        by_id = audit_page(client, target=sp.id.upper())
        by_registration = audit_page(client, target=app.app.id)
        by_user = audit_page(client, target=admin.user_principal_name)
        unknown = audit_page(client, target="No such app")
        no_user = audit_page(client, target=f"nobody@{tenant.default_domain}")
    # (records written at the same instant come in no particular order)
    assert sorted(column(by_name, "Activity")) == ["Add delegated permission grant", "Add service principal"]
    assert f"Showing records about the enterprise application {sp.display_name} ({sp.id})." in text_of(by_name)
    assert all(sp.id in cell for cell in column(by_name, "Target(s)"))
    assert sorted(column(by_id, "Activity")) == sorted(column(by_name, "Activity"))
    assert sorted(column(by_registration, "Activity")) == [
        "Add application", "Update application – Certificates and secrets management"]
    assert sorted(column(by_user, "Activity")) == ["Add member to role", "Add user"]
    assert unknown.status_code == 400
    assert "Target: nothing in this organization is named 'No such app'." in text_of(unknown)
    assert no_user.status_code == 400 and "Target: no user 'nobody@" in text_of(no_user)


def test_the_audit_log_filters_by_date_range(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    toggle_risky(server, tenant, as_user(admin))
    day_a = server.clock.now().date()
    server.advance(days=3)
    toggle_risky(server, tenant, as_user(admin))
    day_b = day_a + timedelta(days=3)
    with portal_client(server, admin.user_principal_name) as client:
        after_a = audit_page(client, activity=POLICY, **{"from": (day_a + timedelta(days=1)).isoformat()})
        before_b = audit_page(client, activity=POLICY, to=(day_b - timedelta(days=1)).isoformat())
        both = audit_page(client, activity=POLICY, to=day_b.isoformat(), **{"from": day_a.isoformat()})
        only_b = audit_page(client, activity=POLICY, to=day_b.isoformat(), **{"from": day_b.isoformat()})
    assert [len(column(p, "Activity")) for p in (after_a, before_b, both, only_b)] == [1, 1, 2, 1]
    assert column(after_a, "Date (UTC)")[0].startswith(day_b.isoformat())
    assert column(before_b, "Date (UTC)")[0].startswith(day_a.isoformat())
    assert [d[:10] for d in column(both, "Date (UTC)")] == [day_b.isoformat(), day_a.isoformat()]
    assert 'name="from" value="' + day_b.isoformat() + '"' in only_b.text


def test_a_bad_date_is_a_clear_error(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Reader")
    with portal_client(server, admin.user_principal_name) as client:
        no_such_day = audit_page(client, **{"from": "2026-02-30"})
        words = audit_page(client, to="yesterday")
        reversed_range = audit_page(client, to="2026-01-01", **{"from": "2026-02-01"})
        export = client.get("/portal/audit-logs/export.csv", params={"to": "01/02/2026"})
        sign_ins = client.get("/portal/sign-in-logs", params={"from": "2026-13-01"})
    for page in (no_such_day, words, reversed_range, export, sign_ins):
        assert page.status_code == 400
        assert page.headers["content-type"].startswith("text/html")
    assert "From '2026-02-30' is not a date: use the form YYYY-MM-DD, for example 2026-03-01." in text_of(no_such_day)
    assert "To 'yesterday' is not a date" in text_of(words)
    assert "The From date is after the To date." in text_of(reversed_range)
    assert "To '01/02/2026' is not a date" in text_of(export)
    assert "From '2026-13-01' is not a date" in text_of(sign_ins)
    assert 'name="to" value="yesterday"' in words.text  # the form keeps what was typed


# --- paging ----------------------------------------------------------------------------------------------
def test_next_page_links_walk_the_whole_log_and_a_changed_link_is_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    toggle_risky(server, tenant, as_user(admin), times=30)
    with portal_client(server, admin.user_principal_name) as client:
        first = audit_page(client, activity=POLICY, size="25")
        next_link = link(first, "Next page")
        assert next_link is not None and link(first, "First page") is None
        second = client.get(next_link)
        query = parse_qs(urlsplit(next_link).query)
        cursor = query["after"][0]
        tampered = audit_page(client, activity=POLICY, size="25", after=cursor[:-1] + ("A" if cursor[-1] != "A"
                                                                                       else "B"))
        forged_mac = audit_page(client, activity=POLICY, size="25", after="0" * 32 + cursor[32:])
        unsigned = audit_page(client, activity=POLICY, size="25",
                              after=encode_skiptoken(("2026-01-01T00:00:00+00:00", "x")))
    assert len(record_ids(first)) == 25
    assert len(record_ids(second)) == 5
    assert len(set(record_ids(first)) | set(record_ids(second))) == 30
    assert link(second, "Next page") is None and "No more records." in text_of(second)
    assert link(second, "First page") == "/portal/audit-logs?" + urlencode({"activity": POLICY, "size": "25"})
    assert query["activity"] == [POLICY] and query["size"] == ["25"]
    for page in (tampered, forged_mac, unsigned):
        assert page.status_code == 400
        assert "This page link is not valid (it was changed, or comes from another server)." in text_of(page)


# --- exports ---------------------------------------------------------------------------------------------
def test_the_csv_export_holds_the_filtered_records_and_defuses_formulas(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Reader")
    names = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3", "@SUM(A1)", 'Contoso, "Ops"']
    for name in names:
        toggle_risky(server, tenant, Actor("system", name=name))
    with portal_client(server, admin.user_principal_name) as client:
        page = audit_page(client, activity=POLICY)
        link_csv = link(page, "Download CSV")
        response = client.get(link_csv or "")
    assert link_csv == "/portal/audit-logs/export.csv?" + urlencode({"activity": POLICY})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="AuditLogs_\d{4}-\d{2}-\d{2}\.csv"',
                        response.headers["content-disposition"])
    assert response.text.count("\r\n") == len(names) + 1
    assert '"Contoso, ""Ops"""' in response.text  # RFC 4180 quoting
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["Date (UTC)", "Id", "Service", "Category", "Activity", "Result", "Result reason",
                       "Operation type", "Initiated by (actor)", "Actor IP address", "Target(s)",
                       "Modified properties", "Correlation ID"]
    body = rows[1:]
    assert [r[4] for r in body] == [POLICY] * len(names)
    assert sorted(r[8] for r in body) == sorted([
        "'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1+2", "'-3", "'@SUM(A1)", 'Contoso, "Ops"'])
    assert {r[2] for r in body} == {"Core Directory"} and {r[3] for r in body} == {"Policy"}
    assert all(r[10] == "Policy: Authorization Policy (authorizationPolicy)" for r in body)
    assert all(r[11].startswith("BlockUserConsentForRiskyApps: ") for r in body)
    assert sorted(r[1] for r in body) == sorted(record_ids(page))


def test_the_json_export_holds_the_filtered_records_in_graphs_shape(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    toggle_risky(server, tenant, as_user(admin), times=2)
    with portal_client(server, admin.user_principal_name) as client:
        response = client.get("/portal/audit-logs/export.json", params={"actor": admin.user_principal_name})
        everything = client.get("/portal/audit-logs/export.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert re.fullmatch(r'attachment; filename="AuditLogs_\d{4}-\d{2}-\d{2}\.json"',
                        response.headers["content-disposition"])
    records = response.json()
    assert [r["activityDisplayName"] for r in records] == [POLICY, POLICY]
    assert {r["initiatedBy"]["user"]["userPrincipalName"] for r in records} == {admin.user_principal_name}
    assert {r["initiatedBy"]["user"]["ipAddress"] for r in records} == {"203.0.113.7"}
    assert records[0]["targetResources"][0]["modifiedProperties"][0]["displayName"] == "BlockUserConsentForRiskyApps"
    assert {r["loggedByService"] for r in records} == {"Core Directory"}
    assert len(everything.json()) > len(records)
    assert response.headers["x-consentry-records"] == "2"


# --- sign-in log -----------------------------------------------------------------------------------------
def test_the_sign_in_log_shows_the_code_and_the_consent_reason(server: RunningServer) -> None:
    tenant = make_tenant(server)
    reader = admin_with(server, tenant, "Global Reader")
    policies.set_user_consent(server.ctx, tenant.id, "none", TEST_ACTOR)
    user = make_user(server, tenant)
    refused_app, allowed_app = make_app(server, tenant, grant=None), make_app(server, tenant)
    with server.client() as browser:
        need_admin_approval(to_consent_page(browser, tenant.id, authorize_params(refused_app),
                                            user.user_principal_name), "user_consent_not_allowed")
    with server.client() as browser:
        assert "code" in sign_in_for_code(browser, tenant.id, allowed_app, user)
    with portal_client(server, reader.user_principal_name) as client:
        refused = client.get("/portal/sign-in-logs", params={"user": user.user_principal_name,
                                                             "app": refused_app.app_id})
        by_name = client.get("/portal/sign-in-logs", params={"user": user.user_principal_name.upper(),
                                                             "app": allowed_app.app.display_name})
        by_user_id = client.get("/portal/sign-in-logs", params={"user": user.id})
    assert refused.status_code == 200
    assert 'href="/portal/sign-in-logs" aria-current="page"' in refused.text
    assert column(refused, "Request") == ["/authorize (interactive)"]
    assert column(refused, "User") == [user.user_principal_name]
    assert column(refused, "Application") == [refused_app.app.display_name]
    assert column(refused, "Status") == ["Failure"]
    assert column(refused, "Error code") == ["AADSTS90094"]
    assert column(refused, "Consent reason") == [
        "user_consent_not_allowed User consent is not allowed in this organization"]
    assert column(refused, "Failure reason") == ["The grant requires admin permission."]
    assert column(by_name, "Error code") == ["0"]
    assert column(by_name, "Status") == ["Success"]
    assert column(by_name, "Consent reason") == ["granted All permissions were already granted"]
    assert sorted(column(by_user_id, "Error code")) == ["0", "AADSTS90094"]


def test_the_sign_in_log_pages_with_signed_links(server: RunningServer) -> None:
    tenant = make_tenant(server)
    reader = admin_with(server, tenant, "Global Reader")
    app = make_app(server, tenant)
    for n in range(27):
        audit.record_sign_in(server.ctx, tenant.id, grant_type="client_credentials", error_code=0 if n else 7000215,
                             correlation_id=str(uuid.uuid4()), app_id=app.app_id, app_name=app.app.display_name,
                             failure_reason="" if n else "Invalid client secret provided.")
    with portal_client(server, reader.user_principal_name) as client:
        first = client.get("/portal/sign-in-logs", params={"app": app.app_id})
        second = client.get(link(first, "Next page") or "")
        tampered = client.get("/portal/sign-in-logs", params={"app": app.app_id, "after": "abc.def"})
    assert len(column(first, "Error code")) == 25 and len(column(second, "Error code")) == 2
    assert sorted(column(first, "Error code") + column(second, "Error code")) == ["0"] * 26 + ["AADSTS7000215"]
    assert set(column(first, "Request")) == {"/token (client_credentials)"}
    assert set(column(first, "User")) == {"—"}
    assert link(second, "Next page") is None
    assert tampered.status_code == 400 and "This page link is not valid" in text_of(tampered)


# --- who may look ----------------------------------------------------------------------------------------
def test_a_global_reader_may_read_and_export_the_logs(server: RunningServer) -> None:
    tenant = make_tenant(server)
    reader = admin_with(server, tenant, "Global Reader")
    with portal_client(server, reader.user_principal_name) as client:
        responses = [client.get(p) for p in ("/portal/audit-logs", "/portal/audit-logs/export.csv",
                                             "/portal/audit-logs/export.json", "/portal/sign-in-logs")]
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert {"Add member to role", "Add user"} <= set(column(responses[0], "Activity"))


def test_a_user_without_a_directory_role_is_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    user = admin_with(server, tenant, None)
    with portal_client(server, user.user_principal_name) as client:
        responses = [client.get(p) for p in ("/portal/audit-logs", "/portal/audit-logs/export.csv",
                                             "/portal/audit-logs/export.json", "/portal/sign-in-logs")]
    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert all("You don't have access" in text_of(r) for r in responses)
    assert all("content-disposition" not in r.headers for r in responses)

"""The portal's Users and Groups pages over HTTP: list, search and paging, "New user" and "New group",
"Assigned roles", "Members", who may change what (a Global Reader sees but cannot change; a user without a
role is refused), anti-forgery tokens, 404s for other tenants' objects, and an audit record per change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from tests.protocol.helpers import PASSWORD, TEST_ACTOR, make_tenant, make_user, unique
from tests.support.server import RunningServer
from tests.web.portal_helpers import csrf, portal_client, post_form, text_of

from consentry.domain.directory import (
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    Tenant,
    User,
)
from consentry.domain.odata import ODataQuery
from consentry.errors import ConsentryError
from consentry.services import audit, directory
from consentry.services.directory import DUPLICATE_UPN, UNVERIFIED_DOMAIN, WEAK_PASSWORD


@contextmanager
def signed_in(server: RunningServer, tenant: Tenant, role: str | None = "Global Administrator"
              ) -> Iterator[tuple[httpx.Client, User]]:
    """A portal client for a fresh user of ``tenant`` holding ``role`` (none when None)."""
    user = make_user(server, tenant)
    if role:
        directory.assign_role(server.ctx, tenant.id, user.user_principal_name, role, TEST_ACTOR)
    with portal_client(server, user.user_principal_name) as client:
        yield client, user


def audits(server: RunningServer, tenant_id: str, target_id: str) -> list[dict[str, Any]]:
    rows, _ = audit.page_directory_audits(server.ctx, tenant_id, ODataQuery(top=50), target_id=target_id)
    return rows


def activities(server: RunningServer, tenant_id: str, target_id: str, by: User) -> list[str]:
    """The audit activities about ``target_id`` that ``by`` initiated, sorted (the test clock stands still, so
    records made in one test share a timestamp)."""
    return sorted(r["activity_display_name"] for r in audits(server, tenant_id, target_id)
                  if (r["initiated_by"].get("user") or {}).get("userPrincipalName") == by.user_principal_name)


def quick_user(server: RunningServer, tenant: Tenant, name: str) -> User:
    """A user without a password (no slow hashing) with a chosen display name."""
    upn = f"{unique('u')}@{tenant.default_domain}"
    return directory.create_user(server.ctx, tenant.id, upn, name, None, TEST_ACTOR)


def user_ids_on(page: httpx.Response) -> list[str]:
    return re.findall(r'href="/portal/users/([0-9a-f-]{36})"', page.text)


# --- users ------------------------------------------------------------------------------------------

def test_the_users_list_shows_the_tenants_users_and_searches_by_name_or_upn(server: RunningServer) -> None:
    tenant, other = make_tenant(server), make_tenant(server)
    ada, bob = quick_user(server, tenant, "Ada Lovelace"), quick_user(server, tenant, "Bob Byte")
    stranger = quick_user(server, other, "Ada Stranger")
    with signed_in(server, tenant) as (client, admin):
        everyone = client.get("/portal/users")
        assert everyone.status_code == 200
        assert set(user_ids_on(everyone)) == {ada.id, bob.id, admin.id}
        assert "Ada Lovelace" in text_of(everyone) and ada.user_principal_name in text_of(everyone)
        by_name = client.get("/portal/users", params={"search": "ada"})
        assert user_ids_on(by_name) == [ada.id] and stranger.id not in by_name.text
        by_upn = client.get("/portal/users", params={"search": bob.user_principal_name[:8]})
        assert user_ids_on(by_upn) == [bob.id]
        nothing = client.get("/portal/users", params={"search": "zz'\") or 1 eq 1"})
        assert nothing.status_code == 200 and user_ids_on(nothing) == []
        assert "No user's name or user principal name starts with" in text_of(nothing)


def test_the_users_list_pages_with_a_cursor_that_survives_tampering(server: RunningServer) -> None:
    tenant = make_tenant(server)
    made = {quick_user(server, tenant, f"Pager {i:02d}").id for i in range(55)}
    with signed_in(server, tenant) as (client, admin):
        first = client.get("/portal/users")
        assert len(user_ids_on(first)) == 50
        following = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert following, first.text
        second = client.get(following.group(1).replace("&amp;", "&"))
        assert second.status_code == 200 and "First page" in second.text
        assert set(user_ids_on(first)) | set(user_ids_on(second)) == made | {admin.id}
        assert not set(user_ids_on(first)) & set(user_ids_on(second))
        assert 'rel="next"' not in second.text
        for tampered in ("x", "abc.def", following.group(1).split("after=")[1][:-3] + "AAA", "%00", "a" * 5000):
            page = client.get("/portal/users", params={"after": tampered})
            assert page.status_code == 200 and user_ids_on(page) == user_ids_on(first)


def test_new_user_creates_the_user_with_an_audit_record(server: RunningServer) -> None:
    tenant = make_tenant(server)
    upn = f"grace@{tenant.default_domain}"
    with signed_in(server, tenant) as (client, admin):
        form = client.get("/portal/users/new")
        assert form.status_code == 200
        for label in ("User principal name", "Display name", "Password"):
            assert f">{label}</label>" in form.text
        created = post_form(client, "/portal/users/new", "/portal/users/new",
                            {"upn": upn, "display_name": "Grace Hopper", "password": "Cobol-1959!",
                             "account_enabled": "on"})
        assert created.status_code == 303, created.text
        user = directory.find_user(server.ctx, tenant.id, upn)
        assert created.headers["location"].startswith(f"/portal/users/{user.id}?done=")
        shown = client.get(created.headers["location"])
        assert shown.status_code == 200
        assert f"Created user {upn}." in text_of(shown) and "Cobol-1959!" not in shown.text
    assert (user.display_name, user.account_enabled, user.tenant_id) == ("Grace Hopper", True, tenant.id)
    assert server.ctx.passwords.verify(user.password_hash, "Cobol-1959!")
    assert activities(server, tenant.id, user.id, admin) == ["Add user"]


def test_new_user_explains_a_bad_domain_a_weak_password_and_a_duplicate(server: RunningServer) -> None:
    tenant = make_tenant(server)
    taken = quick_user(server, tenant, "Taken")
    cases = [(f"eve@not-{tenant.default_domain}", "Str0ng-Passw0rd!", 400, UNVERIFIED_DOMAIN),
             (f"eve@{tenant.default_domain}", "weakpass", 400, WEAK_PASSWORD),
             (taken.user_principal_name, "Str0ng-Passw0rd!", 409, DUPLICATE_UPN),
             ("not an upn", "Str0ng-Passw0rd!", 400, "'not an upn' is not a valid userPrincipalName.")]
    with signed_in(server, tenant) as (client, _):
        for upn, password, status, message in cases:
            refused = post_form(client, "/portal/users/new", "/portal/users/new",
                                {"upn": upn, "display_name": "Eve", "password": password})
            assert refused.status_code == status, (upn, refused.text[:300])
            assert message in text_of(refused)
            assert password not in refused.text  # the password is never echoed back
            assert f'value="{upn}"' in refused.text  # what was typed is kept
    users, _ = directory.page_users(server.ctx, tenant.id, ODataQuery())
    assert len(users) == 2 and "Eve" not in {u.display_name for u in users}  # Taken and the administrator


def test_assigning_and_removing_a_directory_role(server: RunningServer) -> None:
    tenant = make_tenant(server)
    target = quick_user(server, tenant, "Role Target")
    page_path = f"/portal/users/{target.id}"
    with signed_in(server, tenant) as (client, admin):
        before = client.get(page_path)
        assert "Assigned roles" in before.text and "No directory roles are assigned" in text_of(before)
        added = post_form(client, page_path, f"{page_path}/roles", {"role": GLOBAL_READER.id})
        assert added.status_code == 303
        assert "Assigned the role Global Reader." in text_of(client.get(added.headers["location"]))
        _, roles = directory.memberships_of(server.ctx, tenant.id, target.id)
        assert [r.display_name for r in roles] == ["Global Reader"]
        holders, _ = directory.page_role_members(server.ctx, tenant.id, GLOBAL_READER.id, ODataQuery())
        assert [u.id for u in holders] == [target.id]
        again = post_form(client, page_path, f"{page_path}/roles", {"role": GLOBAL_READER.id})
        assert again.status_code == 400 and directory.CONFLICTING_OBJECT in text_of(again)
        removed = post_form(client, page_path, f"{page_path}/roles/remove", {"role": GLOBAL_READER.id})
        assert removed.status_code == 303
        assert "Removed the role Global Reader." in text_of(client.get(removed.headers["location"]))
        assert directory.memberships_of(server.ctx, tenant.id, target.id)[1] == []
        gone = post_form(client, page_path, f"{page_path}/roles/remove", {"role": GLOBAL_READER.id})
        assert gone.status_code == 400 and "does not hold the role Global Reader" in text_of(gone)
    assert activities(server, tenant.id, target.id, admin) == ["Add member to role", "Remove member from role"]


def test_a_privileged_role_administrator_assigns_roles_but_cannot_create_users(server: RunningServer) -> None:
    tenant = make_tenant(server)
    target = quick_user(server, tenant, "Promoted")
    with signed_in(server, tenant, PRIVILEGED_ROLE_ADMINISTRATOR.display_name) as (client, _):
        page_path = f"/portal/users/{target.id}"
        assert post_form(client, page_path, f"{page_path}/roles", {"role": GLOBAL_READER.id}).status_code == 303
        refused = post_form(client, "/portal/users/new", "/portal/users/new",
                            {"upn": f"new@{tenant.default_domain}", "display_name": "New", "password": PASSWORD})
        assert refused.status_code == 403 and "Nothing was changed" in text_of(refused)
    assert [r.id for r in directory.memberships_of(server.ctx, tenant.id, target.id)[1]] == [GLOBAL_READER.id]
    try:
        directory.find_user(server.ctx, tenant.id, f"new@{tenant.default_domain}")
        raise AssertionError("the user was created")
    except ConsentryError as exc:
        assert exc.entry.http_status == 404


def test_removing_ones_own_or_the_last_global_administrator_role_is_explained_on_the_page(
        server: RunningServer) -> None:
    tenant = make_tenant(server)
    with signed_in(server, tenant) as (client, admin):
        own = f"/portal/users/{admin.id}"
        refused = post_form(client, own, f"{own}/roles/remove", {"role": GLOBAL_ADMINISTRATOR.id})
        assert refused.status_code == 400
        assert "Removing self from Global Administrator built-in role is not allowed." in text_of(refused)
    with signed_in(server, tenant, PRIVILEGED_ROLE_ADMINISTRATOR.display_name) as (client, role_admin):
        theirs = f"/portal/users/{admin.id}"
        refused = post_form(client, theirs, f"{theirs}/roles/remove", {"role": GLOBAL_ADMINISTRATOR.id})
        assert refused.status_code == 400
        assert "The tenant must keep at least one enabled Global Administrator." in text_of(refused)
    assert [r.id for r in directory.memberships_of(server.ctx, tenant.id, admin.id)[1]] == [GLOBAL_ADMINISTRATOR.id]
    assert activities(server, tenant.id, admin.id, admin) == []
    assert activities(server, tenant.id, admin.id, role_admin) == []


# --- groups -----------------------------------------------------------------------------------------

def test_new_group_then_add_and_remove_a_member_by_upn(server: RunningServer) -> None:
    tenant = make_tenant(server)
    member = quick_user(server, tenant, "Member One")
    with signed_in(server, tenant) as (client, admin):
        created = post_form(client, "/portal/groups/new", "/portal/groups/new",
                            {"display_name": "Finance", "description": "Money people"})
        assert created.status_code == 303
        group_id = created.headers["location"].split("/portal/groups/")[1].split("?")[0]
        group = directory.find_group(server.ctx, tenant.id, group_id)
        assert (group.display_name, group.description) == ("Finance", "Money people")
        listed = client.get("/portal/groups", params={"search": "fin"})
        assert f'href="/portal/groups/{group_id}"' in listed.text
        page_path = f"/portal/groups/{group_id}"
        added = post_form(client, page_path, f"{page_path}/members", {"upn": member.user_principal_name.upper()})
        assert added.status_code == 303
        shown = client.get(added.headers["location"])
        assert f"Added {member.user_principal_name} to the group." in text_of(shown)
        assert f'href="/portal/users/{member.id}"' in shown.text
        members, _ = directory.page_group_members(server.ctx, tenant.id, group_id, ODataQuery())
        assert [m.id for m in members] == [member.id]
        twice = post_form(client, page_path, f"{page_path}/members", {"upn": member.user_principal_name})
        assert twice.status_code == 400 and "is already a member of this group" in text_of(twice)
        nobody = post_form(client, page_path, f"{page_path}/members", {"upn": f"ghost@{tenant.default_domain}"})
        assert nobody.status_code == 400
        assert f"There is no user 'ghost@{tenant.default_domain}' in this directory." in text_of(nobody)
        removed = post_form(client, page_path, f"{page_path}/members/remove", {"member": member.id})
        assert removed.status_code == 303
        assert directory.page_group_members(server.ctx, tenant.id, group_id, ODataQuery())[0] == []
        user_page = client.get(f"/portal/users/{member.id}")
        assert "This user is not a member of any group." in text_of(user_page)
    assert activities(server, tenant.id, group_id, admin) == ["Add group", "Add member to group",
                                                              "Remove member from group"]
    assert activities(server, tenant.id, member.id, admin) == ["Add member to group", "Remove member from group"]


def test_new_group_needs_a_name(server: RunningServer) -> None:
    tenant = make_tenant(server)
    with signed_in(server, tenant) as (client, _):
        refused = post_form(client, "/portal/groups/new", "/portal/groups/new",
                            {"display_name": " ", "description": "x"})
        assert refused.status_code == 400 and "Group name is required." in text_of(refused)
    assert directory.page_groups(server.ctx, tenant.id, ODataQuery())[0] == []


# --- who may do what --------------------------------------------------------------------------------

def test_a_global_reader_sees_disabled_controls_and_every_change_is_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    target = quick_user(server, tenant, "Untouched")
    group = directory.create_group(server.ctx, tenant.id, "Readers Watch", TEST_ACTOR)
    with signed_in(server, tenant, GLOBAL_READER.display_name) as (client, _):
        listing = client.get("/portal/users")
        assert listing.status_code == 200 and target.id in listing.text
        assert re.search(r'<button type="button" class="primary" disabled[^>]*>New user</button>', listing.text)
        detail = client.get(f"/portal/users/{target.id}")
        assert re.search(r'<button type="submit" class="primary" disabled>Add assignments</button>', detail.text)
        assert "<fieldset class=\"dir-plain\" disabled>" in client.get("/portal/users/new").text
        group_page = client.get(f"/portal/groups/{group.id}")
        assert re.search(r'<button type="submit" class="primary" disabled>Add members</button>', group_page.text)
        token = csrf(detail)
        attempts = [("/portal/users/new", {"upn": f"x@{tenant.default_domain}", "display_name": "X",
                                           "password": PASSWORD}),
                    (f"/portal/users/{target.id}/roles", {"role": GLOBAL_READER.id}),
                    ("/portal/groups/new", {"display_name": "Sneaky"}),
                    (f"/portal/groups/{group.id}/members", {"upn": target.user_principal_name})]
        for action, data in attempts:
            refused = client.post(action, data={"csrf_token": token, **data})
            assert refused.status_code == 403, action
            assert "Your directory roles let you view this page but not change it." in text_of(refused)
    assert directory.memberships_of(server.ctx, tenant.id, target.id) == ([], [])
    assert [g.display_name for g in directory.page_groups(server.ctx, tenant.id, ODataQuery())[0]] == ["Readers Watch"]


def test_a_user_without_a_directory_role_is_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    with signed_in(server, tenant, None) as (client, user):
        for path in ("/portal/users", "/portal/users/new", f"/portal/users/{user.id}", "/portal/groups",
                     "/portal/groups/new"):
            refused = client.get(path)
            assert refused.status_code == 403, path
            assert "You don't have access" in refused.text and user.id not in refused.text


def test_a_change_without_the_anti_forgery_token_is_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    target = quick_user(server, tenant, "Protected")
    with signed_in(server, tenant) as (client, _):
        client.get("/portal/users")  # the anti-forgery cookie is set
        for action, data in [("/portal/users/new", {"upn": f"y@{tenant.default_domain}", "display_name": "Y",
                                                     "password": PASSWORD}),
                             (f"/portal/users/{target.id}/roles", {"role": GLOBAL_READER.id}),
                             ("/portal/groups/new", {"display_name": "Forged"})]:
            refused = client.post(action, data=data)
            assert refused.status_code == 403, action
            assert "anti-forgery token is missing or does not match" in text_of(refused)
            wrong = client.post(action, data={**data, "csrf_token": "0" * 64})
            assert wrong.status_code == 403, action
    assert directory.memberships_of(server.ctx, tenant.id, target.id)[1] == []
    assert directory.page_groups(server.ctx, tenant.id, ODataQuery())[0] == []
    users, _ = directory.page_users(server.ctx, tenant.id, ODataQuery())
    assert "Y" not in {u.display_name for u in users}


def test_unknown_and_other_tenants_objects_are_404_pages(server: RunningServer) -> None:
    tenant, other = make_tenant(server), make_tenant(server)
    foreign_user = quick_user(server, other, "Foreign")
    foreign_group = directory.create_group(server.ctx, other.id, "Foreign group", TEST_ACTOR)
    with signed_in(server, tenant) as (client, _):
        for path, heading in [(f"/portal/users/{foreign_user.id}", "User not found"),
                              (f"/portal/users/{foreign_user.user_principal_name}", "User not found"),
                              ("/portal/users/not-a-guid", "User not found"),
                              (f"/portal/groups/{foreign_group.id}", "Group not found"),
                              ("/portal/groups/%27%3B--", "Group not found")]:
            missing = client.get(path)
            assert missing.status_code == 404, path
            assert f"<h1>{heading}</h1>" in missing.text
        page = client.get("/portal/users/new")
        refused = client.post(f"/portal/users/{foreign_user.id}/roles",
                              data={"csrf_token": csrf(page), "role": GLOBAL_READER.id})
        assert refused.status_code == 404
        refused = client.post(f"/portal/groups/{foreign_group.id}/members",
                              data={"csrf_token": csrf(page), "upn": foreign_user.user_principal_name})
        assert refused.status_code == 404
    assert directory.memberships_of(server.ctx, other.id, foreign_user.id) == ([], [])

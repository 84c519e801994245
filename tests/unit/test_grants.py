"""Delegated grants as data: splitting and merging scope strings, and what a user may use (spec §8.3)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.grants import (
    ALL_PRINCIPALS,
    PRINCIPAL,
    OAuth2PermissionGrant,
    granted_scopes,
    merge_scope,
    split_scope,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def grant(scope: str, consent_type: str = ALL_PRINCIPALS, principal_id: str | None = None) -> OAuth2PermissionGrant:
    return OAuth2PermissionGrant("g", "t", "client", consent_type, principal_id, "resource", scope, NOW, NOW)


def test_split_scope_splits_on_whitespace() -> None:
    assert split_scope(" User.Read\tMail.Read\n openid ") == ("User.Read", "Mail.Read", "openid")


def test_split_scope_of_nothing_is_empty() -> None:
    assert split_scope(None) == ()
    assert split_scope("") == ()


def test_split_scope_drops_case_insensitive_duplicates_keeping_first_spelling() -> None:
    assert split_scope("User.Read user.read USER.READ Mail.Read") == ("User.Read", "Mail.Read")


def test_merge_scope_appends_only_new_values() -> None:
    assert merge_scope("User.Read Mail.Read", ["mail.read", "Calendars.Read"]) == "User.Read Mail.Read Calendars.Read"


def test_merge_scope_into_nothing() -> None:
    assert merge_scope(None, ("openid", "User.Read")) == "openid User.Read"


def test_grant_scopes_property_splits_its_scope() -> None:
    assert grant("openid User.Read").scopes == ("openid", "User.Read")


def test_user_gets_the_tenant_wide_grant() -> None:
    assert granted_scopes([grant("User.Read")], "u1") == ("User.Read",)


def test_user_gets_tenant_wide_union_own_grant() -> None:
    grants = [grant("User.Read"), grant("Mail.Read user.read", PRINCIPAL, "u1")]
    assert granted_scopes(grants, "u1") == ("User.Read", "Mail.Read")


def test_user_does_not_get_another_users_grant() -> None:
    grants = [grant("User.Read"), grant("Mail.Read", PRINCIPAL, "u2")]
    assert granted_scopes(grants, "u1") == ("User.Read",)


def test_without_a_user_only_tenant_wide_grants_count() -> None:
    assert granted_scopes([grant("Mail.Read", PRINCIPAL, "u1")], None) == ()


values = st.lists(st.sampled_from(["User.Read", "user.read", "Mail.Read", "openid", "Calendars.Read"]), max_size=8)


@given(values, values)
def test_merge_is_a_case_insensitive_union(existing: list[str], added: list[str]) -> None:
    merged = split_scope(merge_scope(" ".join(existing), added))
    assert {v.lower() for v in merged} == {v.lower() for v in existing + added}
    assert len(merged) == len({v.lower() for v in merged})

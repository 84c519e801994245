"""Parsing the ``scope`` parameter as the Microsoft identity platform reads it (spec §3.1, §3.3, §13.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.scopes import (
    GRAPH_RESOURCE,
    MAX_SCOPE_LENGTH,
    ScopeItem,
    format_scope,
    parse_scope,
    resource_key,
)
from consentry.errors import DEFAULT_SCOPE_MIXED, INVALID_SCOPE, MULTIPLE_RESOURCES, ConsentryError


def aadsts_of(raw: str) -> int | None:
    with pytest.raises(ConsentryError) as info:
        parse_scope(raw)
    return info.value.entry.aadsts


def test_unqualified_permission_belongs_to_microsoft_graph() -> None:
    request = parse_scope("User.Read")
    assert request.items == (ScopeItem(GRAPH_RESOURCE, "User.Read"),)


def test_qualified_permission_keeps_its_resource() -> None:
    request = parse_scope("https://outlook.office365.com/EAS.AccessAsUser.All")
    assert request.items == (ScopeItem("https://outlook.office365.com", "EAS.AccessAsUser.All"),)


def test_oidc_scopes_are_collected_apart_from_resource_items() -> None:
    request = parse_scope("openid profile email offline_access User.Read")
    assert request.oidc == frozenset({"openid", "profile", "email", "offline_access"})
    assert request.items == (ScopeItem(GRAPH_RESOURCE, "User.Read"),)


def test_oidc_scopes_are_recognised_in_any_case() -> None:
    assert parse_scope("OpenID Offline_Access").oidc == frozenset({"openid", "offline_access"})


def test_only_oidc_scopes_name_no_resource_and_default_to_graph() -> None:
    request = parse_scope("openid profile")
    assert request.items == ()
    assert request.single_resource("openid profile") == GRAPH_RESOURCE


def test_default_scope_is_recognised() -> None:
    request = parse_scope("https://graph.microsoft.com/.default")
    assert request.is_default
    assert request.resources == ("https://graph.microsoft.com",)


def test_default_scope_may_be_accompanied_by_oidc_scopes() -> None:
    request = parse_scope("https://graph.microsoft.com/.default openid profile offline_access")
    assert request.is_default
    assert request.oidc == frozenset({"openid", "profile", "offline_access"})


def test_default_mixed_with_a_scope_of_the_same_resource_is_70011() -> None:
    assert aadsts_of("https://graph.microsoft.com/.default Mail.Read") == 70011


def test_default_mixed_with_a_scope_of_another_resource_is_70011() -> None:
    with pytest.raises(ConsentryError) as info:
        parse_scope("https://graph.microsoft.com/.default https://outlook.office365.com/EAS.AccessAsUser.All")
    assert info.value.entry is DEFAULT_SCOPE_MIXED
    assert info.value.description.startswith("AADSTS70011: ")


def test_double_slash_default_names_a_resource_uri_ending_in_a_slash() -> None:
    request = parse_scope("https://management.azure.com//.default")
    assert request.items == (ScopeItem("https://management.azure.com/", ".default"),)
    assert request.is_default


def test_resource_uri_with_and_without_trailing_slash_are_one_resource() -> None:
    request = parse_scope("https://management.azure.com//.default https://management.azure.com/.default")
    assert len(request.resources) == 1
    assert resource_key("https://Management.Azure.com/") == resource_key("https://management.azure.com")


def test_values_for_a_resource_lists_only_its_permissions() -> None:
    request = parse_scope("User.Read Mail.Read https://outlook.office365.com/EAS.AccessAsUser.All")
    assert request.values_for("https://graph.microsoft.com/") == ("User.Read", "Mail.Read")


def test_two_resources_in_one_token_request_is_700022() -> None:
    raw = "User.Read https://outlook.office365.com/EAS.AccessAsUser.All"
    request = parse_scope(raw)
    with pytest.raises(ConsentryError) as info:
        request.single_resource(raw)
    assert info.value.entry is MULTIPLE_RESOURCES
    assert info.value.entry.aadsts == 700022


def test_repeated_scope_values_are_kept_once() -> None:
    assert parse_scope("User.Read User.Read").items == (ScopeItem(GRAPH_RESOURCE, "User.Read"),)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_empty_scope_is_70011(raw: str | None) -> None:
    with pytest.raises(ConsentryError) as info:
        parse_scope(raw)
    assert info.value.entry is INVALID_SCOPE


def test_empty_scope_is_allowed_when_not_required() -> None:
    request = parse_scope("", required=False)
    assert request.items == () and request.oidc == frozenset()


def test_overlong_scope_is_70011() -> None:
    assert aadsts_of("User.Read " * (MAX_SCOPE_LENGTH // 10 + 1)) == 70011


@pytest.mark.parametrize("raw", ["https://graph.microsoft.com/", "/User.Read", "User.Read\x7f", "Usér.Read"])
def test_malformed_scope_value_is_70011(raw: str) -> None:
    assert aadsts_of(raw) == 70011


def test_format_scope_leaves_graph_permissions_unqualified() -> None:
    assert format_scope(GRAPH_RESOURCE, ["User.Read", "openid"], qualify=True) == ["User.Read", "openid"]


def test_format_scope_qualifies_other_resources_but_not_oidc_scopes() -> None:
    assert format_scope("https://outlook.office365.com/", ["EAS.AccessAsUser.All", "offline_access"],
                        qualify=True) == ["https://outlook.office365.com/EAS.AccessAsUser.All", "offline_access"]


@given(st.text(max_size=300))
def test_scope_parser_raises_nothing_but_catalog_errors(raw: str) -> None:
    try:
        request = parse_scope(raw)
    except ConsentryError as exc:
        assert exc.entry.aadsts in (70011,)
        return
    assert request.oidc or request.items


@given(st.lists(st.sampled_from(["openid", "profile", "offline_access", "email", "User.Read", "Mail.Read",
                                 "https://graph.microsoft.com/.default", "https://outlook.office365.com/.default",
                                 "https://outlook.office365.com/EAS.AccessAsUser.All", "api://x//.default"]),
                min_size=1, max_size=6))
def test_default_is_never_accepted_next_to_a_specific_permission(values: list[str]) -> None:
    raw = " ".join(values)
    has_default = any(v.endswith("/.default") for v in values)
    has_specific = any(("/" in v and not v.endswith("/.default")) or v in ("User.Read", "Mail.Read") for v in values)
    try:
        parse_scope(raw)
    except ConsentryError as exc:
        assert exc.entry is DEFAULT_SCOPE_MIXED
        assert has_default and has_specific
        return
    assert not (has_default and has_specific)

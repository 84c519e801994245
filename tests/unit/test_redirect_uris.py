"""Redirect URI matching (spec §3.1; RFC 8252 §7.3): exact match, except that a public client's registered
``http://localhost`` loopback URI matches any port."""

from __future__ import annotations

import pytest

from consentry.domain.apps import Application

PUBLIC = Application(id="o", app_id="a", tenant_id="t", display_name="Public",
                     public_client_redirect_uris=("http://localhost", "urn:ietf:wg:oauth:2.0:oob",
                                                  "http://127.0.0.1/cb"))
WEB = Application(id="o", app_id="a", tenant_id="t", display_name="Web",
                  web_redirect_uris=("https://app.example/callback", "http://localhost/cb"))


@pytest.mark.parametrize("uri", ["http://localhost", "urn:ietf:wg:oauth:2.0:oob", "http://127.0.0.1/cb"])
def test_registered_uri_matches_exactly(uri: str) -> None:
    assert PUBLIC.is_redirect_uri_registered(uri)


@pytest.mark.parametrize("uri", ["http://localhost:53123", "http://localhost:1/", "http://localhost:65535",
                                 "http://127.0.0.1:8400/cb"])
def test_public_client_loopback_matches_any_port(uri: str) -> None:
    assert PUBLIC.is_redirect_uri_registered(uri)


def test_loopback_any_port_keeps_the_path() -> None:
    assert not PUBLIC.is_redirect_uri_registered("http://localhost:53123/other")


def test_loopback_any_port_does_not_cross_hosts() -> None:
    assert not PUBLIC.is_redirect_uri_registered("http://127.0.0.1:53123")


def test_loopback_rule_is_http_only() -> None:
    assert not PUBLIC.is_redirect_uri_registered("https://localhost:53123")


@pytest.mark.parametrize("uri", ["http://localhost.evil.com", "http://localhost.evil.com:53123",
                                 "http://localhostevil.com", "http://evil.com/localhost"])
def test_lookalike_hosts_do_not_match(uri: str) -> None:
    assert not PUBLIC.is_redirect_uri_registered(uri)


@pytest.mark.parametrize("uri", ["http://localhost@evil.com", "http://localhost:53123@evil.com",
                                 "http://evil.com@localhost:53123", "http://user:pw@localhost:53123",
                                 "http://localhost\\@evil.com"])
def test_userinfo_tricks_do_not_match(uri: str) -> None:
    assert not PUBLIC.is_redirect_uri_registered(uri)


@pytest.mark.parametrize("uri", ["http://localhost:53123?next=https://evil.com", "http://localhost:53123#x"])
def test_loopback_with_query_or_fragment_does_not_match(uri: str) -> None:
    assert not PUBLIC.is_redirect_uri_registered(uri)


@pytest.mark.parametrize("uri", ["http://localhost:abc", "http://localhost:99999"])
def test_loopback_with_malformed_port_does_not_match(uri: str) -> None:
    assert not PUBLIC.is_redirect_uri_registered(uri)


def test_web_redirect_uri_is_exact_match_only() -> None:
    assert WEB.is_redirect_uri_registered("https://app.example/callback")
    assert not WEB.is_redirect_uri_registered("https://app.example/callback/")
    assert not WEB.is_redirect_uri_registered("https://app.example/callback?x=1")
    assert not WEB.is_redirect_uri_registered("https://APP.example/callback")


def test_web_localhost_uri_gets_no_any_port_rule() -> None:
    assert WEB.is_redirect_uri_registered("http://localhost/cb")
    assert not WEB.is_redirect_uri_registered("http://localhost:8080/cb")

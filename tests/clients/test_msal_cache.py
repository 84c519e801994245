"""MSAL for Python's token cache against Consentry's responses: refresh tokens, silent acquisition from
the cache (which depends on ``client_info``, ``scope`` and ``expires_in``), and forced refresh
(real-clients §1.2, §1.3, §7 scenario 14)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msal
import pytest
import requests
from tests.clients.helpers import ADELE, PASSWORD, decode_jwt

pytestmark = [pytest.mark.clients,
              pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")]

PublicApp = Callable[..., msal.PublicClientApplication]


class CountingSession(requests.Session):
    """A requests session that remembers every token-endpoint POST MSAL makes through it."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []

    def post(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.posts.append({"url": url, "data": dict(data or {}), "headers": dict(kwargs.get("headers") or {})})
        return super().post(url, data=data, **kwargs)


def _signed_in(new_public_app: PublicApp) -> tuple[msal.PublicClientApplication, CountingSession, dict[str, Any]]:
    http = CountingSession()
    app = new_public_app(http_client=http)
    result = app.acquire_token_by_username_password(ADELE, PASSWORD, scopes=["User.Read"])
    assert "access_token" in result, result
    return app, http, result


def test_refresh_token_grant_returns_a_new_access_token_and_a_new_refresh_token(new_public_app: PublicApp) -> None:
    _, _, first = _signed_in(new_public_app)
    result = new_public_app().acquire_token_by_refresh_token(first["refresh_token"], scopes=["User.Read"])
    assert "access_token" in result, result
    assert result["access_token"] != first["access_token"]
    assert result["refresh_token"] and result["refresh_token"] != first["refresh_token"]
    assert "User.Read" in decode_jwt(result["access_token"])["scp"].split()
    assert result["id_token_claims"]["oid"] == first["id_token_claims"]["oid"]


def test_silent_acquisition_is_served_from_the_cache_without_a_request(new_public_app: PublicApp) -> None:
    app, http, first = _signed_in(new_public_app)
    [account] = app.get_accounts(username=ADELE)
    before = len(http.posts)
    result = app.acquire_token_silent(["User.Read"], account=account)
    assert result is not None
    assert result["access_token"] == first["access_token"]
    assert result["token_source"] == "cache"
    assert len(http.posts) == before


def test_silent_acquisition_with_force_refresh_redeems_the_refresh_token(new_public_app: PublicApp) -> None:
    app, http, first = _signed_in(new_public_app)
    [account] = app.get_accounts(username=ADELE)
    result = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)
    assert result is not None and "access_token" in result, result
    assert result["access_token"] != first["access_token"]
    assert result["token_source"] == "identity_provider"
    refresh = http.posts[-1]
    assert refresh["data"]["grant_type"] == "refresh_token"
    assert refresh["headers"].get("X-AnchorMailbox") == f"Oid:{account['home_account_id'].replace('.', '@')}"
    # The new token went back into the cache and is what the next silent call returns.
    again = app.acquire_token_silent(["User.Read"], account=account)
    assert again is not None and again["access_token"] == result["access_token"]

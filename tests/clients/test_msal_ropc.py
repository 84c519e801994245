"""MSAL for Python's resource owner password credentials flow (``acquire_token_by_username_password``)
with the Graph command-line tools, consented tenant-wide in Contoso, and with Apple Internet Accounts,
which Contoso has not consented to (real-clients §1.2, §7 scenario 3)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import msal
import pytest
from tests.clients.helpers import ADELE, APPLE_INTERNET_ACCOUNTS, GRAPH_CLI, PASSWORD, decode_jwt
from tests.support.server import RunningServer

pytestmark = [pytest.mark.clients,
              pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")]

PublicApp = Callable[..., msal.PublicClientApplication]


def _b64json(value: str) -> dict[str, str]:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_ropc_returns_user_read_token_with_id_token_claims(new_public_app: PublicApp, contoso: str,
                                                           server: RunningServer) -> None:
    result = new_public_app().acquire_token_by_username_password(ADELE, PASSWORD, scopes=["User.Read"])
    assert "access_token" in result, result
    access = decode_jwt(result["access_token"])
    assert access["aud"] == "https://graph.microsoft.com"
    assert "User.Read" in access["scp"].split()
    assert access["appid"] == GRAPH_CLI
    claims = result["id_token_claims"]
    assert claims["aud"] == GRAPH_CLI
    assert claims["iss"] == f"{server.base_url}/{contoso}/v2.0"
    assert claims["tid"] == contoso
    assert claims["preferred_username"] == ADELE
    assert "nonce" not in claims  # none was sent
    assert result["refresh_token"]
    assert "User.Read" in result["scope"].split()


def test_ropc_client_info_gives_home_account_id_oid_dot_tid(new_public_app: PublicApp, contoso: str) -> None:
    app = new_public_app()
    result = app.acquire_token_by_username_password(ADELE, PASSWORD, scopes=["User.Read"])
    claims = result["id_token_claims"]
    assert _b64json(result["client_info"]) == {"uid": claims["oid"], "utid": contoso}
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{claims['oid']}.{contoso}"
    assert account["username"] == ADELE
    assert account["environment"] == "localhost"
    assert account["realm"] == contoso


def test_ropc_wrong_password_is_invalid_grant_50126(new_public_app: PublicApp) -> None:
    result = new_public_app().acquire_token_by_username_password("alex@contoso.example", "not the password",
                                                                  scopes=["User.Read"])
    assert result.get("error") == "invalid_grant", result
    assert result["error_codes"] == [50126]
    assert result["error_description"].startswith("AADSTS50126: ")


def test_ropc_without_consent_is_invalid_grant_65001_consent_required(new_public_app: PublicApp) -> None:
    app = new_public_app(APPLE_INTERNET_ACCOUNTS)
    result = app.acquire_token_by_username_password(
        ADELE, PASSWORD, scopes=["https://outlook.office365.com/EWS.AccessAsUser.All"])
    assert result.get("error") == "invalid_grant", result
    assert result["error_codes"] == [65001]
    assert result["suberror"] == "consent_required"
    assert APPLE_INTERNET_ACCOUNTS in result["error_description"]

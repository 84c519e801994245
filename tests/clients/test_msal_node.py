"""msal-node (``@azure/msal-node``, pinned in tests/clients/node/package-lock.json) against Consentry:
client credentials and ROPC, run once as a Node script (real-clients §4.1). Skipped only when ``node`` is
missing; the dependencies are installed with ``npm ci`` when absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.clients.helpers import ADELE, APPLE_INTERNET_ACCOUNTS, GRAPH_CLI, PASSWORD, RegisteredApp
from tests.support.real_clients import real_time
from tests.support.server import RunningServer

pytestmark = pytest.mark.clients

NODE_PROJECT = Path(__file__).parent / "node"
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")


def _install_dependencies() -> None:
    if (NODE_PROJECT / "node_modules" / "@azure" / "msal-node" / "package.json").exists():
        return
    npm = shutil.which("npm")
    assert npm, "node is installed but npm is not: cannot install tests/clients/node"
    # Installing from the npm registry is set-up, not client traffic: it bypasses the egress guard's proxy.
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_PROJECT, env=env, check=True,
                   capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def node_run(server: RunningServer, contoso: str, daemon_app: RegisteredApp) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    _install_dependencies()
    config = {"authority": f"{server.base_url}/{contoso}", "knownAuthority": server.base_url.split("//", 1)[1],
              "confidential": {"clientId": daemon_app.app_id, "secret": daemon_app.secret},
              "publicClientId": GRAPH_CLI, "unconsentedClientId": APPLE_INTERNET_ACCOUNTS,
              "username": ADELE, "password": PASSWORD}
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(server.ca_path)}
    with real_time(server):  # a module fixture is made before the per-test clock fixture runs
        done = subprocess.run([node, "run.mjs", json.dumps(config)], cwd=NODE_PROJECT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("scenario", ["clientCredentials", "ropc", "ropcWithoutConsent"])
def test_msal_node_with_known_authority_host_and_port_reaches_only_the_local_server(
        node_run: dict[str, Any], server: RunningServer, scenario: str) -> None:
    result = node_run["results"][scenario]
    assert result["refused"] == []
    assert result["requests"]
    assert all(r.split(" ", 1)[1].startswith(server.base_url) for r in result["requests"])


def test_msal_node_known_authority_without_the_port_would_leave_the_machine(node_run: dict[str, Any]) -> None:
    result = node_run["results"]["knownAuthorityWithoutPort"]
    assert not result["ok"]
    assert result["refused"]
    assert all("https://login.microsoftonline.com/" in r for r in result["refused"]), result["refused"]


def test_msal_node_client_credentials_gets_a_graph_token_with_roles(node_run: dict[str, Any], contoso: str,
                                                                   daemon_app: RegisteredApp) -> None:
    result = node_run["results"]["clientCredentials"]
    assert result["ok"], result
    assert result["claims"]["appid"] == daemon_app.app_id
    assert result["claims"]["tid"] == contoso
    assert result["claims"]["roles"] == ["User.Read.All"]
    assert result["tokenType"] == "Bearer"


def test_msal_node_serves_the_second_client_credentials_call_from_its_cache(node_run: dict[str, Any]) -> None:
    result = node_run["results"]["clientCredentials"]
    assert result["ok"], result
    assert result["fromCache"] is True and result["sameToken"] is True


def test_msal_node_ropc_returns_tokens_and_the_account(node_run: dict[str, Any], contoso: str,
                                                      server: RunningServer) -> None:
    result = node_run["results"]["ropc"]
    assert result["ok"], result
    assert "User.Read" in result["claims"]["scp"].split()
    assert result["idTokenClaims"]["preferred_username"] == ADELE
    assert result["homeAccountId"] == f"{result['idTokenClaims']['oid']}.{contoso}"
    assert result["environment"] == server.base_url.split("//", 1)[1]
    assert result["accounts"] == [ADELE]


def test_msal_node_silent_call_after_ropc_is_served_from_the_cache(node_run: dict[str, Any]) -> None:
    result = node_run["results"]["ropc"]
    assert result["ok"], result
    assert result["silentFromCache"] is True and result["silentSameToken"] is True


def test_msal_node_ropc_without_consent_throws_interaction_required_consent_required(
        node_run: dict[str, Any]) -> None:
    result = node_run["results"]["ropcWithoutConsent"]
    assert not result["ok"], result
    error = result["error"]
    assert error["name"] == "InteractionRequiredAuthError", error
    assert error["errorCode"] == "invalid_grant"
    assert error["subError"] == "consent_required"
    assert "AADSTS65001" in error["message"]

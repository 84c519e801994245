"""Several server processes on one PostgreSQL share everything: signing keys, sessions, codes, device
codes and lockout counters. Two real ``consentry serve`` processes over TLS, one database."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.support.egress import free_port
from tests.support.postgres import postgres_database, postgres_server_url_or_skip

pytestmark = pytest.mark.postgres

CONTOSO = "3be8a25e-b39d-47a6-82c4-e435ded0b536"
GRAPH_CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
PASSWORD = "ConsentryDemo1!"


def _serve(data_dir: Path, db_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONSENTRY_KEY_ENCRYPTION_KEY": "shared-test-key-encryption-key"}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "consentry", "serve", "--demo", "--data-dir", str(data_dir), "--db", db_url,
         "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(url: str, ctx: ssl.SSLContext, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/readyz", verify=ctx, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, ssl.SSLContext]]:
    server_url = postgres_server_url_or_skip()
    data_dir = tmp_path_factory.mktemp("shared")
    with postgres_database(server_url) as db_url:
        first_port, second_port = free_port(), free_port()
        first = _serve(data_dir, db_url, first_port)
        procs = [first]
        try:
            deadline = time.monotonic() + 60
            while not (data_dir / "tls" / "ca.pem").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            ctx = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.pem"))
            _wait_ready(f"https://localhost:{first_port}", ctx, first)
            second = _serve(data_dir, db_url, second_port)
            procs.append(second)
            _wait_ready(f"https://localhost:{second_port}", ctx, second)
            yield f"https://localhost:{first_port}", f"https://localhost:{second_port}", ctx
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _sign_in_for_code(base: str, ctx: ssl.SSLContext, redirect_uri: str, challenge: str) -> str:
    with httpx.Client(base_url=base, verify=ctx) as browser:
        start = browser.get(f"/{CONTOSO}/oauth2/v2.0/authorize", params={
            "client_id": GRAPH_CLI, "response_type": "code", "redirect_uri": redirect_uri,
            "scope": "User.Read openid offline_access", "state": "s1", "code_challenge": challenge,
            "code_challenge_method": "S256"})
        assert start.status_code == 302, start.text
        page = browser.get(start.headers["location"])
        fields = dict(re.findall(r'name="(csrf_token|interaction)" value="([^"]*)"', page.text))
        done = browser.post(urlsplit(start.headers["location"]).path, data={
            **fields, "username": "adele@contoso.example", "password": PASSWORD})
        assert done.status_code == 302, done.text
        query = parse_qs(urlsplit(done.headers["location"]).query)
        return query["code"][0]


def test_a_code_issued_by_one_process_is_redeemed_at_another(two_servers) -> None:
    first, second, ctx = two_servers
    verifier, challenge = _pkce()
    redirect_uri = f"http://localhost:{free_port()}"
    code = _sign_in_for_code(first, ctx, redirect_uri, challenge)
    token = httpx.post(f"{second}/{CONTOSO}/oauth2/v2.0/token", verify=ctx, data={
        "client_id": GRAPH_CLI, "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier, "scope": "User.Read openid offline_access"})
    assert token.status_code == 200, token.text
    again = httpx.post(f"{first}/{CONTOSO}/oauth2/v2.0/token", verify=ctx, data={
        "client_id": GRAPH_CLI, "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier})
    assert again.json()["error_codes"] == [54005]


def test_both_processes_publish_and_sign_with_the_same_keys(two_servers) -> None:
    first, second, ctx = two_servers
    keys = [{(k["kid"], k["n"], k["e"]) for k in httpx.get(f"{base}/{CONTOSO}/discovery/v2.0/keys", verify=ctx)
             .json()["keys"]} for base in (first, second)]
    assert keys[0] == keys[1]
    assert keys[0]


def test_a_device_code_started_at_one_process_is_approved_and_redeemed_at_others(two_servers) -> None:
    first, second, ctx = two_servers
    started = httpx.post(f"{first}/organizations/oauth2/v2.0/devicecode", verify=ctx,
                         data={"client_id": GRAPH_CLI, "scope": "User.Read"}).json()
    with httpx.Client(base_url=second, verify=ctx) as browser:
        page = browser.get("/devicelogin")
        csrf = re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
        signin = browser.post("/devicelogin", data={"csrf_token": csrf, "user_code": started["user_code"]})
        assert signin.status_code == 200
        confirm = browser.post("/devicelogin/signin", data={
            "csrf_token": csrf, "user_code": started["user_code"], "username": "adele@contoso.example",
            "password": PASSWORD})
        assert "Are you trying to sign in" in confirm.text
        done = browser.post("/devicelogin", data={"csrf_token": csrf, "user_code": started["user_code"],
                                                  "decision": "continue"})
        assert "signed in" in done.text
    token = httpx.post(f"{first}/organizations/oauth2/v2.0/token", verify=ctx, data={
        "client_id": GRAPH_CLI, "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": started["device_code"]})
    assert token.status_code == 200, token.text


def test_a_lockout_counted_at_one_process_holds_at_the_other(two_servers) -> None:
    first, second, ctx = two_servers
    form = {"client_id": GRAPH_CLI, "grant_type": "password", "username": "alex@contoso.example",
            "scope": "User.Read"}
    for attempt in range(10):
        base = first if attempt % 2 else second
        wrong = httpx.post(f"{base}/{CONTOSO}/oauth2/v2.0/token", verify=ctx, data={**form, "password": "nope"})
        assert wrong.json()["error_codes"] == [50126]
    locked = httpx.post(f"{second}/{CONTOSO}/oauth2/v2.0/token", verify=ctx, data={**form, "password": PASSWORD})
    assert locked.json()["error_codes"] == [50053]

"""Hostile input at the Graph edge, on SQLite and on PostgreSQL (which refuses NUL characters and
type mismatches that SQLite lets through): NUL characters and skiptokens of the wrong shape are 400s,
never 500s, and the connection stays usable afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.postgres import postgres_database, postgres_server_url_or_skip
from tests.support.server import RunningServer, start_server

GRAPH_CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory, egress_guard: object) -> Iterator[RunningServer]:
    url = postgres_server_url_or_skip()
    with postgres_database(url) as db_url:
        running = start_server(Path(tmp_path_factory.mktemp("graph-pg")), db_url)
        yield running
        running.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def admin_client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    target: RunningServer = request.getfixturevalue("server" if request.param == "sqlite" else "pg_server")
    with target.client() as plain:
        token = plain.post(f"/{target.demo.contoso_tenant_id}/oauth2/v2.0/token", data={
            "client_id": GRAPH_CLI, "grant_type": "password", "username": "admin@contoso.example",
            "password": "ConsentryDemo1!", "scope": "https://graph.microsoft.com/.default"}).json()
    assert "access_token" in token, token
    with target.client(headers={"Authorization": f"Bearer {token['access_token']}"}) as client:
        yield client


@pytest.mark.parametrize("path", [
    "/v1.0/users/a%00b",
    "/v1.0/users?$filter=displayName%20eq%20'a%00b'",
    "/v1.0/servicePrincipals?$filter=startswith(displayName,'%00')",
])
def test_a_nul_character_in_the_address_is_a_bad_request(admin_client: httpx.Client, path: str) -> None:
    response = admin_client.get(path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_BadRequest"
    assert admin_client.get("/v1.0/organization").status_code == 200


def test_a_nul_character_in_a_body_is_a_bad_request(admin_client: httpx.Client) -> None:
    response = admin_client.post("/v1.0/groups", json={"displayName": "bad\u0000name", "mailEnabled": False,
                                                        "mailNickname": "bad", "securityEnabled": True})
    assert response.status_code == 400
    assert admin_client.get("/v1.0/organization").status_code == 200


@pytest.mark.parametrize("token", ["WzEsMV0", "W251bGxd", "WyJhIiwiYiIsImMiXQ"])  # [1,1] [null] ["a","b","c"]
def test_a_skiptoken_of_the_wrong_shape_is_refused(admin_client: httpx.Client, token: str) -> None:
    response = admin_client.get("/v1.0/users", params={"$orderby": "displayName desc", "$skiptoken": token})
    assert response.status_code == 400
    assert admin_client.get("/v1.0/organization").status_code == 200


def test_a_filter_literal_of_the_wrong_type_matches_nothing(admin_client: httpx.Client) -> None:
    response = admin_client.get("/v1.0/servicePrincipals", params={"$filter": "displayName eq 5"})
    assert response.status_code == 200
    assert response.json()["value"] == []

"""Operational endpoints and the edges of the routing table: health, readiness, metrics, unknown paths,
methods a route does not take, and what error pages must never show."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.protocol.helpers import authorize_params, make_app, make_tenant
from tests.support.server import RunningServer


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def test_healthz_is_alive(server: RunningServer, http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "alive"


def test_readyz_is_ready(server: RunningServer, http: httpx.Client) -> None:
    response = http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_metrics_are_prometheus_text_with_request_counts(server: RunningServer, http: httpx.Client) -> None:
    http.get("/healthz")
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "consentry_http_requests_total" in response.text
    assert 'route="healthz"' in response.text


def test_favicon_is_an_empty_answer_not_an_error_page(http: httpx.Client) -> None:
    response = http.get("/favicon.ico")
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize("path", ["/definitely/not/here", "/common/oauth2/v2.0/nothing", "/favicon.icon",
                                  "/common/v2.0/.well-known/nothing", "/%00", "/static/../../etc/passwd"])
def test_unknown_path_is_an_html_404_page(server: RunningServer, http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert "Request Id" in response.text


def test_error_pages_escape_reflected_input(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, redirect_uri='https://evil.example/"><script>alert(1)</script>')
    response = http.get(f"/{tenant.id}/oauth2/v2.0/authorize", params=params)
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_static_stylesheet_is_served(server: RunningServer, http: httpx.Client) -> None:
    assert http.get("/static/consentry.css").status_code == 200


def _sample(text: str, name: str, label: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_tokens_issued_by_grant_type(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = http.post(f"/{tenant.id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default", **app.credentials()})
    assert response.status_code == 200
    text = http.get("/metrics").text
    assert _sample(text, "consentry_tokens_issued_total", 'grant_type="client_credentials"') >= 1


def test_metrics_count_errors_by_aadsts_code(server: RunningServer, http: httpx.Client) -> None:
    http.post("/common/oauth2/v2.0/token", data={"grant_type": "urn:example:nope"})
    text = http.get("/metrics").text
    assert _sample(text, "consentry_errors_total", 'code="70003"') >= 1


def test_error_uri_resolves_to_a_page_about_the_code(server: RunningServer, http: httpx.Client) -> None:
    body = http.post("/common/oauth2/v2.0/token", data={"grant_type": "urn:example:nope"}).json()
    page = http.get(body["error_uri"])
    assert page.status_code == 200
    assert "AADSTS70003" in page.text

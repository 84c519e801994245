"""Fixtures for the real-client tests: the demo tenant and its authority, registered applications, and
the settings every test here relies on.

Every client is built against ``{base}/{tenant-guid}`` with instance discovery off (real-clients §0.2);
ROPC skips MSAL's user-realm probe on port 443 by listing ``localhost`` (§0.4).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterator
from typing import Any

import msal
import pytest
from tests.clients.helpers import (
    GRAPH_CLI,
    TEST_ACTOR,
    CertificateApp,
    RegisteredApp,
    make_certificate,
    register_app,
)
from tests.support.server import RunningServer

from consentry.services import apps


@pytest.fixture(scope="session", autouse=True)
def _no_user_realm_probe() -> Iterator[None]:
    """MSAL's ROPC would first GET https://localhost:443/common/userrealm/… (real-clients §0.4)."""
    domains = msal.authority.Authority._domains_without_user_realm_discovery
    added = "localhost" not in domains
    domains.add("localhost")
    yield
    if added:
        domains.discard("localhost")


@pytest.fixture(scope="session", autouse=True)
def _release_client_connections(server: RunningServer) -> Iterator[None]:
    """MSAL keeps a requests session per app object, and after an error response a reference cycle keeps
    it (and its TLS connection) alive; uvicorn's shutdown then waits on that connection until the test
    server's 10 s join timeout. Collecting the cycles before the server stops closes those connections."""
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _server_clock_at_real_time(server: RunningServer) -> Iterator[None]:
    """The server's clock stands still; real clients stamp assertions and check tokens with the real time,
    so each test here runs with the server's clock at the real time, and leaves it as it found it."""
    found = server.clock.now()
    server.clock.set(dt.datetime.now(dt.UTC))
    yield
    server.clock.set(found)


@pytest.fixture(scope="session")
def contoso(server: RunningServer) -> str:
    return server.demo.contoso_tenant_id


@pytest.fixture(scope="session")
def authority(server: RunningServer, contoso: str) -> str:
    return f"{server.base_url}/{contoso}"


@pytest.fixture(scope="session")
def daemon_app(server: RunningServer, contoso: str) -> RegisteredApp:
    """A confidential client with a secret and the Graph app role User.Read.All."""
    return register_app(server, contoso, roles=("User.Read.All",), name="client tests daemon")


@pytest.fixture(scope="session")
def certificate_app(server: RunningServer, contoso: str) -> CertificateApp:
    """A confidential client whose only credential is a certificate, with the Graph role User.Read.All."""
    registered = register_app(server, contoso, secret=False, roles=("User.Read.All",),
                              name="client tests certificate")
    cert = make_certificate()
    apps.add_certificate(server.ctx, contoso, registered.object_id, cert.certificate_pem.encode(), TEST_ACTOR)
    return CertificateApp(registered, cert)


@pytest.fixture
def new_public_app(authority: str) -> Callable[..., msal.PublicClientApplication]:
    """A fresh Graph CLI public client app object (each has its own token cache and 400-response cache)."""
    def build(client_id: str = GRAPH_CLI, **kwargs: Any) -> msal.PublicClientApplication:
        return msal.PublicClientApplication(client_id, authority=authority, instance_discovery=False, **kwargs)
    return build

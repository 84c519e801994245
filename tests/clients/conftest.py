"""Fixtures for the real-client tests: the demo tenant and its authority, registered applications, and
the settings every test here relies on.

Every client is built against ``{base}/{tenant-guid}`` with instance discovery off (real-clients §0.2);
ROPC skips MSAL's user-realm probe on port 443 by listing ``localhost`` (§0.4).
"""

from __future__ import annotations

from collections.abc import Callable
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
from tests.support.real_clients import (  # noqa: F401 - autouse fixtures for this directory
    _no_user_realm_probe,
    _release_client_connections,
    _server_clock_at_real_time,
)
from tests.support.server import RunningServer

from consentry.services import app_credentials


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
    app_credentials.add_certificate(server.ctx, contoso, registered.object_id, cert.certificate_pem.encode(),
                                    TEST_ACTOR)
    return CertificateApp(registered, cert)


@pytest.fixture
def new_public_app(authority: str) -> Callable[..., msal.PublicClientApplication]:
    """A fresh Graph CLI public client app object (each has its own token cache and 400-response cache)."""
    def build(client_id: str = GRAPH_CLI, **kwargs: Any) -> msal.PublicClientApplication:
        return msal.PublicClientApplication(client_id, authority=authority, instance_discovery=False, **kwargs)
    return build

"""Fixtures for tests that drive the real Microsoft client libraries against the test server. A
``conftest.py`` imports them to make them apply (they are autouse) to its directory."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from contextlib import contextmanager

import msal
import pytest
from tests.support.server import RunningServer


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
    it (and its TLS connection) alive; uvicorn's shutdown would then wait on that connection. Collecting
    the cycles before the server stops closes those connections."""
    yield
    gc.collect()


@contextmanager
def real_time(server: RunningServer) -> Iterator[None]:
    """The server's clock at the real time for a while, then back where it was."""
    found = server.clock.now()
    server.clock.set(dt.datetime.now(dt.UTC))
    try:
        yield
    finally:
        server.clock.set(found)


@pytest.fixture(autouse=True)
def _server_clock_at_real_time(server: RunningServer) -> Iterator[None]:
    """The server's clock stands still; real clients stamp assertions and check tokens with the real time,
    so each test runs with the server's clock at the real time, and leaves it as it found it. Session
    fixtures are made before this runs: those that create credentials use :func:`real_time` themselves, or
    a secret made while an earlier test had moved the clock ahead would not be valid yet."""
    with real_time(server):
        yield

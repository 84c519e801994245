"""Suite-wide fixtures: the egress guard, a TLS server on SQLite with the demo directory, and the rule
that PostgreSQL and browser tests fail rather than skip when CI requires them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.egress import EgressGuard
from tests.support.server import RunningServer, start_server

REQUIRED_SKIPS = {"CONSENTRY_REQUIRE_POSTGRES": "CONSENTRY_TEST_POSTGRES_URL",
                  "CONSENTRY_REQUIRE_BROWSER": "chromium"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:  # type: ignore[type-arg]
    """In CI a skip for a missing PostgreSQL or Chromium is a failure, not a silent pass."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and call.excinfo is not None:
        reason = str(call.excinfo.value)
        for flag, marker in REQUIRED_SKIPS.items():
            if os.environ.get(flag) == "1" and marker.lower() in reason.lower():
                report.outcome = "failed"
                report.longrepr = f"required in CI but skipped: {reason}"


@pytest.fixture(scope="session")
def egress_guard() -> Iterator[EgressGuard]:
    guard = EgressGuard().start()
    saved = {k: os.environ.get(k) for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy",
                                            "NO_PROXY", "no_proxy")}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        os.environ[name] = guard.url
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "localhost,127.0.0.1,::1"
    yield guard
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    guard.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, egress_guard: EgressGuard) -> Iterator[RunningServer]:
    """Consentry over TLS on SQLite, seeded with the demo directory; clients trust its CA."""
    data_dir: Path = tmp_path_factory.mktemp("consentry")
    running = start_server(data_dir)
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")}
    for name in saved:
        os.environ[name] = str(running.ca_path)
    yield running
    running.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    assert not egress_guard.attempts, f"a client tried to leave the machine: {egress_guard.attempts}"

"""Playwright driving Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tests.support.server import RunningServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]


def spki_pin(certificate: Path) -> str:
    """Chromium's pin for one server key: it trusts exactly that key, and still checks everything else."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextlib.contextmanager
def chromium_trusting(*servers: RunningServer) -> Iterator[Browser]:
    """Debian's Chromium, headless, trusting exactly the TLS keys of ``servers`` (a module with a server of
    its own launches its own browser with this). Skips when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    # The browser only talks to the loopback server; the egress guard's proxy is for client libraries.
    env: dict[str, str | float | bool] = {k: v for k, v in os.environ.items()
                                         if k.lower() not in ("https_proxy", "http_proxy")}
    with sync_playwright() as playwright:
        pins = ",".join(spki_pin(s.ca_path.parent / "server.pem") for s in servers)
        args = [*CHROMIUM_ARGS, "--no-proxy-server", f"--ignore-certificate-errors-spki-list={pins}"]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args, env=env)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser(server: RunningServer) -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running while it is open."""
    with chromium_trusting(server) as launched:
        yield launched

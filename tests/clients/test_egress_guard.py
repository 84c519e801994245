"""The egress guard catches a client built without ``instance_discovery=False``: MSAL then asks
login.microsoftonline.com for instance metadata, the guard refuses and records it, and the test fails
instead of reaching the internet (real-clients §0.2, §5.4)."""

from __future__ import annotations

import uuid

import msal
import pytest
import requests
from tests.support.egress import EgressGuard

pytestmark = pytest.mark.clients


def test_msal_without_instance_discovery_off_is_stopped_by_the_egress_guard(
        egress_guard: EgressGuard, authority: str) -> None:
    attempts = egress_guard.attempts
    already = len(attempts)
    try:
        with pytest.raises(requests.exceptions.ProxyError):  # the guard answers CONNECT with 403
            msal.ConfidentialClientApplication(str(uuid.uuid4()), client_credential="secret",
                                               authority=authority)  # instance_discovery left on
        caught = attempts[already:]
        assert caught, "MSAL reached no proxy: the guard is not in the way"
        assert all(attempt == "CONNECT login.microsoftonline.com:443" for attempt in caught), caught
    finally:
        # These attempts were provoked on purpose; the session-end check must still see any others.
        del attempts[already:]

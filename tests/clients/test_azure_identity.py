"""azure-identity's ``ClientSecretCredential`` and ``CertificateCredential`` against Consentry
(real-clients §2): authority ``https://localhost:PORT``, instance discovery off, the CA per request."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential
from tests.clients.helpers import GRAPH_DEFAULT, CertificateApp, RegisteredApp, decode_jwt
from tests.support.server import RunningServer

pytestmark = pytest.mark.clients


def test_client_secret_credential_gets_a_graph_token_and_caches_it(daemon_app: RegisteredApp, server: RunningServer,
                                                     contoso: str) -> None:
    credential = ClientSecretCredential(contoso, daemon_app.app_id, daemon_app.secret or "",
                                        authority=server.base_url, disable_instance_discovery=True,
                                        connection_verify=str(server.ca_path))
    with credential:
        token = credential.get_token(*GRAPH_DEFAULT)
        cached = credential.get_token(*GRAPH_DEFAULT)
    assert cached.token == token.token
    assert token.expires_on > time.time() + 300
    claims = decode_jwt(token.token)
    assert claims["appid"] == daemon_app.app_id
    assert claims["tid"] == contoso
    assert claims["roles"] == ["User.Read.All"]


def test_certificate_credential_authenticates_with_the_sha1_thumbprint(certificate_app: CertificateApp,
                                                                      server: RunningServer, contoso: str) -> None:
    pem = (certificate_app.certificate.private_key_pem + certificate_app.certificate.certificate_pem).encode()
    credential = CertificateCredential(contoso, certificate_app.app.app_id, certificate_data=pem,
                                       authority=server.base_url, disable_instance_discovery=True,
                                       connection_verify=str(server.ca_path))
    with credential:
        claims = decode_jwt(credential.get_token(*GRAPH_DEFAULT).token)
    assert claims["appid"] == certificate_app.app.app_id
    assert claims["appidacr"] == "2"


def test_client_secret_credential_with_a_wrong_secret_raises_with_aadsts7000215(
        daemon_app: RegisteredApp, server: RunningServer, contoso: str) -> None:
    credential = ClientSecretCredential(contoso, daemon_app.app_id, "not-the-secret",
                                        authority=server.base_url, disable_instance_discovery=True,
                                        connection_verify=str(server.ca_path))
    # azure-identity keeps the last error response in a thread-local of the credential's MsalClient; that
    # pins a pooled TLS connection until the thread ends, and the test server's shutdown would wait on it.
    with credential, ThreadPoolExecutor(1) as worker:
        attempt = worker.submit(credential.get_token, *GRAPH_DEFAULT)
        with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
            attempt.result(timeout=30)

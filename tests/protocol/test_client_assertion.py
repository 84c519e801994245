"""``private_key_jwt`` client authentication (issue 2 §3): a certificate-signed assertion is accepted once,
and a well-signed assertion with odd claim types is a 4xx, never a 5xx."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey
from tests.protocol.helpers import TEST_ACTOR, RegisteredApp, assert_entra_error, make_app, make_tenant, post_token
from tests.support.server import RunningServer

from consentry.services import app_credentials

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def key_and_cert() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "assertion test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.DER)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def assertion(server: RunningServer, app_id: str, key: rsa.RSAPrivateKey, der: bytes, aud: Any) -> str:
    now = server.clock.now().timestamp()
    claims = {"iss": app_id, "sub": app_id, "aud": aud, "iat": now, "nbf": now, "exp": now + 600,
              "jti": str(uuid.uuid4())}
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    header = {"alg": "RS256", "typ": "JWT", "x5t": b64url(hashlib.sha1(der).digest())}
    return jwt.encode(header, claims, RSAKey.import_key(pem), algorithms=["RS256"])


def certificate_app(server: RunningServer, der: bytes) -> tuple[str, RegisteredApp]:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    app_credentials.add_certificate(server.ctx, tenant.id, app.app.id, der, TEST_ACTOR)
    return tenant.id, app


def request(http: httpx.Client, segment: str, app_id: str, token: str) -> httpx.Response:
    return post_token(http, segment, {"grant_type": "client_credentials", "client_id": app_id,
                                      "scope": "https://graph.microsoft.com/.default",
                                      "client_assertion_type": ASSERTION_TYPE, "client_assertion": token})


def test_certificate_assertion_is_accepted_once(server: RunningServer, http: httpx.Client,
                                                key_and_cert: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, der = key_and_cert
    segment, app = certificate_app(server, der)
    token = assertion(server, app.app_id, key, der, f"{server.base_url}/{segment}/oauth2/v2.0/token")
    response = request(http, segment, app.app_id, token)
    assert response.status_code == 200, response.text
    assert_entra_error(request(http, segment, app.app_id, token), "invalid_client", 50027, status=401)


@pytest.mark.parametrize("aud", [{"x": 1}, [{"x": 1}]], ids=["object", "list-of-object"])
def test_assertion_with_an_unhashable_aud_is_a_4xx(server: RunningServer, http: httpx.Client,
                                                   key_and_cert: tuple[rsa.RSAPrivateKey, bytes], aud: Any) -> None:
    key, der = key_and_cert
    segment, app = certificate_app(server, der)
    response = request(http, segment, app.app_id, assertion(server, app.app_id, key, der, aud))
    assert_entra_error(response, "invalid_client", 50027, status=401)

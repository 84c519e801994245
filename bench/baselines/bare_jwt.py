"""Bare-JWT baseline for Consentry's token benchmark (``make bench``).

The ceiling for our stack: Starlette + uvicorn (uvloop, httptools) + joserfc,
with no database, no client lookup and no secret check. ``POST /token`` parses
an ``application/x-www-form-urlencoded`` body (client_id, client_secret,
grant_type=client_credentials, scope) and returns an Entra-shaped response::

    {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
     "access_token": "<RS256 JWT>"}

The RSA-2048 signing key is generated once at start-up by the parent process
and handed to every worker through an environment variable, so all workers
sign with the same key (``GET /jwks`` publishes it).

Run::

    python bench/baselines/bare_jwt.py --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import uuid

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY_ENV = "BARE_JWT_PRIVATE_KEY_PEM"
TENANT_ID = "00000000-0000-0000-0000-000000000001"
ISSUER = f"https://login.microsoftonline.com/{TENANT_ID}/v2.0"
DEFAULT_RESOURCE = "https://graph.microsoft.com"
EXPIRES_IN = 3599
ROLES = ["Application.Read.All"]
_OID_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # NAMESPACE_URL


def generate_private_pem() -> str:
    key = RSAKey.generate_key(2048, private=True)
    return key.as_pem(private=True).decode("ascii")


def _load_key() -> RSAKey:
    pem = os.environ.get(KEY_ENV)
    # Without the variable (e.g. `uvicorn bare_jwt:app` directly): one key per process.
    key = RSAKey.import_key(pem) if pem else RSAKey.generate_key(2048, private=True)
    key.ensure_kid()  # RFC 7638 thumbprint
    return key


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def create_app() -> Starlette:
    key = _load_key()
    header = {"typ": "JWT", "alg": "RS256", "kid": key.kid}
    jwks = {"keys": [key.as_dict(private=False, use="sig", alg="RS256")]}

    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        grant_type = form.get("grant_type")
        client_id = form.get("client_id")
        if grant_type != "client_credentials":
            return _error(400, "unsupported_grant_type", "only client_credentials is supported")
        if not client_id:
            return _error(400, "invalid_request", "client_id is required")

        scope = str(form.get("scope") or f"{DEFAULT_RESOURCE}/.default")
        resource = scope.split(" ", 1)[0]
        if resource.endswith("/.default"):
            resource = resource[: -len("/.default")]

        now = int(time.time())
        oid = str(uuid.uuid5(_OID_NAMESPACE, f"{TENANT_ID}/{client_id}"))
        claims = {
            "aud": resource,
            "iss": ISSUER,
            "iat": now,
            "nbf": now,
            "exp": now + EXPIRES_IN,
            "appid": client_id,
            "azp": client_id,
            "tid": TENANT_ID,
            "oid": oid,
            "sub": oid,
            "roles": ROLES,
            "ver": "2.0",
            "uti": secrets.token_urlsafe(16),
            "idtyp": "app",
        }
        access_token = jwt.encode(header, claims, key)
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": EXPIRES_IN,
                "ext_expires_in": EXPIRES_IN,
                "access_token": access_token,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    async def get_jwks(request: Request) -> JSONResponse:
        return JSONResponse(jwks)

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/jwks", get_jwks, methods=["GET"]),
        ]
    )


def __getattr__(name: str) -> Starlette:
    # `bare_jwt:app` is built lazily on first access (in each worker), so that
    # the parent process sets the shared key before any worker builds its app.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--access-log", action="store_true", help="enable uvicorn access log")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    if not os.environ.get(KEY_ENV):
        os.environ[KEY_ENV] = generate_private_pem()

    here = os.path.dirname(os.path.abspath(__file__))
    print(
        f"bare_jwt baseline on http://{args.host}:{args.port} workers={args.workers} pid={os.getpid()}",
        file=sys.stderr,
        flush=True,
    )
    # An import string is required for workers > 1; app_dir puts this folder on
    # sys.path (inherited by the spawned workers).
    uvicorn.run(
        "bare_jwt:app",
        app_dir=here,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=args.access_log,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()

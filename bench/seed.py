"""Seed a fresh Consentry database for the benchmark (``make bench``) and print what the load needs as JSON.

Run it BEFORE starting the server, with the same ``--data-dir`` and ``--db`` the server will get (the
key-encryption key lives in the data directory). It migrates the schema, makes sure a signing key exists,
and creates through the services (never SQL):

* a tenant ``Bench`` (domain ``bench-<random>.example``);
* a confidential web application with a client secret, assigned the application role ``User.Read.All`` on
  Microsoft Graph, so that client-credentials tokens carry a ``roles`` claim (the realistic path: the
  token endpoint looks the assignments up);
* a public client with the ``http://localhost`` loopback redirect URI and tenant-wide (``AllPrincipals``)
  consent to ``User.Read openid profile offline_access`` on Graph, so the sign-in flow never stops at a
  consent page;
* ``--users`` users with one shared password (each virtual user of ``signin_load.py`` signs in as one).

Usage::

    python bench/seed.py --data-dir D [--db postgresql://postgres@127.0.0.1:5432/bench_x] [--users 16]

Prints one JSON object: tenant_id, cc_client_id, cc_client_secret, cc_scope, public_client_id,
redirect_uri, signin_scope, users, password.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

from consentry import runtime
from consentry.config import Settings
from consentry.domain.apps import Application
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import new_guid
from consentry.services import app_credentials, apps, directory, grants
from consentry.services.context import Actor

ACTOR = Actor("system", name="Consentry benchmark seed")
CC_ROLE = "User.Read.All"
CC_SCOPE = "https://graph.microsoft.com/.default"
SIGNIN_SCOPE = "User.Read openid profile offline_access"
LOOPBACK = "http://localhost"
WEB_REDIRECT = "https://app.example/callback"


def seed(settings: Settings, n_users: int) -> dict[str, object]:
    rt = runtime.build(settings)
    try:
        runtime.prepare(rt)
        ctx = rt.ctx
        domain = f"bench-{secrets.token_hex(4)}.example"
        tenant = directory.create_tenant(ctx, "Bench", [domain], ACTOR)

        web = Application(id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name="Bench daemon",
                          sign_in_audience="AzureADMyOrg", web_redirect_uris=(WEB_REDIRECT,))
        web = apps.register_application(ctx, tenant.id, web, ACTOR)
        _, secret = app_credentials.add_password(ctx, tenant.id, web.id, ACTOR, display_name="bench")
        grants.add_app_role_assignment(ctx, tenant.id, web.app_id, MICROSOFT_GRAPH, CC_ROLE, ACTOR)

        public = Application(id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name="Bench native app",
                             sign_in_audience="AzureADMyOrg", public_client_redirect_uris=(LOOPBACK,),
                             is_fallback_public_client=True)
        public = apps.register_application(ctx, tenant.id, public, ACTOR)
        grants.add_grant(ctx, tenant.id, public.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, SIGNIN_SCOPE, ACTOR)

        password = f"Bench-{secrets.token_urlsafe(12)}-1!"
        users = []
        for i in range(n_users):
            upn = f"user{i:03d}@{domain}"
            directory.create_user(ctx, tenant.id, upn, f"Bench user {i}", password, ACTOR)
            users.append(upn)
    finally:
        rt.close()
    return {
        "tenant_id": tenant.id,
        "domain": domain,
        "cc_client_id": web.app_id,
        "cc_client_secret": secret,
        "cc_scope": CC_SCOPE,
        "cc_role": CC_ROLE,
        "public_client_id": public.app_id,
        "redirect_uri": LOOPBACK,
        "signin_scope": SIGNIN_SCOPE,
        "users": users,
        "password": password,
        "argon2": {"time_cost": settings.argon2_time_cost, "memory_kib": settings.argon2_memory_kib,
                   "parallelism": settings.argon2_parallelism},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in the data directory)")
    parser.add_argument("--users", type=int, default=16)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    # Settings() also reads CONSENTRY_* (the argon2 parameters among them), as the server will.
    settings = Settings(data_dir=args.data_dir, db=args.db, http=True)
    print(json.dumps(seed(settings, args.users)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

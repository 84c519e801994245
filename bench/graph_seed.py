"""Seed a large tenant for the Graph paging benchmark (``make bench``, phase ``graph``) and print what the
load needs as JSON.

Run it BEFORE starting the server, with the same ``--data-dir`` and ``--db`` the server will get. It
migrates the schema and makes sure a signing key exists (``runtime.prepare``), then:

* through the services (audited, as an administrator would): a tenant ``Graph bench``, an administrator
  ``admin@<domain>`` holding the Global Administrator role, and tenant-wide (``AllPrincipals``) consent for
  Microsoft Graph Command Line Tools (``14d82eec-…``) to ``Application.Read.All Directory.Read.All`` on
  Microsoft Graph, so that a password (ROPC) token of the administrator can list service principals and
  grants;
* in bulk, straight into the tables of ``consentry.store.tables`` (SQLAlchemy Core ``executemany`` on
  SQLite, ``COPY … FROM STDIN`` on PostgreSQL; a transaction per table, per 250,000 rows for the grants):
  ``--users`` users without a password (the principals of the grants), ``--service-principals`` service
  principals of multi-tenant applications published by another organisation (with their
  ``service_principal_names`` rows, as ``AppRepository.add_service_principal`` writes them), and
  ``--grants`` oauth2PermissionGrants: for each client service principal in turn, one ``AllPrincipals``
  grant to Microsoft Graph and ``Principal`` grants for distinct users, with Entra-style opaque ids;
* then moves the directory version on once (the bulk rows bypass the audited write path that usually
  does it), and on PostgreSQL runs ``VACUUM (ANALYZE)`` on the bulk-loaded tables, which autovacuum would
  do on its own a little later (done here so that it does not happen in the middle of a measurement).
  SQLite is left as Consentry leaves it (no ``ANALYZE``).

Usage::

    python bench/graph_seed.py --data-dir D [--db postgresql://postgres@127.0.0.1:5432/bench_x] \
        [--service-principals 100000] [--grants 1000000] [--users 1000]

Prints one JSON object: tenant_id, domain, username, password, client_id, scope, the counts actually
seeded, seconds per step, and the id and appId of a service principal near the end of the id order
(``filter_sp_id``, ``filter_app_id``: what ``$filter=appId eq '…'`` looks for).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert, select, text, update

from consentry import runtime
from consentry.config import Settings
from consentry.domain.apps import INTEGRATED_APP_TAG
from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.directory import GLOBAL_ADMINISTRATOR
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.services import directory, grants
from consentry.services.context import Actor
from consentry.store import tables as t

ACTOR = Actor("system", name="Consentry Graph benchmark seed")
ADMIN_SCOPE = "Application.Read.All Directory.Read.All"
TOKEN_SCOPE = "https://graph.microsoft.com/.default"
PUBLISHER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"  # the organisation that publishes the seeded apps
BATCH = 20_000  # rows per executemany (SQLite)


def log(message: str) -> None:
    print(f"graph_seed: {message}", file=sys.stderr, flush=True)


def guids(n: int) -> list[str]:
    """n random (version 4) GUIDs, fast."""
    raw = os.urandom(16 * n)
    out = []
    for i in range(n):
        b = bytearray(raw[16 * i:16 * i + 16])
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        out.append(str(uuid.UUID(bytes=bytes(b))))
    return out


def grant_ids(n: int) -> list[str]:
    """Entra's grant ids: base64url of 24 random bytes (as ``services.grants._grant_id``)."""
    raw = os.urandom(24 * n)
    return [base64.urlsafe_b64encode(raw[24 * i:24 * i + 24]).decode() for i in range(n)]


# ------------------------------------------------------------------------------------------- rows --
def user_rows(tenant_id: str, domain: str, n: int, now: datetime) -> Iterator[dict[str, Any]]:
    for i, user_id in enumerate(guids(n)):
        upn = f"member{i:05d}@{domain}"
        yield dict(id=user_id, tenant_id=tenant_id, user_principal_name=upn, display_name=f"Member {i}",
                   mail=upn, given_name=None, surname=None, job_title=None, account_enabled=True,
                   password_hash=None, created_at=now)


def sp_rows(tenant_id: str, ids: Sequence[str], app_ids: Sequence[str], now: datetime) -> Iterator[dict[str, Any]]:
    for i, (sp_id, app_id) in enumerate(zip(ids, app_ids, strict=True)):
        yield dict(
            id=sp_id, tenant_id=tenant_id, app_id=app_id, display_name=f"Bench app {i:06d}",
            app_owner_organization_id=PUBLISHER_TENANT, account_enabled=True, app_role_assignment_required=False,
            tags=[INTEGRATED_APP_TAG],
            scopes=[{"id": str(uuid.UUID(int=i + 1)), "value": "access_as_user", "type": "User",
                     "isEnabled": True, "adminConsentDisplayName": f"Access Bench app {i:06d}",
                     "adminConsentDescription": "Allows the app to access Bench app on behalf of the user.",
                     "userConsentDisplayName": f"Access Bench app {i:06d}",
                     "userConsentDescription": "Allows the app to access Bench app on your behalf."}],
            app_roles=[], service_principal_names=[app_id], reply_urls=[f"https://app{i:06d}.bench.example/callback"],
            homepage=None, publisher_name="Bench Publisher", sign_in_audience="AzureADMultipleOrgs",
            verified_publisher={}, notes=None, created_at=now)


def name_rows(tenant_id: str, ids: Sequence[str], app_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
    for sp_id, app_id in zip(ids, app_ids, strict=True):
        yield dict(tenant_id=tenant_id, name=app_id, service_principal_id=sp_id)


def grant_rows(tenant_id: str, n: int, clients: Sequence[str], graph_sp: str, users: Sequence[str],
               now: datetime) -> Iterator[dict[str, Any]]:
    """n grants spread over the clients: per client, one AllPrincipals grant to Graph, then Principal grants
    for distinct users (so that no client, resource and principal repeat, as the services guarantee)."""
    per_client = -(-n // len(clients))
    if per_client - 1 > len(users):
        raise SystemExit(f"{n} grants over {len(clients)} clients need at least {per_client - 1} users")
    ids: list[str] = []
    for k in range(n):
        if not ids:
            ids = grant_ids(min(10_000, n - k))
        client_index, slot = divmod(k, per_client)
        if slot == 0:
            consent, principal, scope = ALL_PRINCIPALS, None, "User.Read openid profile offline_access"
        else:
            consent, principal, scope = "Principal", users[(client_index * 7 + slot) % len(users)], "User.Read"
        created = now - timedelta(seconds=n - k)
        yield dict(id=ids.pop(), tenant_id=tenant_id, client_id=clients[client_index], consent_type=consent,
                   principal_id=principal, resource_id=graph_sp, scope=scope, created_at=created,
                   modified_at=created)


# ------------------------------------------------------------------------------------- bulk insert --
def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def bulk_insert(conn: Connection, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    """Insert rows into ``table`` within the connection's transaction: COPY on PostgreSQL, executemany else."""
    count = 0
    if conn.dialect.name == "postgresql":
        columns = [c.name for c in table.columns]
        raw: Any = conn.connection.dbapi_connection  # psycopg.Connection
        with raw.cursor() as cur, cur.copy(f'COPY {table.name} ({", ".join(columns)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([_copy_value(row.get(c)) for c in columns])
                count += 1
        return count
    for batch in _batches(rows, BATCH):
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def _tune_sqlite(conn: Connection) -> None:
    # This connection only: a big page cache for the index B-trees of the bulk load. The file stays in WAL
    # mode with synchronous=NORMAL, as the server uses it.
    conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB


# -------------------------------------------------------------------------------------------- seed --
def seed(settings: Settings, n_sps: int, n_grants: int, n_users: int) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.monotonic()
    rt = runtime.build(settings)
    try:
        runtime.prepare(rt)
        ctx = rt.ctx
        mark = time.monotonic()
        domain = f"graph-bench-{secrets.token_hex(4)}.example"
        tenant = directory.create_tenant(ctx, "Graph bench", [domain], ACTOR)
        password = f"Bench-{secrets.token_urlsafe(12)}-1!"
        username = f"admin@{domain}"
        directory.create_user(ctx, tenant.id, username, "Bench administrator", password, ACTOR)
        directory.assign_role(ctx, tenant.id, username, GLOBAL_ADMINISTRATOR.id, ACTOR)
        grants.add_grant(ctx, tenant.id, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, ALL_PRINCIPALS, ADMIN_SCOPE,
                         ACTOR)
        timings["services_s"] = round(time.monotonic() - mark, 2)

        now = datetime.now(UTC)
        sp_ids, app_ids = guids(n_sps), guids(n_sps)
        with rt.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                _tune_sqlite(conn)
            graph_sp = conn.execute(select(t.service_principals.c.id).where(
                t.service_principals.c.tenant_id == tenant.id,
                t.service_principals.c.app_id == MICROSOFT_GRAPH)).scalar_one()
            conn.rollback()

            mark = time.monotonic()
            with conn.begin():
                n = bulk_insert(conn, t.users, user_rows(tenant.id, domain, n_users, now))
            user_ids = list(conn.execute(select(t.users.c.id).where(
                t.users.c.tenant_id == tenant.id, t.users.c.password_hash.is_(None))).scalars())
            conn.rollback()
            timings["users_s"] = round(time.monotonic() - mark, 2)
            log(f"{n} users in {timings['users_s']} s")

            mark = time.monotonic()
            with conn.begin():
                n = bulk_insert(conn, t.service_principals, sp_rows(tenant.id, sp_ids, app_ids, now))
                bulk_insert(conn, t.service_principal_names, name_rows(tenant.id, sp_ids, app_ids))
            timings["service_principals_s"] = round(time.monotonic() - mark, 2)
            log(f"{n} service principals in {timings['service_principals_s']} s")

            mark = time.monotonic()
            done = 0
            rows = grant_rows(tenant.id, n_grants, sp_ids, graph_sp, user_ids, now)
            while done < n_grants:  # a transaction per 250,000 rows keeps the SQLite WAL bounded
                with conn.begin():
                    done += bulk_insert(conn, t.oauth2_permission_grants, itertools.islice(rows, 250_000))
                log(f"{done} grants, {time.monotonic() - mark:.1f} s")
            timings["grants_s"] = round(time.monotonic() - mark, 2)

            with conn.begin():  # the bulk rows bypassed the audited writes that move the version on
                conn.execute(update(t.directory_version).where(t.directory_version.c.id == 1)
                             .values(version=t.directory_version.c.version + 1))

            mark = time.monotonic()
            if conn.dialect.name == "postgresql":
                conn.rollback()
                raw = conn.connection.dbapi_connection
                assert raw is not None
                raw.autocommit = True
                for table in (t.users, t.service_principals, t.service_principal_names, t.oauth2_permission_grants):
                    raw.execute(f"VACUUM (ANALYZE) {table.name}")
                raw.autocommit = False
                timings["vacuum_analyze_s"] = round(time.monotonic() - mark, 2)
            else:
                conn.rollback()
                raw = conn.connection.dbapi_connection  # outside any transaction (pysqlite autocommit)
                assert raw is not None
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                timings["checkpoint_s"] = round(time.monotonic() - mark, 2)

            ordered = sorted(zip(sp_ids, app_ids, strict=True))
            near_end = ordered[int(len(ordered) * 0.995)]
            counts = {name: conn.execute(text(f"SELECT count(*) FROM {name} WHERE tenant_id = :t"),
                                         {"t": tenant.id}).scalar()
                      for name in ("service_principals", "oauth2_permission_grants", "users")}
            conn.rollback()
    finally:
        rt.close()
    timings["total_s"] = round(time.monotonic() - started, 2)
    return {
        "tenant_id": tenant.id, "domain": domain, "username": username, "password": password,
        "client_id": GRAPH_COMMAND_LINE_TOOLS, "scope": TOKEN_SCOPE, "granted_scope": ADMIN_SCOPE,
        "backend": "postgresql" if settings.db else "sqlite",
        "requested": {"service_principals": n_sps, "grants": n_grants, "users": n_users},
        "counts": counts,  # in the tenant, with the built-in service principals, the admin and its grant
        "timings": timings,
        "filter_sp_id": near_end[0], "filter_app_id": near_end[1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in the data directory)")
    parser.add_argument("--service-principals", type=int, default=100_000)
    parser.add_argument("--grants", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=args.data_dir, db=args.db, http=True)
    result = seed(settings, args.service_principals, args.grants, args.users)
    log(f"seeded in {result['timings']['total_s']} s: {result['counts']} ({result['timings']})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

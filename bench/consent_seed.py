"""Seed a large tenant for the consent decision benchmark (``make bench``, phase ``consent``) and print, as
JSON, the tenants, the sizes, the seeding times and pools of consent queries drawn from the seeded data.

Run it BEFORE starting a server, with the same ``--data-dir`` and ``--db`` the server will get. It migrates
the schema and makes sure a signing key exists (``runtime.prepare``), then:

* through the services (audited, as an administrator would): two publisher tenants (``Contoso apps``,
  ``Fabrikam apps``) that register the client applications, the consuming tenant ``Consent bench`` (the
  one measured) and a second consuming tenant ``Consent bench (no user consent)``; in ``Consent bench``,
  ``--policies`` custom permission grant policies (``grant_policies.create_policy``, three include condition
  sets and one exclude each, within Graph's limit of 100 ids per id-collection across the tenant) and
  ``delegatedPermissionClassifications`` ``low`` for the five basic Graph permissions;
* in bulk, straight into the tables of ``consentry.store.tables`` (``executemany`` on SQLite, ``COPY`` on
  PostgreSQL, the helpers of ``bench/graph_seed.py``): ``--service-principals`` multi-tenant web
  applications (95 % published by Contoso, 5 % by Fabrikam; 30 % from a verified publisher; 2 % registered
  five days ago, the rest 400 days ago; one client secret each, stored as a SHA-256 digest; a
  ``requiredResourceAccess`` on Microsoft Graph of ``openid profile offline_access User.Read``, plus
  ``Contacts.Read`` for 20 % and ``Mail.Send`` for 10 %), their service principals in ``Consent bench``
  (with ``service_principal_names``), ``--users`` users sharing one argon2id password hash, and
  ``--grants`` oauth2PermissionGrants to Microsoft Graph, with the popularity of the clients following
  Zipf's law (client of rank r holds about A/r grants, at most one per user, so the most popular clients are
  consented by every user): one ``AllPrincipals`` grant for every 20th client, ``Principal`` grants of
  distinct users for the rest, each with the scope the client's ``requiredResourceAccess`` names — and,
  as Consentry's own consent writes them, one default-access app role assignment of the user to the
  client's service principal per ``Principal`` grant. The second tenant gets ``--none-share`` of everything
  (service principals of the most popular apps, users, grants) and the ``none`` user consent setting;
* then, through the services, the user consent setting of ``Consent bench``: ``custom``, the recommended
  Microsoft policies plus ``--assigned`` of the custom ones (the one that lets Fabrikam's apps have
  ``Mail.Read`` last); 10 Global Administrators and 10 Application Administrators among the users;
* and, as ``bench/graph_seed.py`` does, moves the directory version on once, and runs ``VACUUM (ANALYZE)``
  on PostgreSQL (SQLite is left without ``ANALYZE``, as Consentry leaves it).

Which user holds a grant for which client is a pure function of the seed (an offset and a stride per
client, modulo the number of users), so pools of queries with a known answer are drawn without keeping the
grants in memory: a grant drawn uniformly (so popular clients are drawn as often as their users would sign
in to them), or a (user, client) pair that holds no grant.

Usage::

    python bench/consent_seed.py --data-dir D [--db postgresql://…/bench_x] [--service-principals 100000] \
        [--grants 1000000] [--users 50000] [--policies 100] [--assigned 44] [--pool 500]
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import math
import random
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_seed import _batches, _copy_value, _tune_sqlite, grant_ids, guids

from consentry import runtime
from consentry.config import Settings
from consentry.domain.apps import INTEGRATED_APP_TAG
from consentry.domain.builtin import MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.consent_policy import (
    RECOMMENDED_EXCLUDED_GRAPH,
    USER_DEFAULT_ALLOW_CONSENT_APPS,
    USER_DEFAULT_RECOMMENDED,
)
from consentry.domain.directory import APPLICATION_ADMINISTRATOR, GLOBAL_ADMINISTRATOR
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import NIL_GUID
from consentry.services import classifications, directory, grant_policies, policies
from consentry.services.context import Actor
from consentry.store import tables as t

ACTOR = Actor("system", name="Consentry consent benchmark seed")
BASE_SCOPE = "openid profile offline_access User.Read"
EXTRA_GRANTED = {7: "Contacts.Read", 8: "Contacts.Read", 9: "Mail.Send"}  # by app index % 10
DEFAULT_SCOPE = "https://graph.microsoft.com/.default openid profile offline_access"
NOT_GRANTED_CONSENTABLE = "User.ReadBasic.All"  # user-consentable, never granted here
NOT_ALLOWED = "Mail.Read"  # excluded from microsoft-user-default-recommended
STRIDES = (1_000_003, 1_299_709, 2_750_159, 4_256_249, 7_368_787, 15_485_863, 32_452_843, 49_979_687)
ADMINS = 10  # Global Administrators, and as many Application Administrators
BATCH_ROWS = 250_000  # per transaction for the big tables (keeps the SQLite WAL bounded)


def log(message: str) -> None:
    print(f"consent_seed: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- who holds which grant --
def zipf_counts(n_clients: int, total: int, cap: int, exponent: float = 1.0) -> list[int]:
    """Grants per client, client r (0-based) holding about A/(r+1)^exponent, at most ``cap``, ``total`` in all."""
    if total > n_clients * cap:
        raise SystemExit(f"{total} grants do not fit {n_clients} clients x {cap} users")
    weights = [1.0 / (r + 1) ** exponent for r in range(n_clients)]

    def amount(a: float) -> float:
        return sum(min(cap, a * w) for w in weights)

    lo, hi = 0.0, float(total) * 2 + cap
    while amount(hi) < total:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if amount(mid) < total:
            lo = mid
        else:
            hi = mid
    raw = [min(cap, hi * w) for w in weights]
    counts = [int(x) for x in raw]
    short = total - sum(counts)
    order = sorted(range(n_clients), key=lambda r: raw[r] - counts[r], reverse=True)
    for r in order:
        if short <= 0:
            break
        if counts[r] < cap:
            counts[r] += 1
            short -= 1
    return counts


@dataclass
class Holdings:
    """Which users hold a Principal grant for which client: client r's users are
    ``(offset[r] + k * stride[r]) % n_users`` for ``k < principal[r]``; ``all_principals[r]`` says whether it
    also holds the tenant-wide grant."""

    n_users: int
    principal: list[int]
    all_principals: list[bool]
    offset: list[int]
    stride: list[int]
    inverse: list[int]

    @classmethod
    def build(cls, n_clients: int, total: int, n_users: int, rng: random.Random) -> Holdings:
        counts = zipf_counts(n_clients, total, n_users)
        strides = [s for s in STRIDES if math.gcd(s, n_users) == 1]
        allp = [r % 20 == 0 and counts[r] > 0 for r in range(n_clients)]
        principal = [c - (1 if a else 0) for c, a in zip(counts, allp, strict=True)]
        offset = [rng.randrange(n_users) for _ in range(n_clients)]
        stride = [strides[r % len(strides)] % n_users or 1 for r in range(n_clients)]
        inverse = [pow(s, -1, n_users) for s in stride]
        return cls(n_users, principal, allp, offset, stride, inverse)

    def user(self, client: int, k: int) -> int:
        return (self.offset[client] + k * self.stride[client]) % self.n_users

    def has_principal(self, client: int, user: int) -> bool:
        k = ((user - self.offset[client]) * self.inverse[client]) % self.n_users
        return k < self.principal[client]

    @property
    def total(self) -> int:
        return sum(self.principal) + sum(self.all_principals)


BATCH = 20_000  # rows per executemany (SQLite)


def bulk_insert(conn: Connection, table: t.Table, rows: Iterator[dict[str, Any]]) -> int:
    """``graph_seed.bulk_insert`` with quoted column names (``password_credentials."end"``): COPY on
    PostgreSQL, executemany else, within the connection's transaction."""
    count = 0
    if conn.dialect.name == "postgresql":
        columns = [c.name for c in table.columns]
        quoted = ", ".join(f'"{c}"' for c in columns)
        raw: Any = conn.connection.dbapi_connection  # psycopg.Connection
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([_copy_value(row.get(c)) for c in columns])
                count += 1
        return count
    for batch in _batches(rows, BATCH):
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


# ------------------------------------------------------------------------------------------- apps --
@dataclass(frozen=True)
class App:
    index: int
    id: str
    app_id: str
    publisher: str  # tenant id
    verified: bool
    recent: bool

    @property
    def scope(self) -> str:
        extra = EXTRA_GRANTED.get(self.index % 10)
        return f"{BASE_SCOPE} {extra}" if extra else BASE_SCOPE

    @property
    def redirect_uri(self) -> str:
        return f"https://app{self.index:06d}.bench.example/callback"

    @property
    def name(self) -> str:
        return f"Bench app {self.index:06d}"


def make_apps(n: int, contoso: str, fabrikam: str) -> list[App]:
    ids, app_ids = guids(n), guids(n)
    apps = []
    for i in range(n):
        verified = i % 10 < 3
        apps.append(App(i, ids[i], app_ids[i], fabrikam if i % 20 == 7 else contoso, verified,
                        recent=i % 50 == 13 and not verified))
    return apps


def graph_scope_ids() -> dict[str, str]:
    graph = find_builtin_application(MICROSOFT_GRAPH)
    assert graph is not None
    return {s.value: s.id for s in graph.scopes}


def application_rows(apps: Sequence[App], now: datetime, scope_ids: dict[str, str]) -> Iterator[dict[str, Any]]:
    for app in apps:
        access = [{"id": scope_ids[v], "type": "Scope"} for v in app.scope.split()]
        verified = {"verifiedPublisherId": str(5_000_000 + app.index), "displayName": "Bench Publisher",
                    "addedDateTime": "2024-01-01T00:00:00Z"} if app.verified else {}
        created = now - (timedelta(days=5) if app.recent else timedelta(days=400)) + timedelta(seconds=app.index)
        yield dict(id=app.id, app_id=app.app_id, tenant_id=app.publisher, display_name=app.name,
                   sign_in_audience="AzureADMultipleOrgs", web_redirect_uris=[app.redirect_uri], spa_redirect_uris=[],
                   public_client_redirect_uris=[], is_fallback_public_client=False, identifier_uris=[],
                   required_resource_access=[{"resourceAppId": MICROSOFT_GRAPH, "resourceAccess": access}],
                   scopes=[], app_roles=[], homepage_url=None, info={}, publisher_name="Bench Publisher",
                   verified_publisher=verified, created_at=created)


def secret_rows(apps: Sequence[App], now: datetime) -> Iterator[dict[str, Any]]:
    for app, key_id in zip(apps, guids(len(apps)), strict=True):
        yield dict(key_id=key_id, application_id=app.id, display_name="bench", hint="Bnc",
                   secret_hash=hashlib.sha256(app.app_id.encode()).hexdigest(), start=now - timedelta(days=30),
                   end=now + timedelta(days=700))


def sp_rows(tenant_id: str, apps: Sequence[App], sp_ids: Sequence[str], now: datetime) -> Iterator[dict[str, Any]]:
    for app, sp_id in zip(apps, sp_ids, strict=False):
        verified = {"verifiedPublisherId": str(5_000_000 + app.index), "displayName": "Bench Publisher",
                    "addedDateTime": "2024-01-01T00:00:00Z"} if app.verified else {}
        yield dict(id=sp_id, tenant_id=tenant_id, app_id=app.app_id, display_name=app.name,
                   app_owner_organization_id=app.publisher, account_enabled=True, app_role_assignment_required=False,
                   tags=[INTEGRATED_APP_TAG], scopes=[], app_roles=[], service_principal_names=[app.app_id],
                   reply_urls=[app.redirect_uri], homepage=None, publisher_name="Bench Publisher",
                   sign_in_audience="AzureADMultipleOrgs", verified_publisher=verified, notes=None,
                   created_at=now - timedelta(days=30))


def name_rows(tenant_id: str, apps: Sequence[App], sp_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
    for app, sp_id in zip(apps, sp_ids, strict=False):
        yield dict(tenant_id=tenant_id, name=app.app_id, service_principal_id=sp_id)


def user_rows(tenant_id: str, domain: str, ids: Sequence[str], password_hash: str,
              now: datetime) -> Iterator[dict[str, Any]]:
    for i, user_id in enumerate(ids):
        upn = f"member{i:06d}@{domain}"
        yield dict(id=user_id, tenant_id=tenant_id, user_principal_name=upn, display_name=f"Member {i}",
                   mail=upn, given_name=None, surname=None, job_title=None, account_enabled=True,
                   password_hash=password_hash, created_at=now)


def grant_rows(tenant_id: str, h: Holdings, apps: Sequence[App], sp_ids: Sequence[str], graph_sp: str,
               user_ids: Sequence[str], now: datetime) -> Iterator[dict[str, Any]]:
    ids: list[str] = []
    n = 0
    for r, sp_id in enumerate(sp_ids):
        scope = apps[r].scope
        if h.all_principals[r]:
            ids = ids or grant_ids(10_000)
            yield dict(id=ids.pop(), tenant_id=tenant_id, client_id=sp_id, consent_type=ALL_PRINCIPALS,
                       principal_id=None, resource_id=graph_sp, scope=scope, created_at=now - timedelta(days=20),
                       modified_at=now - timedelta(days=20))
        for k in range(h.principal[r]):
            ids = ids or grant_ids(10_000)
            n += 1
            created = now - timedelta(seconds=n)
            yield dict(id=ids.pop(), tenant_id=tenant_id, client_id=sp_id, consent_type="Principal",
                       principal_id=user_ids[h.user(r, k)], resource_id=graph_sp, scope=scope, created_at=created,
                       modified_at=created)


def assignment_rows(tenant_id: str, h: Holdings, apps: Sequence[App], sp_ids: Sequence[str],
                    user_ids: Sequence[str], now: datetime) -> Iterator[dict[str, Any]]:
    """The default-access assignment that Consentry's user consent writes next to each Principal grant."""
    ids: list[str] = []
    for r, sp_id in enumerate(sp_ids):
        for k in range(h.principal[r]):
            ids = ids or grant_ids(10_000)
            u = h.user(r, k)
            yield dict(id=ids.pop(), tenant_id=tenant_id, principal_id=user_ids[u], principal_type="User",
                       principal_display_name=f"Member {u}", resource_id=sp_id,
                       resource_display_name=apps[r].name, app_role_id=NIL_GUID, created_at=now - timedelta(days=1))


def insert_in_batches(conn: Connection, table: t.Table, rows: Iterator[dict[str, Any]], what: str) -> int:
    import itertools
    done, mark = 0, time.monotonic()
    while True:
        with conn.begin():
            n = bulk_insert(conn, table, itertools.islice(rows, BATCH_ROWS))
        done += n
        if n < BATCH_ROWS:
            break
        log(f"{done} {what}, {time.monotonic() - mark:.1f} s")
    return done


# ----------------------------------------------------------------------------------------- policies --
def custom_policies(n: int, fabrikam: str, scope_ids: dict[str, str], apps: Sequence[App],
                    rng: random.Random) -> list[dict[str, Any]]:
    """``n`` custom policies: ``n - 1`` generic ones that never cover Mail.Read for anyone (fictitious APIs,
    single user-consentable Graph permissions, app roles of verified MPN ids, exclusions of single clients),
    and last (by id) the one that lets Fabrikam's apps have Mail.Read. Every id-collection stays within
    Graph's 100 entries across the tenant."""
    apis = [_guid(random.Random(i)) for i in range(20)]  # appIds of APIs of their own (not in the directory)
    excluded = {v.lower() for v in RECOMMENDED_EXCLUDED_GRAPH}
    graph = find_builtin_application(MICROSOFT_GRAPH)
    assert graph is not None
    safe = [s.id for s in graph.scopes if s.type == "User" and s.value.lower() not in excluded]
    out = []
    for i in range(n - 1):
        includes: list[dict[str, Any]] = [
            {"permission_type": "delegated", "resource_application": apis[i % 20],
             "permission_classification": ("low", "medium", "high", "all")[i % 4]},
            {"permission_type": "delegated", "resource_application": MICROSOFT_GRAPH,
             "permissions": [safe[i % len(safe)]] if i < 90 else None,
             "client_application_tenant_ids": [_guid(rng)] if i < 60 else None,
             "client_applications_from_verified_publisher_only": i % 2 == 0},
            {"permission_type": "application", "resource_application": apis[(i + 7) % 20],
             "client_application_publisher_ids": [str(1_000_000 + i)] if i < 90 else None},
        ]
        excludes = [{"permission_type": "delegated",
                     "client_application_ids": [apps[(i * 37) % len(apps)].app_id] if i < 90 else None}]
        if i >= 60 and i < 90:  # no tenant restriction: keep the Graph set narrow (one permission, verified)
            includes[1]["client_applications_from_verified_publisher_only"] = True
        if i >= 90:  # no permission list: an API of our own, not Graph
            includes[1]["resource_application"] = apis[(i + 3) % 20]
        out.append({"policy_id": f"bench-policy-{i:03d}", "display_name": f"Bench policy {i:03d}",
                    "description": "Generated by bench/consent_seed.py", "includes": includes,
                    "excludes": excludes})
    out.append({"policy_id": "bench-policy-zz-mail-fabrikam", "display_name": "Mail.Read for Fabrikam's apps",
                "description": "Users may let apps published by Fabrikam read their mail.",
                "includes": [{"permission_type": "delegated", "resource_application": MICROSOFT_GRAPH,
                              "permissions": [scope_ids[NOT_ALLOWED]],
                              "client_application_tenant_ids": [fabrikam]}], "excludes": []})
    for p in out:
        for cs in (*p["includes"], *p["excludes"]):
            for k in [k for k, v in cs.items() if v is None]:
                del cs[k]
    return out


def _guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


# -------------------------------------------------------------------------------------------- pools --
@dataclass
class Tenant:
    id: str
    domain: str
    apps: list[App]  # the apps with a service principal here, by popularity (index = rank)
    users: list[str]
    holdings: Holdings


def draw_pools(main: Tenant, none: Tenant, admins: list[int], per_class: int,
               rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Queries with a known answer, per class (see bench/consent_bench.py's CLASSES). ``admins``: the Global
    Administrators; they and as many Application Administrators after them appear in the admin class only."""

    def q(tenant: Tenant, r: int, u: int, scope: str, step: str, reason: str, admin_flow: bool = False
          ) -> dict[str, Any]:
        app = tenant.apps[r]
        return {"tenant_id": tenant.id, "client_app_id": app.app_id, "user_id": tenant.users[u],
                "upn": f"member{u:06d}@{tenant.domain}", "scope": scope, "admin_flow": admin_flow,
                "redirect_uri": app.redirect_uri, "expect_step": step, "expect_reason": reason,
                "client_rank": r, "client_grants": tenant.holdings.principal[r] + tenant.holdings.all_principals[r]}

    cums: dict[tuple[str, str], list[int]] = {}

    def cumulative(tenant: Tenant, kind: str) -> list[int]:
        if (tenant.id, kind) not in cums:
            h = tenant.holdings
            cums[tenant.id, kind] = list(_accumulate(h.principal if kind == "grants" else
                                                     [p + 1 for p in h.principal]))
        return cums[tenant.id, kind]

    def principal_grant(tenant: Tenant, ok: Any = lambda app: True) -> tuple[int, int]:
        """A Principal grant drawn uniformly among all of them (so client r with probability ∝ its grants)."""
        h = tenant.holdings
        cum = cumulative(tenant, "grants")
        for _ in range(100_000):
            g = rng.randrange(cum[-1])
            r = bisect.bisect_right(cum, g)
            k = g - (cum[r - 1] if r else 0)
            u = h.user(r, k)
            if ok(tenant.apps[r]) and (tenant is not main or u >= len(admins) * 2):  # not the administrators
                return r, u
        raise SystemExit("no Principal grant fits")

    def no_grant(tenant: Tenant, ok: Any = lambda app: True, users: Sequence[int] | None = None) -> tuple[int, int]:
        """A (client, user) pair with no grant at all, the client drawn like a sign-in would be (∝ grants + 1)."""
        h = tenant.holdings
        cum = cumulative(tenant, "sign-ins")
        for _ in range(100_000):
            r = bisect.bisect_right(cum, rng.randrange(cum[-1]))
            u = rng.choice(users) if users else rng.randrange(len(admins) * 2 if tenant is main else 0, h.n_users)
            if not h.all_principals[r] and not h.has_principal(r, u) and ok(tenant.apps[r]):
                return r, u
        raise SystemExit("no ungranted pair fits")

    wide = {tenant.id: [r for r in range(len(tenant.apps)) if tenant.holdings.all_principals[r]]
            for tenant in (main, none)}

    def tenant_wide(tenant: Tenant) -> tuple[int, int]:
        return rng.choice(wide[tenant.id]), rng.randrange(len(admins) * 2 if tenant is main else 0,
                                                          tenant.holdings.n_users)

    def old(app: App) -> bool:
        return not app.recent

    def contoso(app: App) -> bool:
        return not app.recent and app.publisher == main.apps[0].publisher

    def fabrikam(app: App) -> bool:
        return not app.recent and app.publisher != main.apps[0].publisher

    def risky(app: App) -> bool:
        return app.recent

    pools: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "issue-user", "issue-tenantwide", "issue-default", "consent-extra", "consent-new", "consent-default",
        "approval-policy", "consent-custom", "admin-consent", "risky", "none-issue", "none-approval")}
    for _ in range(per_class):
        r, u = principal_grant(main)
        pools["issue-user"].append(q(main, r, u, main.apps[r].scope, "issue", "granted"))
        r, u = tenant_wide(main)
        pools["issue-tenantwide"].append(q(main, r, u, BASE_SCOPE, "issue", "granted"))
        r, u = principal_grant(main)
        pools["issue-default"].append(q(main, r, u, DEFAULT_SCOPE, "issue", "granted"))
        r, u = principal_grant(main, old)
        pools["consent-extra"].append(q(main, r, u, f"{main.apps[r].scope} {NOT_GRANTED_CONSENTABLE}", "consent",
                                        "scopes_missing"))
        r, u = no_grant(main, old)
        pools["consent-new"].append(q(main, r, u, BASE_SCOPE, "consent", "scopes_missing"))
        r, u = no_grant(main, old)
        pools["consent-default"].append(q(main, r, u, DEFAULT_SCOPE, "consent", "scopes_missing"))
        r, u = principal_grant(main, contoso)
        pools["approval-policy"].append(q(main, r, u, f"{main.apps[r].scope} {NOT_ALLOWED}", "need_admin_approval",
                                          "permission_not_allowed"))
        r, u = principal_grant(main, fabrikam)
        pools["consent-custom"].append(q(main, r, u, f"{main.apps[r].scope} {NOT_ALLOWED}", "consent",
                                         "scopes_missing"))
        r, u = no_grant(main, old, users=admins)
        pools["admin-consent"].append(q(main, r, u, f"{BASE_SCOPE} {NOT_ALLOWED}", "consent", "scopes_missing"))
        r, u = no_grant(main, risky)
        pools["risky"].append(q(main, r, u, f"{BASE_SCOPE} Contacts.Read", "need_admin_approval", "risky_app"))
        r, u = principal_grant(none)
        pools["none-issue"].append(q(none, r, u, none.apps[r].scope, "issue", "granted"))
        r, u = no_grant(none, old)
        pools["none-approval"].append(q(none, r, u, BASE_SCOPE, "need_admin_approval", "user_consent_not_allowed"))
    return pools


def draw_round_trip(main: Tenant, n_users: int, per_user: int, skip_users: int,
                    rng: random.Random) -> dict[str, Any]:
    """Users to sign in once for the /authorize round trip, each with ``per_user`` requests answered with a code
    (its own Principal grants, drawn among all it holds, topped up with tenant-wide clients) and ``per_user``
    answered with the consent page (clients it holds no grant for, drawn ∝ popularity, and one request of
    Mail.Read from a client it consented to, which needs admin approval)."""
    h = main.holdings
    cum = list(_accumulate(h.principal))
    wide = [r for r in range(len(main.apps)) if h.all_principals[r]]
    chosen: list[int] = []
    for _ in range(n_users * 100):
        if len(chosen) >= n_users or not cum or not cum[-1]:
            break
        r = bisect.bisect_right(cum, rng.randrange(cum[-1]))
        u = h.user(r, rng.randrange(h.principal[r]))
        if u >= skip_users and u not in chosen:
            chosen.append(u)
    users, queries = [], []
    for u in chosen:
        index = len(users)
        users.append({"upn": f"member{u:06d}@{main.domain}", "user_id": main.users[u]})
        own = [r for r in range(len(main.apps)) if h.principal[r] and h.has_principal(r, u)]
        granted = rng.sample(own, min(per_user, len(own)))
        granted += rng.sample(wide, min(len(wide), per_user - len(granted)))
        for r in granted:
            queries.append({"user": index, "client_app_id": main.apps[r].app_id, "scope": main.apps[r].scope,
                            "redirect_uri": main.apps[r].redirect_uri, "expect": "code", "class": "issue",
                            "client_grants": h.principal[r] + h.all_principals[r]})
        missing: list[int] = []
        for _ in range(per_user * 1000):
            if len(missing) >= per_user - 1:
                break
            r = bisect.bisect_right(cum, rng.randrange(cum[-1])) if rng.random() < 0.7 else rng.randrange(len(cum))
            if (not h.all_principals[r] and not h.has_principal(r, u) and not main.apps[r].recent
                    and r not in missing):
                missing.append(r)
        for r in missing:
            queries.append({"user": index, "client_app_id": main.apps[r].app_id, "scope": BASE_SCOPE,
                            "redirect_uri": main.apps[r].redirect_uri, "expect": "consent", "class": "consent",
                            "client_grants": h.principal[r] + h.all_principals[r]})
        contoso = [r for r in own if not main.apps[r].recent and main.apps[r].publisher == main.apps[0].publisher]
        if contoso:
            r = rng.choice(contoso)
            queries.append({"user": index, "client_app_id": main.apps[r].app_id,
                            "scope": f"{main.apps[r].scope} {NOT_ALLOWED}", "redirect_uri": main.apps[r].redirect_uri,
                            "expect": "consent", "class": "approval",
                            "client_grants": h.principal[r] + h.all_principals[r]})
    return {"tenant_id": main.id, "users": users, "queries": queries}


def _accumulate(values: Sequence[int]) -> Iterator[int]:
    total = 0
    for v in values:
        total += v
        yield total


# -------------------------------------------------------------------------------------------- seed --
def seed_tenant_bulk(conn: Connection, tenant: Tenant, sp_ids: list[str], graph_sp: str, password_hash: str,
                     now: datetime, timings: dict[str, float], prefix: str) -> None:
    mark = time.monotonic()
    with conn.begin():
        bulk_insert(conn, t.users, user_rows(tenant.id, tenant.domain, tenant.users, password_hash, now))
    timings[f"{prefix}users_s"] = round(time.monotonic() - mark, 2)
    mark = time.monotonic()
    with conn.begin():
        bulk_insert(conn, t.service_principals, sp_rows(tenant.id, tenant.apps, sp_ids, now))
        bulk_insert(conn, t.service_principal_names, name_rows(tenant.id, tenant.apps, sp_ids))
    timings[f"{prefix}service_principals_s"] = round(time.monotonic() - mark, 2)
    mark = time.monotonic()
    n = insert_in_batches(conn, t.oauth2_permission_grants,
                          grant_rows(tenant.id, tenant.holdings, tenant.apps, sp_ids, graph_sp, tenant.users, now),
                          f"{prefix}grants".replace("_", " tenant: "))
    timings[f"{prefix}grants_s"] = round(time.monotonic() - mark, 2)
    log(f"{prefix.replace('_', ' tenant: ') or 'main tenant: '}{n} grants in {timings[f'{prefix}grants_s']} s")
    mark = time.monotonic()
    n = insert_in_batches(conn, t.app_role_assignments,
                          assignment_rows(tenant.id, tenant.holdings, tenant.apps, sp_ids, tenant.users, now),
                          f"{prefix}app role assignments".replace("_", " tenant: "))
    timings[f"{prefix}assignments_s"] = round(time.monotonic() - mark, 2)
    label = prefix.replace("_", " tenant: ") or "main tenant: "
    log(f"{label}{n} app role assignments in {timings[f'{prefix}assignments_s']} s")


def graph_sp_of(conn: Connection, tenant_id: str) -> str:
    sp = conn.execute(select(t.service_principals.c.id).where(t.service_principals.c.tenant_id == tenant_id,
                                                              t.service_principals.c.app_id == MICROSOFT_GRAPH))
    return str(sp.scalar_one())


def seed(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.monotonic()
    rng = random.Random(args.random_seed)
    rt = runtime.build(settings)
    try:
        runtime.prepare(rt)
        ctx = rt.ctx
        mark = time.monotonic()
        tag = secrets.token_hex(4)
        contoso = directory.create_tenant(ctx, "Contoso apps", [f"contoso-{tag}.example"], ACTOR)
        fabrikam = directory.create_tenant(ctx, "Fabrikam apps", [f"fabrikam-{tag}.example"], ACTOR)
        main_t = directory.create_tenant(ctx, "Consent bench", [f"consent-bench-{tag}.example"], ACTOR)
        none_t = directory.create_tenant(ctx, "Consent bench (no user consent)", [f"consent-none-{tag}.example"], ACTOR)
        password = f"Bench-{secrets.token_urlsafe(12)}-1!"
        password_hash = ctx.passwords.hash(password)
        timings["services_s"] = round(time.monotonic() - mark, 2)

        now = datetime.now(UTC)
        scope_ids = graph_scope_ids()
        apps = make_apps(args.service_principals, contoso.id, fabrikam.id)
        n_none_sps = max(1, round(args.service_principals * args.none_share))
        n_none_users = max(1, round(args.users * args.none_share))
        main = Tenant(main_t.id, main_t.default_domain, apps, guids(args.users),
                      Holdings.build(len(apps), args.grants, args.users, rng))
        none = Tenant(none_t.id, none_t.default_domain, apps[:n_none_sps], guids(n_none_users),
                      Holdings.build(n_none_sps, max(1, round(args.grants * args.none_share)), n_none_users, rng))
        with rt.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                _tune_sqlite(conn)
            conn.rollback()
            mark = time.monotonic()
            with conn.begin():
                bulk_insert(conn, t.applications, application_rows(apps, now, scope_ids))
                bulk_insert(conn, t.password_credentials, secret_rows(apps, now))
            timings["applications_s"] = round(time.monotonic() - mark, 2)
            log(f"{len(apps)} applications in {timings['applications_s']} s")
            graph_main, graph_none = graph_sp_of(conn, main.id), graph_sp_of(conn, none.id)
            conn.rollback()
            seed_tenant_bulk(conn, main, guids(len(main.apps)), graph_main, password_hash, now, timings, "")
            seed_tenant_bulk(conn, none, guids(len(none.apps)), graph_none, password_hash, now, timings, "none_")

        mark = time.monotonic()
        for spec in custom_policies(args.policies, fabrikam.id, scope_ids, apps, rng):
            grant_policies.create_policy(ctx, main.id, ACTOR, **spec)
        custom_ids = [p.id for p in grant_policies.list_policies(ctx, main.id) if not p.is_builtin]
        assigned = [USER_DEFAULT_RECOMMENDED, USER_DEFAULT_ALLOW_CONSENT_APPS,
                    *[pid for pid in custom_ids if pid != "bench-policy-zz-mail-fabrikam"][:args.assigned - 1],
                    "bench-policy-zz-mail-fabrikam"]
        settings_main = policies.set_user_consent(ctx, main.id, "custom", ACTOR, assigned)
        policies.set_user_consent(ctx, none.id, "none", ACTOR)
        graph_sp = graph_main
        for value in ("openid", "profile", "email", "offline_access", "User.Read"):
            classifications.classify_permission(ctx, main.id, graph_sp, ACTOR, permission_id=None,
                                                permission_name=value, classification="low")
        admin_users = list(range(0, ADMINS * 2))
        for i in admin_users:
            role = GLOBAL_ADMINISTRATOR.id if i < ADMINS else APPLICATION_ADMINISTRATOR.id
            directory.assign_role(ctx, main.id, f"member{i:06d}@{main.domain}", role, ACTOR)
        timings["policies_s"] = round(time.monotonic() - mark, 2)
        log(f"{len(custom_ids)} custom policies, {len(settings_main.self_policies)} assigned for self-consent, "
            f"in {timings['policies_s']} s")

        with rt.engine.connect() as conn:
            with conn.begin():  # the bulk rows bypassed the audited writes that move the version on
                conn.execute(update(t.directory_version).where(t.directory_version.c.id == 1)
                             .values(version=t.directory_version.c.version + 1))
            mark = time.monotonic()
            raw: Any = conn.connection.dbapi_connection
            if conn.dialect.name == "postgresql":
                raw.autocommit = True
                for table in (t.users, t.applications, t.password_credentials, t.service_principals,
                              t.service_principal_names, t.oauth2_permission_grants, t.app_role_assignments):
                    raw.execute(f"VACUUM (ANALYZE) {table.name}")
                raw.autocommit = False
                timings["vacuum_analyze_s"] = round(time.monotonic() - mark, 2)
            else:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                timings["checkpoint_s"] = round(time.monotonic() - mark, 2)
            counts = {name: {tenant: conn.execute(text(f"SELECT count(*) FROM {name} WHERE tenant_id = :t"),
                                                  {"t": tid}).scalar()
                             for tenant, tid in (("main", main.id), ("none", none.id))}
                      for name in ("service_principals", "oauth2_permission_grants", "app_role_assignments", "users")}
            conn.rollback()
        pools = draw_pools(main, none, list(range(ADMINS)), args.pool, rng)
        mark = time.monotonic()
        round_trip = draw_round_trip(main, args.sessions, args.per_session, ADMINS * 2, rng)
        timings["draw_s"] = round(time.monotonic() - mark, 2)
    finally:
        rt.close()
    timings["total_s"] = round(time.monotonic() - started, 2)
    h = main.holdings
    top = sorted(range(len(apps)), key=lambda r: -(h.principal[r] + h.all_principals[r]))[:3]
    return {
        "backend": "postgresql" if settings.db else "sqlite",
        "tenant_id": main.id, "domain": main.domain, "none_tenant_id": none.id, "none_domain": none.domain,
        "password": password,
        "requested": {"service_principals": args.service_principals, "grants": args.grants, "users": args.users,
                      "policies": args.policies, "assigned": args.assigned, "none_share": args.none_share},
        "counts": counts,
        "custom_policies": len(custom_ids), "self_policies": [p.id for p in settings_main.self_policies],
        "largest_clients": [{"rank": r, "grants": h.principal[r] + h.all_principals[r]} for r in top],
        "clients_with_grants": sum(1 for r in range(len(apps)) if h.principal[r] or h.all_principals[r]),
        "timings": timings, "pools": pools, "round_trip": round_trip,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in the data directory)")
    parser.add_argument("--service-principals", type=int, default=100_000)
    parser.add_argument("--grants", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--policies", type=int, default=100, help="custom permission grant policies (<= 200)")
    parser.add_argument("--assigned", type=int, default=44,
                        help="custom policies assigned for self-consent (Graph allows 50 entries in all)")
    parser.add_argument("--none-share", type=float, default=0.1,
                        help="size of the 'none' tenant, as a share of the main one")
    parser.add_argument("--pool", type=int, default=500, help="queries drawn per class")
    parser.add_argument("--sessions", type=int, default=200, help="users signed in for the round trip")
    parser.add_argument("--per-session", type=int, default=8,
                        help="requests per signed-in user answered with a code, and as many with the consent page")
    parser.add_argument("--random-seed", type=int, default=20261126)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=args.data_dir, db=args.db, http=True)
    result = seed(settings, args)
    log(f"seeded in {result['timings']['total_s']} s: {result['counts']} ({result['timings']})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

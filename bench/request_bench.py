"""Admin consent requests benchmark (``make bench``, phase ``requests``; issue 6, "Benchmark").

In-process, through the services, on a fresh database built with ``consentry.runtime`` (SQLite in
``--data-dir``, or PostgreSQL with ``--db``):

* ``submit``: the request policy on (one reviewer, notifyReviewers), ``--users`` users and one multi-tenant
  app made through the services (users without a password: ``submit_request`` needs none); then
  ``--threads`` threads submit ``consent_requests.submit_request(…, "User.Read Mail.Read", …)`` for the
  distinct users all at once (a barrier starts them together). Checked afterwards in the database: exactly
  one aggregate, one InProgress user request per user, one reviewer and one requester mail per request in the
  outbox, no duplicates; every exception is counted (SQLite "database is locked" included). Reports
  submissions/s over the wall time and p50/p99 of one submission.
* ``expiry``: ``--apps`` apps registered through the services, then ``--requests`` user requests in progress
  spread over them, inserted in bulk (``COPY`` on PostgreSQL, ``executemany`` on SQLite) into
  ``app_consent_requests`` / ``user_consent_requests`` / ``consent_request_reviewers`` with ``expires_at``
  in the past; then ``consent_requests.run_due(ctx, as_of)`` is timed (wall time, requests/s, peak RSS of
  the process from ``getrusage`` and its growth during the job). Checked: every request Expired, one
  "Expire request"-style audit record and two mails (requester + reviewer) per request, a second run_due
  expires nothing.

Prints one JSON line per measurement on stdout (``--json-file`` appends it too).

Usage::

    python bench/request_bench.py submit --data-dir D [--db postgresql://…/x] [--users 1000] [--threads 16]
    python bench/request_bench.py expiry --data-dir D [--db …] [--requests 100000] [--apps 100]
    python bench/request_bench.py report --results R.jsonl
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from consent_seed import bulk_insert

from consentry import runtime
from consentry.config import Settings
from consentry.domain.apps import Application
from consentry.domain.builtin import MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.consent_requests import DYNAMIC, EXPIRED, IN_PROGRESS, NOT_REVIEWED, user_reviewer
from consentry.domain.ids import new_guid
from consentry.services import apps, consent_requests, directory
from consentry.services.context import Actor
from consentry.store import tables as t

ACTOR = Actor("system", name="Consentry request benchmark")
SCOPE = "User.Read Mail.Read"


def log(message: str) -> None:
    print(f"request_bench: {message}", file=sys.stderr, flush=True)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def build(args: argparse.Namespace) -> runtime.Runtime:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    rt = runtime.build(Settings(data_dir=args.data_dir, db=args.db, http=True))
    runtime.prepare(rt)
    return rt


def setup_tenant(rt: runtime.Runtime, tag: str) -> tuple[str, str, str]:
    """A tenant, its administrator (the reviewer) and the request policy on; (tenant id, domain, admin id)."""
    domain = f"requests-{tag}.example"
    tenant = directory.create_tenant(rt.ctx, f"Request bench {tag}", [domain], ACTOR)
    admin = directory.create_user(rt.ctx, tenant.id, f"admin@{domain}", "Reviewer", None, ACTOR,
                                  mail=f"admin@{domain}")
    consent_requests.update_request_policy(rt.ctx, tenant.id, ACTOR, is_enabled=True, notify_reviewers=True,
                                           reviewers=(user_reviewer(admin.id),))
    return tenant.id, domain, admin.id


def register_app(rt: runtime.Runtime, tenant_id: str, name: str) -> str:
    graph = find_builtin_application(MICROSOFT_GRAPH)
    assert graph is not None
    wanted = [s.id for s in graph.scopes if s.value in ("User.Read", "Mail.Read")]
    app = apps.register_application(rt.ctx, tenant_id, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant_id, display_name=name,
        sign_in_audience="AzureADMultipleOrgs",
        required_resource_access=(apps.required_resource_access_for(MICROSOFT_GRAPH, [(i, "Scope") for i in wanted]),)),
        ACTOR)
    return app.app_id


# ---------------------------------------------------------------------------------------------- submit --
def cmd_submit(args: argparse.Namespace) -> dict[str, Any]:
    rt = build(args)
    try:
        tag = new_guid()[:8]
        tenant_id, domain, _admin = setup_tenant(rt, tag)
        app_id = register_app(rt, tenant_id, f"Requested app {tag}")
        mark = time.monotonic()
        users = [directory.create_user(rt.ctx, tenant_id, f"u{i:05d}@{domain}", f"User {i:05d}", None, ACTOR,
                                       mail=f"u{i:05d}@{domain}").id for i in range(args.users)]
        log(f"created {len(users)} users in {time.monotonic() - mark:.1f} s")
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        returned: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(args.threads + 1)
        chunks = [users[i::args.threads] for i in range(args.threads)]

        def worker(mine: list[str]) -> None:
            barrier.wait()
            for user_id in mine:
                start = time.perf_counter()
                try:
                    req = consent_requests.submit_request(rt.ctx, tenant_id, app_id, user_id, SCOPE,
                                                          "I need my mail in this app.", ACTOR)
                except Exception as exc:  # counted and reported
                    with lock:
                        errors[f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"] += 1
                    if args.verbose:
                        traceback.print_exc()
                    continue
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    returned.append(req.id)

        threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
        for th in threads:
            th.start()
        barrier.wait()
        start = time.perf_counter()
        for th in threads:
            th.join()
        wall = time.perf_counter() - start

        with rt.engine.connect() as conn:
            aggregates = conn.execute(select(func.count()).select_from(t.app_consent_requests).where(
                t.app_consent_requests.c.tenant_id == tenant_id)).scalar_one()
            ucr = t.user_consent_requests
            in_progress = conn.execute(select(func.count()).select_from(ucr).where(
                ucr.c.tenant_id == tenant_id, ucr.c.status == IN_PROGRESS)).scalar_one()
            distinct_users = conn.execute(select(func.count(func.distinct(ucr.c.user_id))).where(
                ucr.c.tenant_id == tenant_id)).scalar_one()
            all_requests = conn.execute(select(func.count()).select_from(ucr).where(
                ucr.c.tenant_id == tenant_id)).scalar_one()
            recipients = Counter(r for (r,) in conn.execute(select(t.outbox.c.recipient).where(
                t.outbox.c.tenant_id == tenant_id)))
            pending = conn.execute(select(t.app_consent_requests.c.pending_scopes).where(
                t.app_consent_requests.c.tenant_id == tenant_id)).scalars().all()
        reviewer_mails = recipients.get(f"admin@{domain}", 0)
        requester_mails = sum(v for k, v in recipients.items() if k != f"admin@{domain}")
        dup_requesters = sum(1 for k, v in recipients.items() if k != f"admin@{domain}" and v != 1)
        ok = (aggregates == 1 and in_progress == args.users and all_requests == args.users
              and distinct_users == args.users and reviewer_mails == args.users and requester_mails == args.users
              and dup_requesters == 0 and not errors and len(set(returned)) == args.users)
        result = {
            "kind": "submit", "label": args.label, "backend": "postgresql" if args.db else "sqlite",
            "users": args.users, "threads": args.threads, "wall_s": round(wall, 3),
            "per_s": round(len(latencies) / wall, 1), "p50_ms": round(pct(latencies, 50) * 1000, 2),
            "p99_ms": round(pct(latencies, 99) * 1000, 2), "max_ms": round(max(latencies, default=0) * 1000, 2),
            "ok_submissions": len(latencies), "errors": sum(errors.values()), "error_kinds": dict(errors),
            "aggregates": aggregates, "in_progress": in_progress, "user_requests": all_requests,
            "distinct_users": distinct_users, "reviewer_mails": reviewer_mails, "requester_mails": requester_mails,
            "duplicate_requester_mails": dup_requesters, "pending_scopes": pending[0] if pending else None,
            "verified": ok,
        }
        return result
    finally:
        rt.close()


# ---------------------------------------------------------------------------------------------- expiry --
def cmd_expiry(args: argparse.Namespace) -> dict[str, Any]:
    rt = build(args)
    try:
        tag = new_guid()[:8]
        tenant_id, domain, admin_id = setup_tenant(rt, tag)
        mark = time.monotonic()
        app_ids = [register_app(rt, tenant_id, f"Expiry app {tag} {i:03d}") for i in range(args.apps)]
        log(f"registered {len(app_ids)} apps in {time.monotonic() - mark:.1f} s")
        now = datetime.now(UTC)
        created = now - timedelta(days=40)
        expires = now - timedelta(days=10)
        aggregates = [{"id": new_guid(), "tenant_id": tenant_id, "app_id": a.lower(),
                       "app_display_name": f"Expiry app {tag} {i:03d}", "consent_type": DYNAMIC,
                       "pending_scopes": ["User.Read", "Mail.Read"], "created_at": created}
                      for i, a in enumerate(app_ids)]
        ids = [new_guid() for _ in range(args.requests)]

        def user_rows() -> Iterator[dict[str, Any]]:
            for i, rid in enumerate(ids):
                agg = aggregates[i % len(aggregates)]
                n = i // len(aggregates)
                yield {"id": rid, "tenant_id": tenant_id, "app_request_id": agg["id"], "user_id": new_guid(),
                       "user_display_name": f"Requester {i}", "user_principal_name": f"r{i:06d}@{domain}",
                       "user_mail": f"r{i:06d}@{domain}", "reason": f"Needed ({n}).",
                       "scopes": ["User.Read", "Mail.Read"], "status": IN_PROGRESS, "created_at": created,
                       "expires_at": expires, "completed_at": None, "outcome": None, "review_result": NOT_REVIEWED,
                       "reviewed_by_id": None, "reviewed_by_name": None, "reviewed_by_upn": None,
                       "reviewed_at": None, "review_justification": None, "first_reminder_at": None,
                       "last_reminder_at": None}

        def reviewer_rows() -> Iterator[dict[str, Any]]:
            for rid in ids:
                yield {"user_request_id": rid, "reviewer_id": admin_id}

        mark = time.monotonic()
        with rt.engine.connect() as conn:
            with conn.begin():
                bulk_insert(conn, t.app_consent_requests, iter(aggregates))
                bulk_insert(conn, t.user_consent_requests, user_rows())
                bulk_insert(conn, t.consent_request_reviewers, reviewer_rows())
            if conn.dialect.name == "postgresql":
                conn.commit()
                raw: Any = conn.connection.dbapi_connection
                raw.autocommit = True
                raw.execute("VACUUM (ANALYZE) user_consent_requests")
                raw.execute("VACUUM (ANALYZE) consent_request_reviewers")
                raw.execute("VACUUM (ANALYZE) app_consent_requests")
                raw.autocommit = False
        seed_s = time.monotonic() - mark
        log(f"inserted {args.requests} requests over {args.apps} apps in {seed_s:.1f} s")
        with rt.engine.connect() as conn:
            audit_before = conn.execute(select(func.count()).select_from(t.audit_events)).scalar_one()
            outbox_before = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()

        rss_before = current_rss_mib()
        sampled = [rss_before]
        done = threading.Event()

        def sample() -> None:  # VmRSS every 0.1 s while the job runs (ru_maxrss also counts the seeding)
            while not done.wait(0.1):
                sampled.append(current_rss_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu0 = time.process_time()
        start = time.perf_counter()
        report = consent_requests.run_due(rt.ctx, now)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        done.set()
        sampler.join()
        sampled.append(current_rss_mib())
        peak_after = max(sampled)
        again = consent_requests.run_due(rt.ctx, now)

        ucr = t.user_consent_requests
        with rt.engine.connect() as conn:
            statuses = dict(conn.execute(select(ucr.c.status, func.count()).where(
                ucr.c.tenant_id == tenant_id).group_by(ucr.c.status)).all())
            audit_new = conn.execute(select(func.count()).select_from(t.audit_events)).scalar_one() - audit_before
            mails = conn.execute(select(t.outbox.c.recipient)).scalars().all()
            outbox_new = len(mails) - outbox_before
            dup_keys = conn.execute(select(func.count()).select_from(
                select(t.outbox.c.event_key).group_by(t.outbox.c.event_key).having(func.count() > 1).subquery()
            )).scalar_one()
        reviewer_mails = sum(1 for r in mails if r == f"admin@{domain}")
        expired_n = statuses.get(EXPIRED, 0)
        ok = (report.expired == args.requests and again.expired == 0 and expired_n == args.requests
              and statuses.get(IN_PROGRESS, 0) == 0 and audit_new >= args.requests
              and outbox_new == 2 * args.requests and reviewer_mails == args.requests and dup_keys == 0)
        return {
            "kind": "expiry", "label": args.label, "backend": "postgresql" if args.db else "sqlite",
            "requests": args.requests, "apps": args.apps, "seed_s": round(seed_s, 1), "wall_s": round(wall, 2),
            "per_s": round(args.requests / wall, 1), "cpu_s": round(cpu, 2),
            "rss_before_mib": round(rss_before, 1), "peak_rss_mib": round(peak_after, 1),
            "peak_growth_mib": round(peak_after - rss_before, 1), "process_max_rss_mib": round(rss_mib(), 1),
            "expired_reported": report.expired, "expired_in_db": expired_n, "second_run_expired": again.expired,
            "statuses": statuses, "audit_records": audit_new, "mails": outbox_new, "reviewer_mails": reviewer_mails,
            "duplicate_event_keys": dup_keys, "batch_size": consent_requests.run_due.__kwdefaults__["batch_size"],
            "verified": ok,
        }
    finally:
        rt.close()


# ---------------------------------------------------------------------------------------------- report --
def cmd_report(args: argparse.Namespace) -> int:
    rows = [json.loads(line) for f in args.results for line in Path(f).read_text().splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["kind"], r["backend"], r.get("threads") or r.get("requests"))
        groups.setdefault(key, []).append(r)
    print("| measurement | backend | size | runs | per s (median) | p50 ms | p99 ms | wall s | peak RSS MiB | errors "
          "| verified |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    rc = 0
    for (kind, backend, size), rs in sorted(groups.items()):
        def med(k: str, rs: list[dict] = rs) -> float:
            return statistics.median(r[k] for r in rs)
        if kind == "submit":
            print(f"| {rs[0]['users']} users submit concurrently | {backend} | {size} threads | {len(rs)} | "
                  f"{med('per_s'):.0f} ({', '.join(str(r['per_s']) for r in rs)}) | {med('p50_ms'):.1f} | "
                  f"{med('p99_ms'):.1f} | {med('wall_s'):.2f} | - | {sum(r['errors'] for r in rs)} | "
                  f"{all(r['verified'] for r in rs)} |")
        else:
            print(f"| expiry job (run_due) | {backend} | {size} requests | {len(rs)} | "
                  f"{med('per_s'):.0f} ({', '.join(str(r['per_s']) for r in rs)}) | - | - | {med('wall_s'):.1f} | "
                  f"{med('peak_rss_mib'):.0f} (+{med('peak_growth_mib'):.0f}) | 0 | {all(r['verified'] for r in rs)} |")
        if not all(r["verified"] for r in rs):
            rc = 1
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("submit", "expiry"):
        p = sub.add_parser(name)
        p.add_argument("--data-dir", required=True, type=Path)
        p.add_argument("--db", default=None)
        p.add_argument("--label", default=name)
        p.add_argument("--json-file", type=Path)
        p.add_argument("--verbose", action="store_true")
        if name == "submit":
            p.add_argument("--users", type=int, default=1000)
            p.add_argument("--threads", type=int, default=16)
        else:
            p.add_argument("--requests", type=int, default=100_000)
            p.add_argument("--apps", type=int, default=100)
    p = sub.add_parser("report")
    p.add_argument("--results", nargs="+", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "report":
        return cmd_report(args)
    result = cmd_submit(args) if args.cmd == "submit" else cmd_expiry(args)
    line = json.dumps(result)
    print(line, flush=True)
    if args.json_file:
        with args.json_file.open("a") as f:
            f.write(line + "\n")
    return 0 if result["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())

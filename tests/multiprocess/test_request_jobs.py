"""The request jobs with several processes on one PostgreSQL (issue 6, "Jobs"): two ``consentry jobs run-once
--as-of …`` processes started at the same moment over the same 30 overdue requests expire each request once
(one "Request expired" audit record each, each request's expiry counted by exactly one process) and send each
e-mail once to one shared aiosmtpd (counted by Message-ID), with nothing left in the outbox."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.support.postgres import postgres_database, postgres_server_url_or_skip
from tests.support.smtp import SmtpSink

from consentry import runtime
from consentry.config import Settings
from consentry.domain.apps import Application
from consentry.domain.builtin import MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.consent_requests import EXPIRED, user_reviewer
from consentry.domain.ids import new_guid
from consentry.services import apps, consent_requests, directory, outbox
from consentry.services.context import Actor
from consentry.services.demo import APPLE_TENANT_ID, CONTOSO_TENANT_ID, DEMO_PASSWORD, seed_demo

pytestmark = pytest.mark.postgres

CONTOSO = CONTOSO_TENANT_ID
ACTOR = Actor("system", name="request jobs tests")
KEK = "request-jobs-test-key-encryption-key"
APPS, USERS_PER_APP = 3, 10


def register_app(rt: runtime.Runtime, name: str) -> str:
    graph = find_builtin_application(MICROSOFT_GRAPH)
    assert graph is not None
    read = next(s.id for s in graph.scopes if s.value == "User.Read")
    app = apps.register_application(rt.ctx, APPLE_TENANT_ID, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=APPLE_TENANT_ID, display_name=name,
        sign_in_audience="AzureADMultipleOrgs",
        required_resource_access=(apps.required_resource_access_for(MICROSOFT_GRAPH, [(read, "Scope")]),)), ACTOR)
    return app.app_id


def seed(rt: runtime.Runtime) -> list[str]:
    """The demo, the workflow on (the administrator reviews, 1-day requests), and 30 requests in progress over
    three apps; their ids."""
    seed_demo(rt.ctx)
    admin = directory.find_user(rt.ctx, CONTOSO, "admin@contoso.example")
    consent_requests.update_request_policy(rt.ctx, CONTOSO, ACTOR, is_enabled=True, notify_reviewers=True,
                                           reminders_enabled=True, request_duration_in_days=1,
                                           reviewers=[user_reviewer(admin.id)])
    ids = []
    for a in range(APPS):
        app_id = register_app(rt, f"Jobs App {a}")
        for u in range(USERS_PER_APP):
            upn = f"jobs{a}-{u}-{uuid.uuid4().hex[:4]}@contoso.example"
            user = directory.create_user(rt.ctx, CONTOSO, upn, f"Jobs User {a}-{u}", DEMO_PASSWORD, ACTOR)
            ids.append(consent_requests.submit_request(rt.ctx, CONTOSO, app_id, user.id, "User.Read",
                                                       "Needed for the quarter.", ACTOR).id)
    return ids


def run_once_process(data_dir: Path, db_url: str, smtp_url: str, as_of: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONSENTRY_KEY_ENCRYPTION_KEY": KEK, "CONSENTRY_SMTP_URL": smtp_url,
           "CONSENTRY_SMTP_TIMEOUT": "5", "CONSENTRY_MAIL_LEASE": "300", "CONSENTRY_MAIL_BATCH": "7"}
    consentry = Path(sys.executable).parent / "consentry"
    return subprocess.Popen([str(consentry), "jobs", "run-once", "--db", db_url, "--data-dir", str(data_dir),
                             "--as-of", as_of, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_run_once_processes_expire_each_request_once_and_send_each_mail_once(
        tmp_path: Path) -> None:
    server_url = postgres_server_url_or_skip()
    with postgres_database(server_url) as db_url, SmtpSink(delay=0.01) as sink:
        rt = runtime.build(Settings(data_dir=tmp_path, db=db_url, key_encryption_key=KEK))
        try:
            runtime.prepare(rt)
            request_ids = seed(rt)
            as_of = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
            procs = [run_once_process(tmp_path, db_url, sink.url, as_of) for _ in range(2)]
            reports: list[dict[str, Any]] = []
            for proc in procs:
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err.decode()[-2000:]
                reports.append(json.loads(out))

            # Each request expired once, counted by exactly one of the processes, with one audit record.
            assert sum(r["requests"]["expired"] for r in reports) == len(request_ids), reports
            assert all(r["requests"]["firstReminders"] == r["requests"]["lastReminders"] == 0 for r in reports)
            with rt.ctx.uow.read() as tx:
                events = tx.tenant(CONTOSO).audit.list_events(limit=100_000)
            expired = Counter(t["id"] for e in events if e["activity_display_name"] == "Request expired"
                              for t in e["target_resources"] if t["id"] in request_ids)
            assert expired == dict.fromkeys(request_ids, 1), expired
            statuses = set()
            with rt.ctx.uow.read() as tx:
                for request_id in request_ids:
                    found = tx.tenant(CONTOSO).requests.find_user_request(request_id, with_reviewers=False)
                    assert found is not None
                    statuses.add(found.status)
            assert statuses == {EXPIRED}

            # Each e-mail arrived once: per request, the confirmation and review request (on submission), and
            # the requester's and the reviewer's expiry notices; nothing is left to send.
            messages, _ = outbox.page_outbox(rt.ctx, CONTOSO, limit=200)
            assert len(messages) == 4 * len(request_ids)
            assert all(m.sent_at is not None for m in messages), [m for m in messages if m.sent_at is None][:3]
            arrived = sink.count_by_message_id()
            assert set(arrived) == {m.message_id for m in messages}
            assert set(arrived.values()) == {1}, [k for k, v in arrived.items() if v > 1][:5]
            assert sum(r["mail"]["sent"] for r in reports) == len(messages), reports
        finally:
            rt.close()

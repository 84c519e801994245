"""Mail delivery from the outbox through real SMTP (aiosmtpd on loopback), on SQLite and PostgreSQL: what a
message looks like on arrival; SMTP down, then up (retried with backoff, nothing lost, each message once); a
sender that crashed after claiming (its lease lapses) or after sending (the documented at-least-once window);
several senders at once, as threads and as processes (each message once); STARTTLS, implicit TLS and AUTH.
Time is a ManualClock: nothing here waits for the wall clock."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import delete
from tests.support.postgres import postgres_database, postgres_server_url_or_skip
from tests.support.smtp import LocalCa, SmtpSink, free_port

from consentry import jobs, runtime
from consentry.config import Settings
from consentry.domain.clock import ManualClock
from consentry.domain.mail import OutgoingMail
from consentry.errors import ConsentryError
from consentry.mail.smtp import SmtpMailer
from consentry.runtime import Runtime
from consentry.services import directory
from consentry.services import outbox as outbox_service
from consentry.services.context import CLI
from consentry.services.outbox import (
    FAILED,
    PENDING,
    SENT,
    OutboxMessage,
    deliver_due,
    enqueue,
    get_outbox_message,
    page_outbox,
    retry_delay,
)
from consentry.store import migrate
from consentry.store.database import make_engine
from consentry.store.tables import outbox as outbox_table

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENDER = "Consentry <no-reply@consentry.example>"
MakeRuntime = Callable[..., Runtime]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the module; each test starts with an empty outbox."""
    with postgres_database(postgres_server_url_or_skip()) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'consentry.db'}"
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(outbox_table))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def make_runtime(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[MakeRuntime]:
    """Runtimes over the test's database, each with its own engine (as separate processes have)."""
    built: list[Runtime] = []

    def make(**settings: Any) -> Runtime:
        rt = runtime.build(Settings(db=database_url, data_dir=tmp_path / "data", **settings), clock)
        built.append(rt)
        return rt

    yield make
    for rt in built:
        rt.close()


@pytest.fixture
def rt(make_runtime: MakeRuntime) -> Runtime:
    built = make_runtime()
    runtime.prepare(built)
    return built


@pytest.fixture
def tenant_id(rt: Runtime) -> str:
    return directory.create_tenant(rt.ctx, "Contoso", [f"contoso-{uuid.uuid4().hex[:8]}.example"], CLI).id


def queue(rt: Runtime, tenant_id: str, count: int, *, name: str = "m", when: datetime = START,
          subject: str = "Review request {i}") -> list[OutboxMessage]:
    mails = [OutgoingMail(f"test/{name}/{i}", f"reviewer{i}@contoso.example", subject.format(i=i),
                          f"Text body {i}\nSecond line.", f"<p>HTML body <b>{i}</b></p>") for i in range(count)]
    with rt.ctx.uow.begin() as tx:
        assert enqueue(tx.tenant(tenant_id), mails, when) == count
    return outbox(rt, tenant_id)[-count:]


def outbox(rt: Runtime, tenant_id: str, status: str | None = None) -> list[OutboxMessage]:
    """The tenant's whole outbox, oldest first."""
    messages, cursor = page_outbox(rt.ctx, tenant_id, status=status, limit=200)
    assert cursor is None
    return sorted(messages, key=lambda m: (m.created_at, m.event_key))


def mailer_for(url: str, clock: ManualClock, **kw: Any) -> SmtpMailer:
    return SmtpMailer.from_url(url, SENDER, clock=clock, timeout=5, **kw)


def test_an_event_key_is_queued_once_within_a_batch_and_across_transactions(rt: Runtime, tenant_id: str) -> None:
    first = OutgoingMail("test/once/1", "a@contoso.example", "First", "text", "<p>html</p>")
    copy = OutgoingMail("test/once/1", "b@contoso.example", "Copy", "text", "<p>html</p>")
    other = OutgoingMail("test/once/2", "c@contoso.example", "Other", "text", "<p>html</p>")
    with rt.ctx.uow.begin() as tx:
        assert enqueue(tx.tenant(tenant_id), [first, copy, other], START) == 2
    with rt.ctx.uow.begin() as tx:
        assert enqueue(tx.tenant(tenant_id), [copy, other], START) == 0
        assert enqueue(tx.tenant(tenant_id), [], START) == 0
    assert [(m.event_key, m.subject) for m in outbox(rt, tenant_id)] == [("test/once/1", "First"),
                                                                          ("test/once/2", "Other")]


# --- what arrives --------------------------------------------------------------------------------

def test_a_delivered_message_has_text_and_html_parts_its_headers_and_its_message_id(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    [queued] = queue(rt, tenant_id, 1, subject="Überprüfung der Anfrage {i} – “Contoso Mail” ✓")
    with SmtpSink() as sink:
        report = deliver_due(rt.ctx, mailer_for(sink.url, clock), clock.now())
    assert (report.claimed, report.sent, report.failed) == (1, 1, 0)
    [received] = sink.received
    message = received.message
    assert received.mail_from == "no-reply@consentry.example"
    assert received.rcpt_tos == ["reviewer0@contoso.example"]
    assert message["Message-ID"] == queued.message_id
    assert message["Subject"] == "Überprüfung der Anfrage 0 – “Contoso Mail” ✓"
    assert message["From"] == SENDER
    assert message["To"] == "reviewer0@contoso.example"
    assert message["Date"] == format_datetime(START)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text, html = (part for part in message.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == "Text body 0\nSecond line."  # CRLF on the wire
    assert html.get_content_type() == "text/html"
    assert html.get_content().rstrip("\r\n") == "<p>HTML body <b>0</b></p>"
    [row] = outbox(rt, tenant_id)
    assert (row.status, row.sent_at, row.attempts, row.lease_until, row.last_error) == (SENT, START, 1, None, None)


def test_line_breaks_in_a_subject_cannot_add_headers(rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queue(rt, tenant_id, 1, subject="App {i}\r\nBcc: attacker@evil.example\r\n\r\nInjected body")
    with SmtpSink() as sink:
        assert deliver_due(rt.ctx, mailer_for(sink.url, clock), clock.now()).sent == 1
    [received] = sink.received
    assert received.rcpt_tos == ["reviewer0@contoso.example"]
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == "App 0 Bcc: attacker@evil.example Injected body"


def test_the_sender_of_the_url_overrides_the_setting(rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queue(rt, tenant_id, 1)
    with SmtpSink() as sink:
        mailer = mailer_for(f"{sink.url}?from=Contoso%20IT%20%3Cit%40contoso.example%3E", clock)
        deliver_due(rt.ctx, mailer, clock.now())
    [received] = sink.received
    assert received.mail_from == "it@contoso.example"
    assert received.message["From"] == "Contoso IT <it@contoso.example>"


# --- SMTP down, retries, backoff -----------------------------------------------------------------

def test_smtp_down_then_up_every_message_arrives_exactly_once(
        make_runtime: MakeRuntime, rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queued = queue(rt, tenant_id, 7)
    port = free_port()  # nothing listens there yet
    mailer = mailer_for(f"smtp://127.0.0.1:{port}", clock)

    down = jobs.deliver_mail(rt.ctx, mailer, clock.now())
    # Three failures in a row: the server is down; the rest are given back untried, due with the last retry.
    assert (down.claimed, down.sent, down.failed, down.postponed) == (7, 0, 3, 4)
    assert all("ConnectionRefusedError" in f.error for f in down.failures)
    rows = outbox(rt, tenant_id)
    assert sorted((r.status, r.attempts) for r in rows) == [(FAILED, 1)] * 3 + [(PENDING, 0)] * 4
    assert all(r.sent_at is None and r.lease_until is None and r.next_attempt_at == START + timedelta(seconds=30)
               for r in rows)
    assert deliver_due(rt.ctx, mailer, clock.now()).claimed == 0  # nothing is due before its backoff

    clock.advance(timedelta(seconds=30))
    again = jobs.deliver_mail(rt.ctx, mailer, clock.now())
    assert (again.sent, again.failed, again.postponed) == (0, 3, 4)

    clock.advance(timedelta(hours=1))
    with SmtpSink(port) as sink:
        up = jobs.deliver_mail(rt.ctx, mailer, clock.now())
        assert (up.claimed, up.sent, up.failed) == (7, 7, 0)
        clock.advance(timedelta(hours=2))
        assert jobs.deliver_mail(rt.ctx, mailer, clock.now()).claimed == 0
    assert sink.count_by_message_id() == {m.message_id: 1 for m in queued}
    assert {r.status for r in outbox(rt, tenant_id)} == {SENT}


def test_retries_back_off_exponentially_up_to_the_maximum(
        make_runtime: MakeRuntime, tenant_id: str, clock: ManualClock) -> None:
    rt = make_runtime(mail_retry_base=30, mail_retry_max=200)
    queue(rt, tenant_id, 1)
    mailer = mailer_for(f"smtp://127.0.0.1:{free_port()}", clock)
    waits = []
    for _ in range(6):
        report = deliver_due(rt.ctx, mailer, clock.now())
        assert report.failed == 1
        [row] = outbox(rt, tenant_id)
        waits.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
    assert waits == [30, 60, 120, 200, 200, 200]
    assert outbox(rt, tenant_id)[0].attempts == 6


def test_retry_delay_is_capped_for_any_number_of_attempts() -> None:
    assert [retry_delay(n, 30, 3600).total_seconds() for n in (0, 1, 2, 6, 7, 10_000)] == [
        30, 60, 120, 1920, 3600, 3600]


# --- crashes and leases --------------------------------------------------------------------------

def test_messages_claimed_by_a_sender_that_crashed_are_delivered_once_its_lease_lapses(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queued = queue(rt, tenant_id, 3)
    with rt.ctx.uow.begin() as tx:  # a sender claims them, then dies before sending anything
        assert len(tx.claim_due_mail(clock.now(), 10, timedelta(seconds=300))) == 3
    with SmtpSink() as sink:
        mailer = mailer_for(sink.url, clock)
        assert deliver_due(rt.ctx, mailer, clock.now()).claimed == 0
        clock.advance(timedelta(seconds=299))
        assert deliver_due(rt.ctx, mailer, clock.now()).claimed == 0  # still leased
        clock.advance(timedelta(seconds=2))
        assert deliver_due(rt.ctx, mailer, clock.now()).sent == 3
    assert sink.count_by_message_id() == {m.message_id: 1 for m in queued}


def test_a_crash_between_sending_and_recording_is_the_only_way_to_a_second_copy(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    """The documented at-least-once window: the one message a sender had sent but not yet recorded when it
    died goes out again after its lease, with the same Message-ID; the one it recorded never does."""
    recorded, unrecorded, untouched = queue(rt, tenant_id, 3)
    with SmtpSink() as sink:
        mailer = mailer_for(sink.url, clock)
        with rt.ctx.uow.begin() as tx:
            claimed = {m.id: m for m in tx.claim_due_mail(clock.now(), 10, timedelta(seconds=300))}
        mailer.send(claimed[recorded.id].mail, recorded.message_id)
        with rt.ctx.uow.begin() as tx:
            assert tx.tenant(tenant_id).outbox.record_sent(recorded.id, clock.now())
        mailer.send(claimed[unrecorded.id].mail, unrecorded.message_id)
        # ...and the sender dies here.
        clock.advance(timedelta(seconds=301))
        assert deliver_due(rt.ctx, mailer, clock.now()).sent == 2
    assert sink.count_by_message_id() == {recorded.message_id: 1, unrecorded.message_id: 2,
                                          untouched.message_id: 1}


def test_a_sender_whose_lease_was_taken_over_cannot_release_the_new_lease(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    [message] = queue(rt, tenant_id, 1)
    lease = timedelta(seconds=300)
    with rt.ctx.uow.begin() as tx:
        [first] = tx.claim_due_mail(clock.now(), 10, lease)
    clock.advance(lease + timedelta(seconds=1))
    with rt.ctx.uow.begin() as tx:
        [second] = tx.claim_due_mail(clock.now(), 10, lease)
    assert first.lease_until is not None and second.lease_until is not None
    with rt.ctx.uow.begin() as tx:
        repo = tx.tenant(tenant_id).outbox
        assert not repo.record_failure(message.id, lease_until=first.lease_until, error="late",
                                       retry_at=clock.now())
        assert not repo.release(message.id, lease_until=first.lease_until, retry_at=clock.now())
    row = get_outbox_message(rt.ctx, tenant_id, message.id)
    assert (row.lease_until, row.attempts, row.last_error) == (second.lease_until, 0, None)
    with rt.ctx.uow.begin() as tx:  # but a message that went out is recorded as sent, whoever holds it
        assert tx.tenant(tenant_id).outbox.record_sent(message.id, clock.now())
        assert not tx.tenant(tenant_id).outbox.record_sent(message.id, clock.now())
        assert tx.claim_due_mail(clock.now() + timedelta(days=1), 10, lease) == []


def test_a_sender_out_of_time_gives_its_messages_back_untried(
        rt: Runtime, tenant_id: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    queued = queue(rt, tenant_id, 4)
    with SmtpSink() as sink:
        with monkeypatch.context() as patch:
            patch.setattr(outbox_service, "send_window", lambda lease, timeout: 0.0)  # time is up at once
            report = deliver_due(rt.ctx, mailer_for(sink.url, clock), clock.now())
        assert (report.claimed, report.sent, report.postponed) == (4, 0, 4)
        assert all(r.lease_until is None and r.attempts == 0 and r.next_attempt_at == START
                   for r in outbox(rt, tenant_id))
        assert deliver_due(rt.ctx, mailer_for(sink.url, clock), clock.now()).sent == 4
    assert sink.count_by_message_id() == {m.message_id: 1 for m in queued}


def test_the_send_window_ends_well_before_the_lease() -> None:
    assert outbox_service.send_window(300, 30) == 150
    assert outbox_service.send_window(240, 30) == 120
    with pytest.raises(ValidationError, match="at least 8"):
        Settings(mail_lease=200, smtp_timeout=30)


# --- several senders at once ---------------------------------------------------------------------

def test_concurrent_senders_deliver_each_message_exactly_once(
        make_runtime: MakeRuntime, rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queued = queue(rt, tenant_id, 60)
    senders = [make_runtime(mail_batch=4) for _ in range(4)]
    errors: list[BaseException] = []
    sent_by: Counter[int] = Counter()
    with SmtpSink(delay=0.002) as sink:
        start = threading.Barrier(len(senders))

        def deliver(number: int, sender: Runtime) -> None:
            try:
                mailer = mailer_for(sink.url, clock)
                start.wait()
                while (report := jobs.deliver_mail(sender.ctx, mailer, clock.now())).claimed:
                    sent_by[number] += report.sent
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=pair) for pair in enumerate(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert len(sent_by) > 1  # they did overlap
    assert sink.count_by_message_id() == {m.message_id: 1 for m in queued}
    assert {r.status for r in outbox(rt, tenant_id)} == {SENT}


def _deliver_in_process(database_url: str, data_dir: str, smtp_url: str, now: datetime, ready: Any,
                        results: Any) -> None:
    """One server process's delivery job (a spawned child: its own interpreter, engine and connections)."""
    rt = runtime.build(Settings(db=database_url, data_dir=Path(data_dir), mail_batch=3, smtp_url=smtp_url),
                       ManualClock(now))
    sent = 0
    try:
        assert rt.mailer is not None
        ready.wait(60)
        while (report := jobs.deliver_mail(rt.ctx, rt.mailer, now)).claimed:
            sent += report.sent
    finally:
        rt.close()
        results.put(sent)


def test_two_processes_deliver_each_message_exactly_once(
        database_url: str, rt: Runtime, tenant_id: str, tmp_path: Path) -> None:
    queued = queue(rt, tenant_id, 60)
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Barrier(2), spawn.Queue()
    with SmtpSink(delay=0.005) as sink:
        processes = [spawn.Process(target=_deliver_in_process,
                                   args=(database_url, str(tmp_path / "data"), sink.url, START, ready, results))
                     for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
    assert [p.exitcode for p in processes] == [0, 0]
    sent = sorted(results.get(timeout=5) for _ in processes)
    assert sum(sent) == 60 and sent[0] > 0  # both took part
    assert sink.count_by_message_id() == {m.message_id: 1 for m in queued}


# --- TLS and authentication ----------------------------------------------------------------------

PASSWORD = "p@ss:w/rd %?#"
ENCODED = "p%40ss%3Aw%2Frd%20%25%3F%23"


def test_starttls_with_auth_login(rt: Runtime, tenant_id: str, clock: ManualClock, tmp_path: Path) -> None:
    [queued] = queue(rt, tenant_id, 1)
    ca = LocalCa(tmp_path)
    with SmtpSink(tls=ca, users={"mailer@contoso.example": PASSWORD}, mechanisms=("LOGIN",)) as sink:
        url = f"smtp+starttls://mailer%40contoso.example:{ENCODED}@127.0.0.1:{sink.port}"
        assert deliver_due(rt.ctx, mailer_for(url, clock, ca_file=ca.ca_path), clock.now()).sent == 1
    [received] = sink.received
    assert (received.login, received.starttls) == ("mailer@contoso.example", True)
    assert received.message["Message-ID"] == queued.message_id


def test_starttls_as_an_option_of_smtp_with_auth_plain(rt: Runtime, tenant_id: str, clock: ManualClock,
                                                       tmp_path: Path) -> None:
    queue(rt, tenant_id, 1)
    ca = LocalCa(tmp_path)
    with SmtpSink(tls=ca, users={"mailer": PASSWORD}, mechanisms=("PLAIN",)) as sink:
        url = f"smtp://mailer:{ENCODED}@127.0.0.1:{sink.port}?starttls=1"
        assert deliver_due(rt.ctx, mailer_for(url, clock, ca_file=ca.ca_path), clock.now()).sent == 1
    assert [(r.login, r.starttls) for r in sink.received] == [("mailer", True)]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # SMTPS is TLS throughout
def test_implicit_tls_with_auth_plain(rt: Runtime, tenant_id: str, clock: ManualClock, tmp_path: Path) -> None:
    [queued] = queue(rt, tenant_id, 1)
    ca = LocalCa(tmp_path)
    with SmtpSink(tls=ca, implicit_tls=True, users={"mailer": PASSWORD}, mechanisms=("PLAIN",)) as sink:
        url = f"smtps://mailer:{ENCODED}@127.0.0.1:{sink.port}"
        assert deliver_due(rt.ctx, mailer_for(url, clock, ca_file=ca.ca_path), clock.now()).sent == 1
    [received] = sink.received
    assert received.login == "mailer"
    assert received.message["Message-ID"] == queued.message_id


def test_a_server_certificate_from_an_untrusted_ca_is_refused(rt: Runtime, tenant_id: str, clock: ManualClock,
                                                              tmp_path: Path) -> None:
    queue(rt, tenant_id, 1)
    with SmtpSink(tls=LocalCa(tmp_path), implicit_tls=True) as sink:
        report = deliver_due(rt.ctx, mailer_for(sink.url, clock), clock.now())  # the system's trust store
    assert report.failed == 1 and "SSLCertVerificationError" in report.failures[0].error
    assert sink.received == []


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queue(rt, tenant_id, 1)
    with SmtpSink() as sink:
        report = deliver_due(rt.ctx, mailer_for(f"smtp+starttls://127.0.0.1:{sink.port}", clock), clock.now())
    assert report.failed == 1 and "STARTTLS" in report.failures[0].error
    assert sink.received == []


def test_a_refused_login_is_a_failed_attempt_whose_error_does_not_show_the_password(
        rt: Runtime, tenant_id: str, clock: ManualClock, tmp_path: Path) -> None:
    [queued] = queue(rt, tenant_id, 1)
    ca = LocalCa(tmp_path)
    with SmtpSink(tls=ca, users={"mailer": "the-right-one"}) as sink:
        url = f"smtp+starttls://mailer:{ENCODED}@127.0.0.1:{sink.port}"
        mailer = mailer_for(url, clock, ca_file=ca.ca_path)
        report = deliver_due(rt.ctx, mailer, clock.now())
    assert report.failed == 1 and "SMTPAuthenticationError" in report.failures[0].error
    assert sink.received == []
    row = get_outbox_message(rt.ctx, tenant_id, queued.id)
    assert row.status == FAILED and row.last_error is not None
    for shown in (row.last_error, repr(mailer), mailer.describe()):
        assert PASSWORD not in shown and ENCODED not in shown and "p@ss" not in shown


# --- the portal's view ---------------------------------------------------------------------------

def test_the_outbox_pages_newest_first_and_filters_by_status(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    for i in range(5):
        queue(rt, tenant_id, 1, name=f"n{i}", when=START + timedelta(minutes=i))
    clock.set(START + timedelta(minutes=10))
    with SmtpSink() as sink:
        mailer = mailer_for(sink.url, clock)
        assert deliver_due(rt.ctx, mailer, clock.now(), limit=2).sent == 2  # the two oldest
    deliver_due(rt.ctx, mailer_for(f"smtp://127.0.0.1:{free_port()}", clock), clock.now(), limit=1)

    first, cursor = page_outbox(rt.ctx, tenant_id, limit=2)
    second, cursor2 = page_outbox(rt.ctx, tenant_id, after=cursor, limit=2)
    third, cursor3 = page_outbox(rt.ctx, tenant_id, after=cursor2, limit=2)
    keys = [m.event_key for m in first + second + third]
    assert keys == [f"test/n{i}/0" for i in (4, 3, 2, 1, 0)]
    assert cursor3 is None
    assert [m.event_key for m in page_outbox(rt.ctx, tenant_id, status=SENT)[0]] == ["test/n1/0", "test/n0/0"]
    assert [m.event_key for m in page_outbox(rt.ctx, tenant_id, status=FAILED)[0]] == ["test/n2/0"]
    assert [m.event_key for m in page_outbox(rt.ctx, tenant_id, status=PENDING)[0]] == ["test/n4/0", "test/n3/0"]
    other = directory.create_tenant(rt.ctx, "Fabrikam", [f"fabrikam-{uuid.uuid4().hex[:8]}.example"], CLI).id
    assert page_outbox(rt.ctx, other) == ([], None)
    with pytest.raises(ConsentryError):
        page_outbox(rt.ctx, tenant_id, status="lost")
    with pytest.raises(ConsentryError):
        page_outbox(rt.ctx, tenant_id, after="not a cursor")
    with pytest.raises(ConsentryError):
        get_outbox_message(rt.ctx, other, first[0].id)


# --- the job -------------------------------------------------------------------------------------

def test_the_job_delivers_mail_due_now_even_as_of_an_earlier_instant(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queue(rt, tenant_id, 2)
    with SmtpSink() as sink:
        report = jobs.run_once(rt.ctx, mailer_for(sink.url, clock), START - timedelta(days=1))
    assert report.as_of == START - timedelta(days=1)
    assert report.delivery is not None and report.delivery.sent == 2
    assert jobs.run_once(rt.ctx, None).delivery is None  # without a mailer, mail waits in the outbox


def test_a_scheduled_run_is_skipped_while_another_runs_in_this_process(
        rt: Runtime, tenant_id: str, clock: ManualClock) -> None:
    queue(rt, tenant_id, 1)
    with SmtpSink() as sink:
        mailer = mailer_for(sink.url, clock)
        with jobs._running:
            assert jobs.run_scheduled(rt.ctx, mailer) is None
        report = jobs.run_scheduled(rt.ctx, mailer)
    assert report is not None and report.delivery is not None and report.delivery.sent == 1

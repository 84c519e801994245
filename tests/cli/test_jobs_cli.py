"""``consentry jobs run-once [--as-of] [--smtp-url]``, through Typer's CliRunner on a fresh SQLite database per
test, with a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.cli import Run, as_json, assert_one_error_line, ok
from tests.support.smtp import SmtpSink, free_port

from consentry import runtime
from consentry.config import Settings
from consentry.domain.mail import OutgoingMail
from consentry.services.outbox import SENT, enqueue, page_outbox

FAR = datetime(2090, 1, 1, tzinfo=UTC)  # mail queued then is not due before --as-of says so


@pytest.fixture
def tenant_id(contoso: str) -> str:
    return contoso


@pytest.fixture
def rt(data_dir: Path, tenant_id: str) -> Iterator[runtime.Runtime]:
    built = runtime.build(Settings(data_dir=data_dir))
    yield built
    built.close()


def queue_mail(rt: runtime.Runtime, tenant_id: str, when: datetime) -> str:
    mail = OutgoingMail("test/cli/1", "reviewer@contoso.example", "Review request", "Text", "<p>HTML</p>")
    with rt.ctx.uow.begin() as tx:
        enqueue(tx.tenant(tenant_id), [mail], when)
    [message], _ = page_outbox(rt.ctx, tenant_id)
    return message.message_id


@pytest.mark.parametrize("as_of", ["yesterday", "2026-13-01T00:00:00Z", "2026-05-01T25:00", ""])
def test_a_bad_as_of_is_one_error_line(cli: Run, as_of: str) -> None:
    assert_one_error_line(cli("jobs", "run-once", "--as-of", as_of), "error: --as-of must be an ISO 8601 date")


def test_a_bad_smtp_url_is_one_error_line(cli: Run) -> None:
    assert_one_error_line(cli("jobs", "run-once", "--smtp-url", "http://127.0.0.1:25"),
                          "error: The SMTP URL must begin with smtp://")


def test_without_smtp_mail_stays_in_the_outbox(cli: Run, rt: runtime.Runtime, tenant_id: str) -> None:
    queue_mail(rt, tenant_id, datetime(2026, 1, 1, tzinfo=UTC))
    report = as_json(cli("jobs", "run-once", "--as-of", "2026-01-02T00:00:00Z", "--json"))
    assert report["asOf"] == "2026-01-02T00:00:00Z"
    assert report["mail"] is None
    assert report["requests"] == {"expired": 0, "firstReminders": 0, "lastReminders": 0}
    text = ok(cli("jobs", "run-once")).stdout
    assert "no SMTP server configured" in text
    assert [m.status for m in page_outbox(rt.ctx, tenant_id)[0]] == ["pending"]


def test_run_once_delivers_the_mail_due_as_of_the_instant_once(cli: Run, rt: runtime.Runtime,
                                                                tenant_id: str) -> None:
    message_id = queue_mail(rt, tenant_id, FAR)
    with SmtpSink() as sink:
        not_yet = as_json(cli("jobs", "run-once", "--smtp-url", sink.url, "--json"))
        assert not_yet["mail"]["sent"] == 0
        due = as_json(cli("jobs", "run-once", "--smtp-url", sink.url, "--as-of", "2090-01-01T00:00:01", "--json"))
        assert due["asOf"] == "2090-01-01T00:00:01Z"  # no offset: UTC
        assert due["mail"] == {"sent": 1, "failed": 0, "postponed": 0, "lostLease": 0, "failures": []}
        again = ok(cli("jobs", "run-once", "--smtp-url", sink.url, "--as-of", "2090-01-02T00:00:00+02:00"))
        assert "Mail: 0 sent, 0 failed" in again.stdout
        assert "As of 2090-01-01T22:00:00Z." in again.stdout
    assert sink.count_by_message_id() == {message_id: 1}
    assert [m.status for m in page_outbox(rt.ctx, tenant_id)[0]] == [SENT]


def test_run_once_reports_a_failed_delivery_and_keeps_the_mail(cli: Run, rt: runtime.Runtime,
                                                                tenant_id: str) -> None:
    queue_mail(rt, tenant_id, FAR)
    result = ok(cli("jobs", "run-once", "--smtp-url", f"smtp://127.0.0.1:{free_port()}",
                    "--as-of", "2090-01-01T00:00:00Z"))
    assert "Mail: 0 sent, 1 failed (retried later)" in result.stdout
    assert "not delivered to reviewer@contoso.example: ConnectionRefusedError" in result.stdout
    assert "next attempt 2090-01-01T00:00:30Z" in result.stdout
    [message] = page_outbox(rt.ctx, tenant_id)[0]
    assert (message.status, message.attempts) == ("failed", 1)


def test_serve_refuses_an_unusable_smtp_url_before_listening(cli: Run) -> None:
    result = cli("serve", "--http", "--port", str(free_port()), "--smtp-url", "smtp://u:secret@mail.example.com")
    assert_one_error_line(result, "error: SMTP credentials would cross the network in clear")
    assert "secret" not in result.output

"""``consentry jobs run-once [--as-of ISO-8601]``: the server's minute job, run once from the command line.

It evaluates the admin consent requests that are due as of an instant (expiry and reminders; ``--as-of``
lets operations catch up and tests see 31 days pass), then delivers the mail that is due through
``--smtp-url`` / ``CONSENTRY_SMTP_URL``; without one, mail stays in the outbox. Safe to run while servers run
the same job: requests are expired once and each message goes out once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from consentry import jobs, runtime
from consentry.cli._common import AsJson, DataDir, Db, build_settings, command, iso, print_json
from consentry.errors import INVALID_VALUE, ConsentryError

jobs_cli = typer.Typer(no_args_is_help=True, help="Background jobs: request expiry, reminders, mail delivery.")

AS_OF_HELP = ("Evaluate what is due as of this instant, ISO 8601 (2026-05-01T09:00:00Z; no offset means UTC) "
              "[default: now].")
SMTP_HELP = "SMTP server for the mail, e.g. smtp://127.0.0.1:2525 [env: CONSENTRY_SMTP_URL; default: none]"


def parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ConsentryError(INVALID_VALUE, reason=(
            f"--as-of must be an ISO 8601 date and time such as 2026-05-01T09:00:00Z, not '{value[:100]}'.")) from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def report_json(report: jobs.JobReport) -> dict[str, Any]:
    requests, delivery = report.requests, report.delivery
    return {"asOf": iso(report.as_of),
            "requests": {"expired": requests.expired, "firstReminders": requests.first_reminders,
                         "lastReminders": requests.last_reminders},
            "mail": None if delivery is None else {
                "sent": delivery.sent, "failed": delivery.failed, "postponed": delivery.postponed,
                "lostLease": delivery.lost_lease,
                "failures": [{"messageId": f.message_id, "recipient": f.recipient, "error": f.error,
                              "retryAt": iso(f.retry_at)} for f in delivery.failures]}}


def report_lines(report: jobs.JobReport) -> list[str]:
    requests, delivery = report.requests, report.delivery
    lines = [f"As of {iso(report.as_of)}.",
             f"Requests: {requests.expired} expired, {requests.first_reminders} first reminder(s), "
             f"{requests.last_reminders} last reminder(s)."]
    if delivery is None:
        lines.append("Mail: no SMTP server configured (--smtp-url or CONSENTRY_SMTP_URL); "
                     "mail waits in the outbox.")
        return lines
    lines.append(f"Mail: {delivery.sent} sent, {delivery.failed} failed (retried later), "
                 f"{delivery.postponed + delivery.lost_lease} left for a later run.")
    lines.extend(f"  not delivered to {f.recipient}: {f.error} (next attempt {iso(f.retry_at)})"
                 for f in delivery.failures)
    return lines


@command(jobs_cli, "run-once")
def run_once(as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP, show_default=False)] = None,
             smtp_url: Annotated[str | None, typer.Option("--smtp-url", help=SMTP_HELP, show_default=False)] = None,
             db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Expire and remind admin consent requests due as of an instant, then deliver due mail; print what
    was done."""
    when = parse_as_of(as_of)
    rt = runtime.build(build_settings(db=db, data_dir=data_dir, smtp_url=smtp_url))
    try:
        runtime.prepare(rt)
        report = jobs.run_once(rt.ctx, rt.mailer, when)
    finally:
        rt.close()
    if as_json:
        print_json(report_json(report))
    else:
        for line in report_lines(report):
            typer.echo(line)

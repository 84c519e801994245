"""The SMTP URL (``--smtp-url``) and the message the SMTP mailer builds, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from email.utils import format_datetime
from pathlib import Path

import pytest

from consentry.domain.mail import OutgoingMail
from consentry.errors import ConsentryError
from consentry.mail.smtp import PLAIN, STARTTLS, TLS, SmtpMailer, ascii_address, build_message, parse_sender

SENDER = "Consentry <no-reply@localhost>"


@pytest.mark.parametrize(("url", "security", "port"), [
    ("smtp://127.0.0.1:2525", PLAIN, 2525),
    ("smtp://mail.example.com", PLAIN, 25),
    ("smtp://mail.example.com?starttls=1", STARTTLS, 25),
    ("smtp://mail.example.com:587?starttls=true", STARTTLS, 587),
    ("smtp://mail.example.com?starttls=0", PLAIN, 25),
    ("smtp+starttls://mail.example.com", STARTTLS, 587),
    ("SMTPS://mail.example.com", TLS, 465),
    ("smtps://mail.example.com:2465/", TLS, 2465),
])
def test_the_url_names_the_server_and_how_to_secure_the_connection(url: str, security: str, port: int) -> None:
    mailer = SmtpMailer.from_url(url, SENDER)
    assert (mailer.security, mailer.port, mailer.username) == (security, port, None)


def test_credentials_are_percent_decoded_and_never_shown() -> None:
    mailer = SmtpMailer.from_url("smtps://me%40example.com:p%40ss%3Aw%2Frd@mail.example.com", SENDER)
    assert mailer.username == "me@example.com"
    assert mailer._password == "p@ss:w/rd"
    assert "p@ss" not in repr(mailer) and "p%40ss" not in repr(mailer)
    assert mailer.describe() == "smtps://me@example.com@mail.example.com:465"


def test_the_sender_comes_from_the_setting_unless_the_url_gives_one() -> None:
    assert str(SmtpMailer.from_url("smtp://localhost", SENDER).sender) == SENDER
    overridden = SmtpMailer.from_url("smtp://localhost?from=Zo%C3%AB%20%3Czoe%40contoso.example%3E", SENDER)
    assert (overridden.sender.display_name, overridden.sender.addr_spec) == ("Zoë", "zoe@contoso.example")


@pytest.mark.parametrize(("url", "says"), [
    ("http://mail.example.com", "must begin with smtp://"),
    ("smtp://", "has no host"),
    ("smtp://mail.example.com:70000", "invalid port"),
    ("smtp://mail.example.com/inbox", "takes no path"),
    ("smtp://mail.example.com?tls=1", "unknown option 'tls'"),
    ("smtp://mail.example.com?starttls=maybe", "starttls option is 1 or 0"),
    ("smtp://mail.example.com?starttls=1&starttls=1", "repeats the option 'starttls'"),
    ("smtps://mail.example.com?starttls=1", "takes no starttls option"),
    ("smtp+starttls://mail.example.com?starttls=0", "always uses STARTTLS"),
    ("smtp://user:secret@mail.example.com", "in clear"),
    ("smtps://user:s%C3%A9cret@mail.example.com", "must be ASCII"),
    ("smtp://localhost?from=nobody", "is not an address"),
])
def test_an_unusable_url_is_refused_with_a_reason_that_never_shows_the_password(url: str, says: str) -> None:
    with pytest.raises(ConsentryError) as caught:
        SmtpMailer.from_url(url, SENDER)
    assert says in caught.value.description
    assert "secret" not in caught.value.description and "cret" not in caught.value.description


def test_credentials_may_go_in_clear_to_a_loopback_server_only() -> None:
    assert SmtpMailer.from_url("smtp://user:secret@127.0.0.1:2525", SENDER).username == "user"
    assert SmtpMailer.from_url("smtp://user:secret@[::1]:2525", SENDER).username == "user"
    assert SmtpMailer.from_url("smtp://user:secret@localhost:2525", SENDER).username == "user"


def test_a_ca_file_that_cannot_be_read_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConsentryError, match="CA file"):
        SmtpMailer.from_url("smtps://mail.example.com", SENDER, ca_file=tmp_path / "missing.pem")
    SmtpMailer.from_url("smtp://mail.example.com", SENDER, ca_file=tmp_path / "missing.pem")  # no TLS: unused


@pytest.mark.parametrize("sender", ["", "nobody", "a@", "@example.com", "<>"])
def test_a_sender_must_be_an_address(sender: str) -> None:
    with pytest.raises(ConsentryError):
        parse_sender(sender)


def test_recipients_are_single_ascii_addresses_with_idna_domains() -> None:
    assert ascii_address("adele@bücher.example") == "adele@xn--bcher-kva.example"
    for bad in ("zoë@contoso.example", "a@b.example, c@d.example", "Adele <a@b.example>", "a@b.example\r\nBcc: x@y"):
        with pytest.raises(ValueError):
            ascii_address(bad)


def test_the_message_is_multipart_alternative_with_encoded_headers() -> None:
    subject = "Anfrage für “Contoso Mail” – bitte prüfen, der Betreff ist lang genug, um gefaltet zu werden ✓"
    mail = OutgoingMail("k", "reviewer@contoso.example", subject, "Grüße\n", "<p>Grüße</p>")
    date = format_datetime(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    raw = build_message(mail, "<id-1@consentry.invalid>", parse_sender("Zoë Admin <zoe@contoso.example>"),
                        date).as_bytes()
    assert raw.isascii()  # every header and body encoded for 7-bit transport
    parsed = message_from_bytes(raw, policy=default)
    assert parsed["Subject"] == subject  # spaces between encoded words survive folding
    assert parsed["From"] == "Zoë Admin <zoe@contoso.example>"
    assert (parsed["Message-ID"], parsed["Date"]) == ("<id-1@consentry.invalid>", date)
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert [p["Content-Transfer-Encoding"] for p in parsed.iter_parts()] == ["quoted-printable"] * 2

"""Outbound mail: what a message is, and the Mailer port that delivers it (its SMTP adapter is the only SMTP
in Consentry). Messages are never sent directly by a use case: they are written to the outbox in the same
transaction as the event that caused them, and delivered later (see :mod:`consentry.services.outbox`)."""

from __future__ import annotations

from typing import Protocol

from consentry.domain.mail import OutgoingMail


class Mailer(Protocol):
    def send(self, mail: OutgoingMail, message_id: str) -> None:
        """Deliver one message with this ``Message-ID``; raise on failure (the outbox retries)."""

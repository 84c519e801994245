"""Outbound mail: what a message is, and the Mailer port that delivers it (its SMTP adapter is the only SMTP
in Consentry). Messages are never sent directly by a use case: they are written to the outbox in the same
transaction as the event that caused them, and delivered later (see :mod:`consentry.services.outbox`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One message to one recipient. ``event_key`` names the event and the recipient (for example
    ``request/{id}/created/reviewer/{user id}``): the outbox keeps one message per key, ever."""

    event_key: str
    recipient: str
    subject: str
    text: str
    html: str


class Mailer(Protocol):
    def send(self, mail: OutgoingMail, message_id: str) -> None:
        """Deliver one message with this ``Message-ID``; raise on failure (the outbox retries)."""

"""An e-mail message as a value: what the outbox stores and the Mailer delivers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One message to one recipient. ``event_key`` names the event and the recipient (for example
    ``request/{id}/created/reviewer/{user id}``): the outbox keeps one message per key, ever."""

    event_key: str
    recipient: str
    subject: str
    text: str
    html: str

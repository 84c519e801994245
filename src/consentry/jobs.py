"""Background jobs, safe to run from several instances at once: each is idempotent and works in one
transaction. Today: purging expired protocol state (codes, device codes, spent assertions,
interactions, sessions and refresh tokens past their lifetime) and retired signing keys.
"""

from __future__ import annotations

from consentry.services import deleted_items
from consentry.services.context import ServiceContext


def purge_expired_state(ctx: ServiceContext) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.tokens.purge_expired(now)
        tx.keys.purge(now)
    deleted_items.purge_expired(ctx)  # deleted items past their 30 days (its own transaction)

"""Password sign-in with per-user lockout (AADSTS50126, AADSTS50053, AADSTS50057).

The slow argon2id verification runs outside any database transaction; the lockout counter is then
updated in a short transaction that re-reads it, so concurrent failures are all counted.
"""

from __future__ import annotations

from datetime import timedelta

from consentry.domain.directory import User
from consentry.domain.lockout import LockoutPolicy, record_failure
from consentry.errors import ACCOUNT_LOCKED, INVALID_PASSWORD, USER_DISABLED, ConsentryError
from consentry.services.context import ServiceContext


def lockout_policy(ctx: ServiceContext) -> LockoutPolicy:
    s = ctx.settings
    return LockoutPolicy(s.lockout_threshold, timedelta(seconds=s.lockout_window),
                         timedelta(seconds=s.lockout_duration))


def authenticate_password(ctx: ServiceContext, upn: str, password: str) -> User:
    """The user whose sign-in name and password these are, or the catalog error that says why not."""
    upn = (upn or "").strip()
    with ctx.uow.read() as tx:
        user = tx.tenants.find_user_by_upn(upn) if upn else None
        state = tx.tokens.get_lockout(user.id) if user else None
    if user is not None and state is not None and state.is_locked(ctx.clock.now()):
        raise ConsentryError(ACCOUNT_LOCKED)
    if not ctx.passwords.verify(user.password_hash if user else None, password or ""):
        if user is not None:
            _count_failure(ctx, user.id)
        raise ConsentryError(INVALID_PASSWORD)
    assert user is not None
    if not user.account_enabled:
        raise ConsentryError(USER_DISABLED)
    if state is not None and state.failures:
        with ctx.uow.begin() as tx:
            tx.tokens.clear_lockout(user.id)
    return user


def _count_failure(ctx: ServiceContext, user_id: str) -> None:
    policy = lockout_policy(ctx)
    with ctx.uow.begin() as tx:
        now = ctx.clock.now()
        state = tx.tokens.get_lockout(user_id, for_update=True)
        tx.tokens.save_lockout(user_id, record_failure(state, policy, now))

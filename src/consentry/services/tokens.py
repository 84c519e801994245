"""Protocol state with a lifetime: SSO sessions, interactions, authorization codes, refresh tokens and
device codes. Every value handed out is random (≥128 bits) and stored only as its SHA-256 digest.

Refresh tokens rotate: each use returns a new one and spends the old. Presenting a spent refresh token
revokes its whole family (every token descended from the same sign-in), since it means the token leaked.
Entra does not do this; it is a deliberate hardening.

Device code (RFC 8628):

    pending --user approves--> approved --client polls--> redeemed
    pending --user declines--> declined
    pending --expires_at-----> (expired_token on the next poll)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from consentry.domain.directory import User
from consentry.errors import (
    AUTHORIZATION_PENDING,
    CODE_EXPIRED,
    CODE_INVALID,
    CODE_REDEEMED,
    DEVICE_CODE_DECLINED,
    DEVICE_CODE_EXPIRED,
    FLOW_EXPIRED,
    REFRESH_TOKEN_EXPIRED,
    REFRESH_TOKEN_INVALID,
    REFRESH_TOKEN_REVOKED,
    ConsentryError,
)
from consentry.services.context import ServiceContext
from consentry.services.credentials import digest, new_token, new_user_code

INTERACTION_LIFETIME = timedelta(minutes=30)
DEVICE_POLL_INTERVAL = 5


# --- sessions ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    user: User
    auth_time: datetime


def start_session(ctx: ServiceContext, user: User) -> tuple[str, Session]:
    token = new_token()
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.tokens.add_session(id_hash=digest(token), tenant_id=user.tenant_id, user_id=user.id, auth_time=now,
                              expires_at=now + timedelta(seconds=ctx.settings.session_lifetime), revoked_at=None)
    return token, Session(digest(token), user, now)


def find_session(ctx: ServiceContext, token: str | None) -> Session | None:
    if not token or len(token) > 128:
        return None
    now = ctx.clock.now()
    with ctx.uow.read() as tx:
        row = tx.tokens.find_session(digest(token))
        if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
            return None
        user = tx.tenant(row["tenant_id"]).directory.find_user(row["user_id"])
    if user is None or not user.account_enabled:
        return None
    return Session(row["id_hash"], user, row["auth_time"])


def end_session(ctx: ServiceContext, token: str | None) -> None:
    if token and len(token) <= 128:
        with ctx.uow.begin() as tx:
            tx.tokens.revoke_session(digest(token), ctx.clock.now())


# --- interactions (an authorization request waiting for a page to finish it) ---------------------
def start_interaction(ctx: ServiceContext, kind: str, params: dict[str, Any]) -> str:
    token = new_token(24)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.tokens.add_interaction(id_hash=digest(token), kind=kind, params=params, created_at=now,
                                  expires_at=now + INTERACTION_LIFETIME)
    return token


def get_interaction(ctx: ServiceContext, token: str | None, kind: str) -> dict[str, Any]:
    if not token or len(token) > 128:
        raise ConsentryError(FLOW_EXPIRED)
    with ctx.uow.read() as tx:
        row = tx.tokens.find_interaction(digest(token))
    if row is None or row["kind"] != kind or row["expires_at"] <= ctx.clock.now():
        raise ConsentryError(FLOW_EXPIRED)
    return dict(row["params"])


def finish_interaction(ctx: ServiceContext, token: str) -> None:
    with ctx.uow.begin() as tx:
        tx.tokens.remove_interaction(digest(token))


# --- authorization codes -------------------------------------------------------------------------
def issue_code(ctx: ServiceContext, *, tenant_id: str, client_app_id: str, user_id: str, redirect_uri: str,
               scope: str, nonce: str | None, code_challenge: str | None, code_challenge_method: str | None,
               auth_time: datetime, session_id_hash: str | None) -> str:
    code = new_token()
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.tokens.add_code(code_hash=digest(code), tenant_id=tenant_id, client_app_id=client_app_id,
                           user_id=user_id, redirect_uri=redirect_uri, scope=scope, nonce=nonce,
                           code_challenge=code_challenge, code_challenge_method=code_challenge_method,
                           session_id_hash=session_id_hash, auth_time=auth_time, created_at=now,
                           expires_at=now + timedelta(seconds=ctx.settings.code_lifetime), redeemed_at=None)
    return code


def find_code(ctx: ServiceContext, code: str) -> dict[str, Any]:
    """The code's record if it exists and has not expired; its redemption is a separate step."""
    if not code or len(code) > 512:
        raise ConsentryError(CODE_INVALID)
    with ctx.uow.read() as tx:
        row = tx.tokens.find_code(digest(code))
    if row is None:
        raise ConsentryError(CODE_INVALID)
    if row["redeemed_at"] is not None:
        _revoke_descendants(ctx, row["code_hash"])
        raise ConsentryError(CODE_REDEEMED)
    if row["expires_at"] <= ctx.clock.now():
        raise ConsentryError(CODE_EXPIRED)
    return row


def redeem_code(ctx: ServiceContext, code_hash: str) -> None:
    """Spend a code; the loser of two concurrent redemptions gets AADSTS54005."""
    with ctx.uow.begin() as tx:
        won = tx.tokens.redeem_code(code_hash, ctx.clock.now())
    if not won:
        _revoke_descendants(ctx, code_hash)
        raise ConsentryError(CODE_REDEEMED)


def _revoke_descendants(ctx: ServiceContext, family_id: str) -> None:
    """A replayed code revokes the refresh tokens issued from it (RFC 6749 §4.1.2)."""
    with ctx.uow.begin() as tx:
        tx.tokens.revoke_refresh_family(family_id, ctx.clock.now())


# --- refresh tokens ------------------------------------------------------------------------------
def new_family_id() -> str:
    """Refresh tokens from one sign-in share a family; those from a code use the code's digest."""
    return digest(new_token())


def issue_refresh_token(ctx: ServiceContext, *, family_id: str, tenant_id: str, client_app_id: str, user_id: str,
                        scope: str, auth_time: datetime) -> str:
    token = new_token(48)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.tokens.add_refresh_token(token_hash=digest(token), family_id=family_id, tenant_id=tenant_id,
                                    client_app_id=client_app_id, user_id=user_id, scope=scope, auth_time=auth_time,
                                    created_at=now,
                                    expires_at=now + timedelta(seconds=ctx.settings.refresh_token_lifetime),
                                    spent_at=None, revoked_at=None)
    return token


def find_refresh_token(ctx: ServiceContext, token: str, client_app_id: str) -> dict[str, Any]:
    """A live refresh token's record. Presenting a spent one revokes its whole family."""
    if not token or len(token) > 1024:
        raise ConsentryError(REFRESH_TOKEN_INVALID)
    now = ctx.clock.now()
    with ctx.uow.read() as tx:
        row = tx.tokens.find_refresh_token(digest(token))
    if row is None or row["client_app_id"] != client_app_id:
        raise ConsentryError(REFRESH_TOKEN_INVALID)
    if row["revoked_at"] is not None:
        raise ConsentryError(REFRESH_TOKEN_REVOKED)
    if row["spent_at"] is not None:
        _revoke_descendants(ctx, row["family_id"])
        raise ConsentryError(REFRESH_TOKEN_REVOKED)
    if row["expires_at"] <= now:
        raise ConsentryError(REFRESH_TOKEN_EXPIRED)
    return row


def spend_refresh_token(ctx: ServiceContext, row: dict[str, Any]) -> None:
    """Spend a refresh token found by :func:`find_refresh_token`; losing a race counts as reuse."""
    with ctx.uow.begin() as tx:
        spent = tx.tokens.spend_refresh_token(row["token_hash"], ctx.clock.now())
    if not spent:
        _revoke_descendants(ctx, row["family_id"])
        raise ConsentryError(REFRESH_TOKEN_REVOKED)


# --- device codes --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


def start_device_authorization(ctx: ServiceContext, *, tenant_segment: str, tenant_id: str | None,
                               client_app_id: str, scope: str) -> DeviceAuthorization:
    device_code = new_token()
    now = ctx.clock.now()
    lifetime = ctx.settings.device_code_lifetime
    with ctx.uow.begin() as tx:
        user_code = new_user_code()
        while tx.tokens.find_device_code_by_user_code(user_code) is not None:
            user_code = new_user_code()
        tx.tokens.add_device_code(device_code_hash=digest(device_code), user_code=user_code,
                                  tenant_segment=tenant_segment, tenant_id=tenant_id, client_app_id=client_app_id,
                                  scope=scope, status="pending", user_id=None, auth_time=None,
                                  interval=DEVICE_POLL_INTERVAL, created_at=now,
                                  expires_at=now + timedelta(seconds=lifetime), last_poll_at=None)
    return DeviceAuthorization(device_code, user_code, lifetime, DEVICE_POLL_INTERVAL)


def normalize_user_code(user_code: str) -> str:
    return "".join(ch for ch in (user_code or "").upper() if ch.isalnum())[:16]


def find_pending_device_code(ctx: ServiceContext, user_code: str) -> dict[str, Any] | None:
    with ctx.uow.read() as tx:
        row = tx.tokens.find_device_code_by_user_code(normalize_user_code(user_code))
    if row is None or row["status"] != "pending" or row["expires_at"] <= ctx.clock.now():
        return None
    return row


def decide_device_code(ctx: ServiceContext, device_code_hash: str, user: User | None, approve: bool) -> bool:
    now = ctx.clock.now()
    values: dict[str, Any] = {"status": "approved" if approve else "declined"}
    if approve and user is not None:
        values.update(user_id=user.id, auth_time=now, tenant_id=user.tenant_id)
    with ctx.uow.begin() as tx:
        return tx.tokens.update_device_code(device_code_hash, expect_status="pending", **values)


def poll_device_code(ctx: ServiceContext, device_code: str, client_app_id: str,
                     authority_tenant_id: str | None = None) -> dict[str, Any]:
    """An approved device code, spent by this call; otherwise the RFC 8628 error for its state. A poll at
    a tenant-specific endpoint only redeems a code approved in that tenant."""
    if not device_code or len(device_code) > 512:
        raise ConsentryError(CODE_INVALID)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        row = tx.tokens.find_device_code(digest(device_code))
        if row is None or row["client_app_id"] != client_app_id:
            raise ConsentryError(CODE_INVALID)
        if row["status"] == "redeemed":
            raise ConsentryError(CODE_REDEEMED)
        if row["expires_at"] <= now:
            raise ConsentryError(DEVICE_CODE_EXPIRED)
        if row["status"] == "declined":
            raise ConsentryError(DEVICE_CODE_DECLINED)
        if row["status"] == "pending":
            tx.tokens.update_device_code(row["device_code_hash"], last_poll_at=now)
            pending = True
        else:
            pending = False
            if authority_tenant_id is not None and row["tenant_id"] != authority_tenant_id:
                raise ConsentryError(CODE_INVALID)
            if not tx.tokens.update_device_code(row["device_code_hash"], expect_status="approved",
                                                status="redeemed"):
                raise ConsentryError(CODE_REDEEMED)
    if pending:
        raise ConsentryError(AUTHORIZATION_PENDING)
    return row

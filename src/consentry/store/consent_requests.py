"""The admin consent request workflow's storage: a tenant's ``adminConsentRequestPolicy``, request
aggregates (one per app and consent type), and users' requests with the reviewers snapshotted for each.

:class:`ConsentRequestRepository` works inside one tenant. The expiry and reminder job's reads and conditional
updates, which cross tenants, are in :mod:`consentry.store.consent_request_due`.

State changes are conditional (``… WHERE status = 'InProgress'`` with ``RETURNING``): a request changes
state once, and only the caller whose update returned it acts on the change (audit, mail).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from odata_query import ast
from sqlalchemy import ColumnElement, Connection, Text, cast, exists, func, insert, or_, select, update

from consentry.domain.clock import as_utc
from consentry.domain.consent_requests import (
    IN_PROGRESS,
    AppConsentRequest,
    RequestPolicy,
    Reviewer,
    UserConsentRequest,
)
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_UNSUPPORTED_QUERY, ConsentryError
from consentry.store.grants import ensure_text_keys, text_property
from consentry.store.odata import Fields, Page, fetch_page, to_where
from consentry.store.tables import (
    admin_consent_request_policies,
    app_consent_requests,
    consent_request_reviewers,
    group_members,
    role_assignments,
    user_consent_requests,
    users,
)

_pol = admin_consent_request_policies
_acr = app_consent_requests
_ucr = user_consent_requests
_rev = consent_request_reviewers

# --- row mapping ----------------------------------------------------------------------------------------
def _reviewers_to_json(reviewers: Iterable[Reviewer]) -> list[dict[str, Any]]:
    return [{"query": r.query, "queryType": r.query_type, "queryRoot": r.query_root} for r in reviewers]


def _reviewers_from_json(raw: list[dict[str, Any]]) -> tuple[Reviewer, ...]:
    return tuple(Reviewer(d["query"], d.get("queryType") or "MicrosoftGraph", d.get("queryRoot")) for d in raw)


def _app_request(row: Any) -> AppConsentRequest:
    r = row._mapping
    return AppConsentRequest(r["id"], r["tenant_id"], r["app_id"], r["app_display_name"], r["consent_type"],
                             tuple(r["pending_scopes"] or ()), as_utc(r["created_at"]))


def _when(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def user_request_from_row(row: Any, reviewer_ids: tuple[str, ...] = ()) -> UserConsentRequest:
    r = row._mapping
    return UserConsentRequest(
        id=r["id"], app_request_id=r["app_request_id"], tenant_id=r["tenant_id"], user_id=r["user_id"],
        user_display_name=r["user_display_name"], user_principal_name=r["user_principal_name"],
        user_mail=r["user_mail"], reason=r["reason"], status=r["status"], created_at=as_utc(r["created_at"]),
        expires_at=as_utc(r["expires_at"]), completed_at=_when(r["completed_at"]), outcome=r["outcome"],
        review_result=r["review_result"], reviewed_by_id=r["reviewed_by_id"], reviewed_by_name=r["reviewed_by_name"],
        reviewed_by_upn=r["reviewed_by_upn"], reviewed_at=_when(r["reviewed_at"]),
        review_justification=r["review_justification"], first_reminder_at=_when(r["first_reminder_at"]),
        last_reminder_at=_when(r["last_reminder_at"]), reviewer_ids=reviewer_ids, scopes=tuple(r["scopes"] or ()))


@dataclasses.dataclass(frozen=True, slots=True)
class Closing:
    """How a conditional state change closes requests: what they become and who decided."""

    status: str
    outcome: str
    review_result: str
    now: datetime
    justification: str | None = None
    reviewer_id: str | None = None
    reviewer_name: str | None = None
    reviewer_upn: str | None = None

    def values(self) -> dict[str, Any]:
        return dict(status=self.status, outcome=self.outcome, review_result=self.review_result,
                    completed_at=self.now, reviewed_at=self.now, review_justification=self.justification,
                    reviewed_by_id=self.reviewer_id, reviewed_by_name=self.reviewer_name,
                    reviewed_by_upn=self.reviewer_upn)


@dataclasses.dataclass(frozen=True, slots=True)
class AppRequestFilter:
    """What the portal filters the aggregates by (on top of any OData ``$filter``).

    ``status`` / ``outcome``: the aggregate has at least one user request in that status / with that outcome.
    ``reviewer_id``: it has a request in progress whose reviewer snapshot names this user ("My pending")."""

    app_id: str | None = None
    consent_type: str | None = None
    status: str | None = None
    outcome: str | None = None
    reviewer_id: str | None = None


# --- OData ----------------------------------------------------------------------------------------------
_USER_REQUEST_FIELDS = Fields({name: text_property(column) for name, column in (
    ("id", _ucr.c.id), ("status", _ucr.c.status), ("reason", _ucr.c.reason))})


def _rebind(node: Any, variable: str) -> Any:
    """``u/status`` inside ``any(u: …)`` becomes the plain property ``status``."""
    if isinstance(node, ast.Attribute) and isinstance(node.owner, ast.Identifier) and node.owner.name == variable:
        return ast.Identifier(node.attr)
    if isinstance(node, list):
        return [_rebind(item, variable) for item in node]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {f.name: _rebind(getattr(node, f.name), variable) for f in dataclasses.fields(node)}
        return dataclasses.replace(node, **changes)
    return node


def _any_user_request(lam: ast.Lambda, _node: ast.CollectionLambda) -> ColumnElement[bool]:
    body = to_where(_rebind(lam.expression, lam.identifier.name), _USER_REQUEST_FIELDS)
    return exists().where(_ucr.c.app_request_id == _acr.c.id, body)


_APP_REQUEST_FIELDS = Fields({name: text_property(column) for name, column in (
    ("id", _acr.c.id), ("appId", _acr.c.app_id), ("appDisplayName", _acr.c.app_display_name),
    ("consentType", _acr.c.consent_type))}, {"userConsentRequests": _any_user_request})

_APP_REQUEST_ORDERS: dict[str, list[Any]] = {
    "createdDateTime": [_acr.c.created_at, _acr.c.id],
    "appDisplayName": [_acr.c.app_display_name, _acr.c.id],
    "appId": [_acr.c.app_id, _acr.c.id],
}
APP_REQUEST_ORDERABLE = frozenset(_APP_REQUEST_ORDERS)
USER_REQUEST_ORDERABLE = frozenset({"createdDateTime"})


def _bad_token() -> ConsentryError:
    return ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="The $skiptoken does not match this query.")


def _decode_time_key(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if key is None:
        return None
    try:
        when, row_id = key
        return as_utc(datetime.fromisoformat(when)), str(row_id)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _bad_token() from exc


def _encode_time_key(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    return None if key is None else (as_utc(key[0]).isoformat(), key[1])


def _order(query: ODataQuery, orders: dict[str, list[Any]], default: str) -> tuple[str, list[Any], bool]:
    """The sort (name, columns, descending): newest first unless ``$orderby`` says otherwise."""
    if not query.orderby:
        return default, orders[default], True
    name, descending = query.orderby[0]
    if name not in orders:
        raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason=f"Unsupported query: ordering by '{name}'.")
    return name, orders[name], descending


class ConsentRequestRepository:
    """The request policy, request aggregates and users' requests of one tenant."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    # --- policy ---------------------------------------------------------------------------------
    def find_policy(self) -> RequestPolicy | None:
        row = self.conn.execute(select(_pol).where(_pol.c.tenant_id == self.tenant_id)).first()
        if row is None:
            return None
        return RequestPolicy(row.is_enabled, row.notify_reviewers, row.reminders_enabled,
                             row.request_duration_in_days, _reviewers_from_json(row.reviewers), row.version)

    def save_policy(self, policy: RequestPolicy, now: datetime) -> None:
        values = dict(is_enabled=policy.is_enabled, notify_reviewers=policy.notify_reviewers,
                      reminders_enabled=policy.reminders_enabled,
                      request_duration_in_days=policy.request_duration_in_days,
                      reviewers=_reviewers_to_json(policy.reviewers), version=policy.version, modified_at=now)
        updated = self.conn.execute(update(_pol).where(_pol.c.tenant_id == self.tenant_id).values(**values)).rowcount
        if not updated:
            self.conn.execute(insert(_pol).values(tenant_id=self.tenant_id, **values))

    def expand_reviewers(self, user_ids: Sequence[str], group_ids: Sequence[str],
                         role_template_ids: Sequence[str]) -> list[str]:
        """The users of this tenant named directly, members of the groups (only users are members, so direct
        membership is transitive membership), and holders of the directory roles; each once."""
        u = users
        conditions = []
        if user_ids:
            conditions.append(u.c.id.in_(list(user_ids)))
        if group_ids:
            conditions.append(u.c.id.in_(select(group_members.c.member_id).where(
                group_members.c.tenant_id == self.tenant_id, group_members.c.group_id.in_(list(group_ids)))))
        if role_template_ids:
            conditions.append(u.c.id.in_(select(role_assignments.c.principal_id).where(
                role_assignments.c.tenant_id == self.tenant_id,
                role_assignments.c.role_template_id.in_(list(role_template_ids)))))
        if not conditions:
            return []
        query = select(u.c.id).where(u.c.tenant_id == self.tenant_id, or_(*conditions)).order_by(u.c.id)
        return list(self.conn.execute(query).scalars())

    def list_contacts(self, user_ids: Iterable[str]) -> dict[str, tuple[str, str | None, bool]]:
        """id -> (display name, mail, account enabled) of the given users of this tenant."""
        ids = sorted(set(user_ids))
        out: dict[str, tuple[str, str | None, bool]] = {}
        for start in range(0, len(ids), 500):
            rows = self.conn.execute(select(users.c.id, users.c.display_name, users.c.mail, users.c.account_enabled)
                                     .where(users.c.tenant_id == self.tenant_id,
                                            users.c.id.in_(ids[start:start + 500])))
            out.update({r.id: (r.display_name, r.mail, r.account_enabled) for r in rows})
        return out

    # --- aggregates -----------------------------------------------------------------------------
    def find_app_request(self, app_request_id: str) -> AppConsentRequest | None:
        row = self.conn.execute(select(_acr).where(_acr.c.tenant_id == self.tenant_id,
                                                   _acr.c.id == app_request_id)).first()
        return _app_request(row) if row else None

    def find_app_request_for(self, app_id: str, consent_type: str) -> AppConsentRequest | None:
        row = self.conn.execute(select(_acr).where(_acr.c.tenant_id == self.tenant_id, _acr.c.app_id == app_id,
                                                   _acr.c.consent_type == consent_type)).first()
        return _app_request(row) if row else None

    def list_app_requests_for(self, app_id: str) -> list[AppConsentRequest]:
        rows = self.conn.execute(select(_acr).where(_acr.c.tenant_id == self.tenant_id, _acr.c.app_id == app_id)
                                 .order_by(_acr.c.consent_type))
        return [_app_request(r) for r in rows]

    def add_app_request(self, request: AppConsentRequest) -> None:
        self.conn.execute(insert(_acr).values(
            id=request.id, tenant_id=self.tenant_id, app_id=request.app_id,
            app_display_name=request.app_display_name, consent_type=request.consent_type,
            pending_scopes=list(request.pending_scopes), created_at=request.created_at))

    def set_pending_scopes(self, app_request_id: str, scopes: Sequence[str]) -> None:
        self.conn.execute(update(_acr).where(_acr.c.tenant_id == self.tenant_id, _acr.c.id == app_request_id)
                          .values(pending_scopes=list(scopes)))

    def union_of_pending_scopes(self, app_request_id: str) -> list[str]:
        """The scopes the requests in progress asked for, in the order first asked, each once."""
        # Most requests of an aggregate ask for the same scopes: the database hands back each distinct list once.
        spelt = cast(_ucr.c.scopes, Text)
        first = func.min(_ucr.c.created_at)
        rows = self.conn.execute(select(spelt, first).where(
            _ucr.c.tenant_id == self.tenant_id, _ucr.c.app_request_id == app_request_id,
            _ucr.c.status == IN_PROGRESS).group_by(spelt).order_by(first, spelt))
        seen: dict[str, None] = {}
        for text, _ in rows:
            seen.update(dict.fromkeys(json.loads(text) if text else ()))
        return list(seen)

    def page_app_requests(self, query: ODataQuery, filters: AppRequestFilter = AppRequestFilter()
                          ) -> tuple[list[AppConsentRequest], Page]:
        """One page of aggregates: newest first, or by ``appDisplayName`` / ``appId``; keyset-paged."""
        name, order, descending = _order(query, _APP_REQUEST_ORDERS, "createdDateTime")
        timed = name == "createdDateTime"
        if not timed:
            ensure_text_keys(query)
        base = select(_acr).where(_acr.c.tenant_id == self.tenant_id)
        if query.filter is not None:
            base = base.where(to_where(query.filter, _APP_REQUEST_FIELDS))
        base = base.where(*self._filter_conditions(filters))
        after = _decode_time_key(query.after) if timed else query.after
        page = fetch_page(self.conn, base, order, descending=descending, after=after, limit=query.top,
                          count=query.count)
        next_after = _encode_time_key(page.next_after) if timed else page.next_after
        return [_app_request(r) for r in page.rows], Page(page.rows, next_after, page.count)

    def _filter_conditions(self, filters: AppRequestFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if filters.app_id is not None:
            conditions.append(_acr.c.app_id == filters.app_id.lower())
        if filters.consent_type is not None:
            conditions.append(_acr.c.consent_type == filters.consent_type)
        mine = [_ucr.c.app_request_id == _acr.c.id]
        if filters.status is not None:
            conditions.append(exists().where(*mine, _ucr.c.status == filters.status))
        if filters.outcome is not None:
            conditions.append(exists().where(*mine, _ucr.c.outcome == filters.outcome))
        if filters.reviewer_id is not None:
            conditions.append(exists().where(*mine, _ucr.c.status == IN_PROGRESS, _rev.c.user_request_id == _ucr.c.id,
                                             _rev.c.reviewer_id == filters.reviewer_id))
        return conditions

    # --- users' requests ------------------------------------------------------------------------
    def add_user_request(self, request: UserConsentRequest) -> None:
        """Insert a request with its reviewer snapshot (``request.reviewer_ids``). A second request in progress
        for the same user and aggregate violates a unique index (IntegrityError)."""
        self.conn.execute(insert(_ucr).values(
            id=request.id, tenant_id=self.tenant_id, app_request_id=request.app_request_id, user_id=request.user_id,
            user_display_name=request.user_display_name, user_principal_name=request.user_principal_name,
            user_mail=request.user_mail, reason=request.reason, scopes=list(request.scopes), status=request.status,
            created_at=request.created_at, expires_at=request.expires_at, review_result=request.review_result))
        if request.reviewer_ids:
            self.conn.execute(insert(_rev), [{"user_request_id": request.id, "reviewer_id": reviewer}
                                             for reviewer in request.reviewer_ids])

    def find_user_request(self, user_request_id: str, *, with_reviewers: bool = False) -> UserConsentRequest | None:
        row = self.conn.execute(select(_ucr).where(_ucr.c.tenant_id == self.tenant_id,
                                                   _ucr.c.id == user_request_id)).first()
        if row is None:
            return None
        reviewers = self.reviewer_ids_of([row.id]).get(row.id, ()) if with_reviewers else ()
        return user_request_from_row(row, reviewers)

    def find_in_progress(self, app_request_id: str, user_id: str) -> UserConsentRequest | None:
        row = self.conn.execute(select(_ucr).where(
            _ucr.c.tenant_id == self.tenant_id, _ucr.c.app_request_id == app_request_id,
            _ucr.c.user_id == user_id, _ucr.c.status == IN_PROGRESS)).first()
        return user_request_from_row(row) if row else None

    def list_user_requests(self, app_request_id: str, *, status: str | None = None,
                           with_reviewers: bool = False) -> list[UserConsentRequest]:
        query = select(_ucr).where(_ucr.c.tenant_id == self.tenant_id, _ucr.c.app_request_id == app_request_id)
        if status is not None:
            query = query.where(_ucr.c.status == status)
        rows = list(self.conn.execute(query.order_by(_ucr.c.created_at, _ucr.c.id)))
        snapshots = self.reviewer_ids_of([r.id for r in rows]) if with_reviewers else {}
        return [user_request_from_row(r, snapshots.get(r.id, ())) for r in rows]

    def page_user_requests(self, app_request_id: str, query: ODataQuery, *, reviewer_id: str | None = None
                           ) -> tuple[list[UserConsentRequest], Page]:
        """One page of an aggregate's requests (with their snapshots), newest first; with ``reviewer_id``,
        only those whose snapshot names that reviewer."""
        _name, order, descending = _order(query, {"createdDateTime": [_ucr.c.created_at, _ucr.c.id]},
                                          "createdDateTime")
        base = select(_ucr).where(_ucr.c.tenant_id == self.tenant_id, _ucr.c.app_request_id == app_request_id)
        if query.filter is not None:
            base = base.where(to_where(query.filter, _USER_REQUEST_FIELDS))
        if reviewer_id is not None:
            base = base.where(exists().where(_rev.c.user_request_id == _ucr.c.id, _rev.c.reviewer_id == reviewer_id))
        page = fetch_page(self.conn, base, order, descending=descending, after=_decode_time_key(query.after),
                          limit=query.top, count=query.count)
        snapshots = self.reviewer_ids_of([r.id for r in page.rows])
        items = [user_request_from_row(r, snapshots.get(r.id, ())) for r in page.rows]
        return items, Page(page.rows, _encode_time_key(page.next_after), page.count)

    def reviewer_ids_of(self, user_request_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        ids = list(user_request_ids)
        for start in range(0, len(ids), 500):
            rows = self.conn.execute(select(_rev.c.user_request_id, _rev.c.reviewer_id)
                                     .where(_rev.c.user_request_id.in_(ids[start:start + 500]))
                                     .order_by(_rev.c.user_request_id, _rev.c.reviewer_id))
            for row in rows:
                out.setdefault(row.user_request_id, []).append(row.reviewer_id)
        return {k: tuple(v) for k, v in out.items()}

    def is_reviewer_of_pending(self, app_request_ids: Sequence[str], reviewer_id: str, now: datetime) -> bool:
        """Whether a request in progress (and not yet due to expire) of these aggregates names this reviewer."""
        return self.conn.execute(select(_ucr.c.id).where(
            _ucr.c.tenant_id == self.tenant_id, _ucr.c.app_request_id.in_(list(app_request_ids)),
            _ucr.c.status == IN_PROGRESS, _ucr.c.expires_at > now,
            exists().where(_rev.c.user_request_id == _ucr.c.id, _rev.c.reviewer_id == reviewer_id)).limit(1)
        ).first() is not None

    def list_pending_ids(self, app_request_ids: Sequence[str]) -> list[str]:
        return list(self.conn.execute(select(_ucr.c.id).where(
            _ucr.c.tenant_id == self.tenant_id, _ucr.c.app_request_id.in_(list(app_request_ids)),
            _ucr.c.status == IN_PROGRESS).order_by(_ucr.c.created_at, _ucr.c.id)).scalars())

    def close_pending(self, app_request_ids: Sequence[str], closing: Closing) -> list[UserConsentRequest]:
        """Close every request in progress of these aggregates; returns those this call closed."""
        rows = self.conn.execute(
            update(_ucr).where(_ucr.c.tenant_id == self.tenant_id, _ucr.c.app_request_id.in_(list(app_request_ids)),
                               _ucr.c.status == IN_PROGRESS)
            .values(**closing.values()).returning(*_ucr.c))
        return sorted((user_request_from_row(r) for r in rows), key=lambda r: (r.created_at, r.id))

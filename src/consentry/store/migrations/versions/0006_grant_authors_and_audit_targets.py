"""Who last granted each delegated permission grant, and the ids each audit record is about (so one object's
history can be found without reading the JSON of every record); existing audit records are filled in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    op.add_column("oauth2_permission_grants", sa.Column("granted_by", sa.String(length=256), nullable=True))
    op.add_column("audit_events", sa.Column("target_ids", sa.Text(), nullable=True))
    events = sa.table("audit_events", sa.column("id", sa.String), sa.column("target_resources", sa.JSON),
                      sa.column("target_ids", sa.Text))
    bind = op.get_bind()
    last = ""
    while True:
        rows = bind.execute(sa.select(events.c.id, events.c.target_resources).where(events.c.id > last)
                            .order_by(events.c.id).limit(BATCH)).all()
        if not rows:
            break
        for event_id, targets in rows:
            if isinstance(targets, str):
                targets = json.loads(targets)
            ids = " ".join(str(t.get("id")).lower() for t in targets or () if isinstance(t, dict) and t.get("id"))
            bind.execute(sa.update(events).where(events.c.id == event_id).values(target_ids=f" {ids} "))
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_column("audit_events", "target_ids")
    op.drop_column("oauth2_permission_grants", "granted_by")

"""Who is calling the admin plane: a user through an application (delegated) or an application alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    app_id: str
    object_id: str  # the user's id (delegated) or the client service principal's id (app-only)
    scopes: frozenset[str]
    roles: frozenset[str]
    is_app_only: bool
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

"""Identifiers: GUIDs as Entra writes them (lower-case, hyphenated)."""

from __future__ import annotations

import uuid

NIL_GUID = "00000000-0000-0000-0000-000000000000"


def new_guid() -> str:
    return str(uuid.uuid4())


def is_guid(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def normalize_guid(value: str) -> str:
    return str(uuid.UUID(value))

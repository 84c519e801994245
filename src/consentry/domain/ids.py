"""Identifiers: GUIDs as Entra writes them (lower-case, hyphenated)."""

from __future__ import annotations

import base64
import secrets
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


def opaque_id(size: int) -> str:
    """An opaque base64url id of ``size`` random bytes, as Entra gives grants, assignments and classifications.
    It never starts with "-", so that a command line never mistakes one for an option."""
    while True:
        value = base64.urlsafe_b64encode(secrets.token_bytes(size)).decode().rstrip("=")
        if not value.startswith("-"):
            return value

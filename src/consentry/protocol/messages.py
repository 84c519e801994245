"""The framework-neutral request and answer that cross the web/protocol seam."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProtocolRequest:
    method: str
    url: str  # the full URL as the client sent it (scheme and host from the issuer base)
    base_url: str  # the issuer base, e.g. https://localhost:8443
    tenant_segment: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    client_ip: str | None
    trace_id: str
    correlation_id: str
    path: str = ""

    def param(self, name: str) -> str | None:
        """A parameter from the form body (POST) or the query string (GET)."""
        source = self.form if self.method == "POST" else self.query
        value = source.get(name)
        return value if value not in (None, "") else None


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error_code: int | None = None  # the AADSTS number of an error answer, for metrics

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
        all_headers = {"content-type": "application/json; charset=utf-8", "cache-control": "no-store",
                       "pragma": "no-cache"}
        all_headers.update(headers or {})
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), all_headers)

    @classmethod
    def redirect(cls, location: str) -> Answer:
        return cls(302, b"", {"location": location, "cache-control": "no-store"})

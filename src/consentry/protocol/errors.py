"""Catalog errors in the Microsoft identity platform's wire shapes (spec §3.1, §3.5, §13.9).

Token endpoint JSON::

    {"error", "error_description": "AADSTSn: text\\r\\nTrace ID: …\\r\\nCorrelation ID: …\\r\\nTimestamp: …",
     "error_codes": [n], "timestamp": "yyyy-mm-dd hh:mm:ssZ", "trace_id", "correlation_id", "error_uri",
     "suberror"?}

Authorize redirects carry ``error``, ``error_description`` (same text), ``error_uri``, ``state`` and, for
a cancel, ``error_subcode=cancel``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consentry.errors import ConsentryError
from consentry.protocol.messages import Answer


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M:%SZ")


def full_description(error: ConsentryError, trace_id: str, correlation_id: str, now: datetime) -> str:
    return (f"{error.description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n"
            f"Timestamp: {timestamp(now)}")


def error_uri(base_url: str, error: ConsentryError) -> str | None:
    return f"{base_url}/error?code={error.entry.aadsts}" if error.entry.aadsts else None


def token_error_body(error: ConsentryError, *, base_url: str, trace_id: str, correlation_id: str,
                     now: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": error.entry.oauth_error,
        "error_description": full_description(error, trace_id, correlation_id, now),
        "error_codes": [error.entry.aadsts] if error.entry.aadsts else [],
        "timestamp": timestamp(now),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }
    uri = error_uri(base_url, error)
    if uri:
        body["error_uri"] = uri
    if error.entry.suberror:
        body["suberror"] = error.entry.suberror
    return body


def token_error_answer(error: ConsentryError, *, base_url: str, trace_id: str, correlation_id: str,
                       now: datetime) -> Answer:
    status = error.entry.http_status
    # A protocol error is never a 5xx: MSAL raises instead of returning the error for those.
    if status >= 500 and error.entry.oauth_error not in ("server_error", "temporarily_unavailable"):
        status = 400
    answer = Answer.json(status, token_error_body(error, base_url=base_url, trace_id=trace_id,
                                                  correlation_id=correlation_id, now=now))
    answer.error_code = error.entry.aadsts
    return answer


def redirect_error_params(error: ConsentryError, *, state: str | None, base_url: str, trace_id: str,
                          correlation_id: str, now: datetime, subcode: str | None = None) -> dict[str, str]:
    params = {"error": error.entry.oauth_error,
              "error_description": full_description(error, trace_id, correlation_id, now)}
    uri = error_uri(base_url, error)
    if uri:
        params["error_uri"] = uri
    if subcode:
        params["error_subcode"] = subcode
    if state is not None:
        params["state"] = state
    return params

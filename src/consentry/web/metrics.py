"""Prometheus metrics: requests, token issuance by grant, errors by AADSTS code, latency.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``consentry serve``) makes every
worker write its samples there and ``/metrics`` aggregate them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("consentry_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram("consentry_http_request_duration_seconds", "HTTP request latency", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
TOKENS = Counter("consentry_tokens_issued_total", "Tokens issued", ["grant_type"])
ERRORS = Counter("consentry_errors_total", "Errors returned, by AADSTS code", ["code"])


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST

"""The sign-in log writer. Every /authorize and /token outcome is recorded; rows are buffered and written
in batches by a background thread (at most ``FLUSH_INTERVAL`` late), so that logging does not add a
write transaction to every token request. ``flush()`` writes what is pending at once; readers of the
log call it first, and the server calls it on shutdown.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from consentry.domain.ids import new_guid
from consentry.store.uow import UnitOfWork

FLUSH_INTERVAL = 0.2
MAX_BATCH = 500
log = structlog.get_logger("consentry.signins")


class SignInLog:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def record(self, **row: Any) -> None:
        row.setdefault("id", new_guid())
        with self._lock:
            self._pending.append(row)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="consentry-signin-log", daemon=True)
                self._thread.start()
            if len(self._pending) >= MAX_BATCH:
                self._wake.set()

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        if rows:
            try:
                with self._uow.begin() as tx:
                    tx.add_sign_ins(rows)
            except Exception:
                log.exception("sign-in log write failed", rows=len(rows))

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            self.flush()
            time.sleep(0)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.flush()

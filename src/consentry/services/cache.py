"""A per-process read cache of directory data for the token endpoint's hot path.

Entries are valid for one *directory version*: a counter that every audited change moves on (see
``AuditRepository.add_event``). A request reads that one number once (:func:`pinned_version`) and every
cached lookup it makes is checked against it; the cache drops everything when the number has moved. So
a change made by any process — a disabled service principal, a revoked grant, a new secret — takes
effect at the next request everywhere, while a steady stream of token requests costs one small query.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from consentry.services.context import ServiceContext
    from consentry.store.uow import Transaction

T = TypeVar("T")
MAX_ENTRIES = 50_000
_MISSING = object()
_pinned: contextvars.ContextVar[int | None] = contextvars.ContextVar("directory_version", default=None)


class DirectoryCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: dict[Any, Any] = {}

    def peek(self, version: int, key: Any) -> Any:
        with self._lock:
            if version != self._version:
                return _MISSING
            return self._entries.get(key, _MISSING)

    def put(self, version: int, key: Any, value: Any) -> None:
        with self._lock:
            if version != self._version:
                if self._version is not None and version < self._version:
                    return
                self._entries = {}
                self._version = version
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = value


@contextmanager
def pinned_version(ctx: ServiceContext) -> Iterator[int]:
    """Read the directory version once for the duration of one request."""
    with ctx.uow.read() as tx:
        version = tx.directory_version()
    token = _pinned.set(version)
    try:
        yield version
    finally:
        _pinned.reset(token)


def cached(ctx: ServiceContext, key: Any, load: Callable[[Transaction], T]) -> T:
    """``load(tx)``'s result for ``key``, from the cache when the directory has not changed (errors raised
    by ``load`` are not cached)."""
    version = _pinned.get()
    if version is not None:
        hit = ctx.cache.peek(version, key)
        if hit is not _MISSING:
            return hit
    with ctx.uow.read() as tx:
        current = tx.directory_version()
        hit = ctx.cache.peek(current, key)
        if hit is not _MISSING:
            return hit
        value = load(tx)
    ctx.cache.put(current, key, value)
    return value

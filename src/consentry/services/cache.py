"""A per-process read cache of directory data for the token endpoint's hot path.

Entries are valid for one *directory version*: a counter that every audited change moves on (see
``AuditRepository.add_events``). A change committed by this process clears the cache at once. Changes
committed by other processes (other workers, other hosts) are noticed when the cache next reads the
version from the database, at most ``directory_cache_recheck_ms`` after the last read (default 1 s,
0 to read it on every request). So a disabled service principal, a revoked grant or a new secret takes
effect immediately where it was changed and within that bound everywhere else — Microsoft Entra ID
itself is eventually consistent across its replicas, over minutes rather than a second.
"""

from __future__ import annotations

import contextvars
import threading
import time
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
    def __init__(self, recheck_seconds: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: dict[Any, Any] = {}
        self._checked_at = float("-inf")
        self._recheck = recheck_seconds

    def known_version(self) -> int | None:
        """The directory version read less than ``recheck_seconds`` ago, if any."""
        with self._lock:
            if time.monotonic() - self._checked_at < self._recheck:
                return self._version
            return None

    def observe(self, version: int) -> None:
        """Record a version just read from the database."""
        with self._lock:
            if version != self._version:
                self._entries = {}
                self._version = version
            self._checked_at = time.monotonic()

    def invalidate(self) -> None:
        """This process changed the directory: forget everything and read the version again."""
        with self._lock:
            self._entries = {}
            self._version = None
            self._checked_at = float("-inf")

    def peek(self, version: int, key: Any) -> Any:
        with self._lock:
            if version != self._version:
                return _MISSING
            return self._entries.get(key, _MISSING)

    def put(self, version: int, key: Any, value: Any) -> None:
        with self._lock:
            if version != self._version:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = value


def _current_version(ctx: ServiceContext) -> int:
    version = ctx.cache.known_version()
    if version is None:
        with ctx.uow.read() as tx:
            version = tx.directory_version()
        ctx.cache.observe(version)
    return version


@contextmanager
def pinned_version(ctx: ServiceContext) -> Iterator[int]:
    """Use one directory version for the whole of one request."""
    token = _pinned.set(_current_version(ctx))
    try:
        yield _pinned.get() or 0
    finally:
        _pinned.reset(token)


def directory_version(ctx: ServiceContext) -> int:
    """The directory version this request works with (pinned, or as last read)."""
    pinned = _pinned.get()
    return pinned if pinned is not None else _current_version(ctx)


class Shared:
    """Reads that do not depend on who asks (a tenant, an application, a resource's permissions), shared by
    every computation of one directory version: ``get(key, load)`` is ``load()``'s result for ``key``, from the
    cache while the directory has not changed. Without a cache (``Shared.none()``), every ``get`` loads: for
    transactions that write, which must see what is in the database now."""

    __slots__ = ("_cache", "_version")

    def __init__(self, cache: DirectoryCache | None, version: int) -> None:
        self._cache = cache
        self._version = version

    @classmethod
    def of(cls, ctx: ServiceContext) -> Shared:
        return cls(ctx.cache, directory_version(ctx))

    @classmethod
    def none(cls) -> Shared:
        return cls(None, 0)

    def get(self, key: Any, load: Callable[[], T]) -> T:
        if self._cache is None:
            return load()
        hit = self._cache.peek(self._version, key)
        if hit is not _MISSING:
            return hit
        value = load()
        self._cache.put(self._version, key, value)
        return value


def cached(ctx: ServiceContext, key: Any, load: Callable[[Transaction], T]) -> T:
    """``load(tx)``'s result for ``key``, from the cache while the directory has not changed (errors raised
    by ``load`` are not cached)."""
    version = directory_version(ctx)
    hit = ctx.cache.peek(version, key)
    if hit is not _MISSING:
        return hit
    with ctx.uow.read() as tx:
        value = load(tx)
    ctx.cache.put(version, key, value)
    return value

"""The Redis store's cache of what every request reads and rarely changes (templates, clock
offsets, control values, who is seeded), checked against a generation counter.

Every write of those values moves the counter (`bump`). A request (`scope()`) reads them from
the process's cache, optimistically; its first write checks in the same round trip that the
counter has not moved since (the send and verify scripts compare it with `expected()`; other
writes watch it and `validate`); a request that writes nothing checks it at its end
(`Scope.current()`). When it has moved, nothing is written, the cache is dropped (`stale()`),
StaleRead is raised, and the mock runs the request again on fresh values: a request never acts
on a value some replica changed before its write. What a request reads after its first write
is read from Redis: nothing would check it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mockserver.store.base import Scope, StaleRead

T = TypeVar("T")
MAX_ENTRIES = 10_000
_MISSING = object()


class GenerationCache:
    def __init__(self, key: str, client: Callable[[], Any]) -> None:
        self.key = key  # the counter
        self._client = client  # this thread's Redis client
        self._values: dict[tuple[str, ...], Any] = {}
        self._generation: str | None = None  # of what `_values` holds
        self._lock = threading.Lock()
        self._local = threading.local()  # the request in this thread: used, confirmed, dirty

    @contextmanager
    def scope(self) -> Iterator[Scope]:
        """One request, whose cached reads are checked once: by its first write, or at its end."""
        local = self._local
        local.scoped, local.used, local.confirmed, local.dirty = True, None, False, False
        try:
            yield _Scope(self)
        finally:
            local.scoped = False

    def read(self, key: tuple[str, ...], load: Callable[[Any], Any], parse: Callable[[Any], T]) -> T:
        """`parse` of what `load(pipe)` queues, from the cache when it serves this request;
        outside a scope, always read."""
        local = self._local
        if not getattr(local, "scoped", False):
            pipe = self._client().pipeline(transaction=False)
            load(pipe)
            return parse(pipe.execute()[0])
        if not (local.dirty or local.confirmed):  # after a write, reads are fresh: nothing checks them later
            with self._lock:
                generation, hit = self._generation, self._values.get(key, _MISSING)
            if hit is not _MISSING and local.used in (None, generation):
                local.used = generation
                return hit  # type: ignore[no-any-return]
        pipe = self._client().pipeline()  # MULTI: the value and the counter of one moment
        pipe.get(self.key)
        load(pipe)
        generation, raw = pipe.execute()
        generation = generation or "0"  # no counter yet: nothing was ever changed
        if local.used not in (None, generation) and not (local.confirmed or local.dirty):
            raise self.stale()
        value = parse(raw)
        with self._lock:
            if generation != self._generation:  # something cached changed, somewhere: start over
                self._values, self._generation = {}, generation
            if len(self._values) < MAX_ENTRIES:
                self._values[key] = value
        local.dirty = False
        if local.used is None or local.confirmed:
            local.used = generation
        return value

    def expected(self) -> str:
        """What a write script must find in the counter ('' = no check): this request's cached
        reads are checked by its first write only."""
        local = self._local
        if not getattr(local, "scoped", False) or local.confirmed or local.used is None:
            return ""
        return str(local.used)

    def stale(self) -> StaleRead:
        """The cache is out of date: forget it (the request runs again on fresh values)."""
        with self._lock:
            self._values, self._generation = {}, None
        return StaleRead(f"{self.key} moved on during the request")

    def confirm(self) -> None:
        """A write of this request checked (or did not need) the cache."""
        if getattr(self._local, "scoped", False):
            self._local.confirmed = True

    def validate(self, client: Any = None) -> None:
        """Before a write that is no script: raise StaleRead when this request's cached reads
        are out of date (`client`: a pipe in WATCH mode, so the read runs at once; call it after
        the block's own reads, and watch the counter, so nothing moves it until EXEC); the
        write calls `confirm()` once it is done."""
        expected = self.expected()
        if expected and ((client or self._client()).get(self.key) or "0") != expected:
            raise self.stale()

    def bump(self, pipe: Any) -> None:
        """Queue the counter's step with a write to what processes cache; this request's next
        cached read loads afresh, so it sees its own writes."""
        pipe.incr(self.key)
        with self._lock:  # this process's other requests read afresh too
            self._values, self._generation = {}, None
        if getattr(self._local, "scoped", False):
            self._local.dirty = True


class _Scope(Scope):
    def __init__(self, cache: GenerationCache) -> None:
        self._cache = cache

    def current(self) -> bool:
        """Whether the request's cached reads are still current (one read, unless a write of
        the request checked them already)."""
        cache = self._cache
        expected = cache.expected()
        if not expected or (cache._client().get(cache.key) or "0") == expected:
            return True
        cache.stale()
        return False

"""State stores: one interface, and back-ends behind it (memory, SQLite, Redis)."""

import os

from mockserver.store.base import MessageQuery, Store
from mockserver.store.memory import MemoryStore
from mockserver.store.policy import StorePolicy
from mockserver.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "MessageQuery", "SqliteStore", "Store", "StorePolicy", "open_store"]


def open_store(url: str, policy: StorePolicy | None = None) -> Store:
    """A store from its URL: `memory`, `sqlite:PATH` (durable, shared by the processes of one
    machine) or `redis://HOST:PORT/DB` (shared by replicas on several machines)."""
    from mockserver.errors import ConfigError

    if url == "memory":
        return MemoryStore(policy)
    if url.startswith("sqlite:") and len(url) > len("sqlite:"):
        return _sqlite(url[len("sqlite:"):], policy)
    if url.startswith("redis://"):
        return _redis(url, policy)
    raise ConfigError(f"setting store: expected 'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB', got {url!r}")


def _sqlite(path: str, policy: StorePolicy | None) -> Store:
    import sqlite3

    from mockserver.errors import ConfigError

    if os.path.isdir(path):
        raise ConfigError(f"store sqlite:{path}: that is a folder; give a file path, e.g. sqlite:{path}/state.db")
    try:
        return SqliteStore(path, policy)
    except (sqlite3.Error, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"store sqlite:{path}: cannot open the database ({reason}); give a writable path "
                          "to a new file or to a database the mock made") from None


def _redis(url: str, policy: StorePolicy | None) -> Store:
    from mockserver.errors import ConfigError
    from mockserver.store.redisstore import RedisStore

    try:
        store = RedisStore(url, policy)
    except ValueError as exc:  # the URL itself: a port out of range, a bad database number
        raise ConfigError(f"store {url}: not a Redis URL ({exc}); expected redis://HOST:PORT/DB") from None
    problem = store.problem()
    if problem is not None:
        store.close()
        raise ConfigError(f"store: {problem.rstrip('.')}; start redis-server or fix the URL")
    return store

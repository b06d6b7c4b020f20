"""State stores: one interface, and back-ends behind it (memory now; durable ones can follow)."""

from mockserver.store.base import MessageQuery, Store
from mockserver.store.memory import MemoryStore
from mockserver.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "MessageQuery", "SqliteStore", "Store", "open_store"]


def open_store(url: str, retention_seconds: float = 3600.0, max_messages: int = 100_000,
               max_tenants: int = 10_000) -> Store:
    """A store from its URL: `memory`, `sqlite:PATH` (durable, shared by the processes of one
    machine) or `redis://HOST:PORT/DB` (shared by replicas on several machines)."""
    from mockserver.errors import ConfigError

    if url == "memory":
        return MemoryStore(retention_seconds, max_messages, max_tenants=max_tenants)
    if url.startswith("sqlite:") and len(url) > len("sqlite:"):
        return SqliteStore(url[len("sqlite:"):], retention_seconds, max_messages)
    if url.startswith("redis://"):
        from mockserver.store.redisstore import RedisStore

        return RedisStore(url, retention_seconds, max_messages)
    raise ConfigError(f"setting store: expected 'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB', got {url!r}")

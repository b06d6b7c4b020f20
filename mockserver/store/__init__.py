"""State stores: one interface, and back-ends behind it (memory, SQLite, Redis)."""

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
        return SqliteStore(url[len("sqlite:"):], policy)
    if url.startswith("redis://"):
        from mockserver.store.redisstore import RedisStore

        return RedisStore(url, policy)
    raise ConfigError(f"setting store: expected 'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB', got {url!r}")

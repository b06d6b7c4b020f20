"""State stores: one interface, and back-ends behind it (memory now; durable ones can follow)."""

from mockserver.store.base import MessageQuery, Store
from mockserver.store.memory import MemoryStore

__all__ = ["MemoryStore", "MessageQuery", "Store"]

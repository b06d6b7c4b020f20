"""The memory store's callback deliveries: a dict in insertion order, with the pending ones'
due times beside it. Used under the memory store's lock."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar

from mockserver.callbacks.delivery import PENDING, Delivery
from mockserver.store.base import DeliveryQuery
from mockserver.textsafe import shown

log = logging.getLogger("mockserver")

T = TypeVar("T")


class MemoryDeliveries:
    def __init__(self, size: int) -> None:
        self.size = size
        self.kept: OrderedDict[str, Delivery] = OrderedDict()
        self.due: dict[str, float] = {}  # id -> due, of the pending ones

    def add(self, deliveries: Sequence[Delivery]) -> int:
        added = 0
        for delivery in deliveries:
            if delivery.id not in self.kept:
                self.kept[delivery.id] = delivery
                self._index(delivery)
                added += 1
        tenants = {d.tenant for d in deliveries}
        while len(self.kept) > self.size:  # the oldest finished first, then the adding keys' own pending
            victim = next((i for i, d in self.kept.items() if d.status != PENDING), None)
            if victim is None:
                victim = next(i for i, d in self.kept.items() if d.tenant in tenants)  # the new ones are
                log.warning("callbacks: the delivery log is full of pending deliveries (max_deliveries %d); "
                            "dropped dev_key %s's oldest pending one", self.size, shown(victim_tenant(self, victim)))
            self.drop(victim)
        return added

    def _index(self, delivery: Delivery) -> None:
        due = delivery.due
        if due is None:
            self.due.pop(delivery.id, None)
        else:
            self.due[delivery.id] = due

    def drop(self, delivery_id: str) -> None:
        self.kept.pop(delivery_id, None)
        self.due.pop(delivery_id, None)

    def update(self, delivery_id: str, step: Callable[[Delivery], tuple[Delivery, T]]) -> T | None:
        current = self.kept.get(delivery_id)
        if current is None:
            return None
        updated, result = step(current)
        if updated is not current:
            self.kept[delivery_id] = updated
            self._index(updated)
        return result

    def due_by(self, now: float, limit: int) -> list[str]:
        ready = [(due, i) for i, due in self.due.items() if due <= now]
        if not ready:
            return []
        order = {i: n for n, i in enumerate(self.kept)}  # ties: in the order they were added
        return [i for _, _, i in sorted((due, order[i], i) for due, i in ready)[:limit]]

    def find(self, query: DeliveryQuery) -> list[Delivery]:
        found: list[Delivery] = []
        for delivery in reversed(self.kept.values()):
            if matches(delivery, query):
                found.append(delivery)
                if len(found) >= query.limit:
                    break
        return found

    def forget(self, tenant: str | None) -> None:
        if not self.kept:
            return
        for delivery_id in [i for i, d in self.kept.items() if tenant is None or d.tenant == tenant]:
            self.drop(delivery_id)


def victim_tenant(kept: MemoryDeliveries, delivery_id: str) -> str | None:
    found = kept.kept.get(delivery_id)
    return found.tenant if found is not None else None


def matches(delivery: Delivery, query: DeliveryQuery) -> bool:
    """Whether a delivery passes a query's filters (the stores that cannot filter in place use it)."""
    return ((query.tenant is None or delivery.tenant == query.tenant)
            and (query.status is None or delivery.status == query.status)
            and (query.message_id is None or query.message_id in delivery.message_ids)
            and (query.since is None or delivery.created_at >= query.since))

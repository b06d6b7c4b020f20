"""The in-memory store: one process, thread-safe through one lock, bounded in size."""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, TypeVar

from mockserver.callbacks.delivery import Delivery
from mockserver.events import StreamEvent, message_event, message_events
from mockserver.otp.model import Event, Message, Template, stored_bytes
from mockserver.store.base import (
    MAX_CLAIM,
    DeliveryQuery,
    MessageQuery,
    Progress,
    Scope,
    StoreUnavailable,
    check_room,
    due_estimate,
    find_blocking,
    purge_deadline,
)
from mockserver.store.memdeliveries import MemoryDeliveries
from mockserver.store.memstream import MemoryStream
from mockserver.store.policy import PURGE_BATCH, StorePolicy

T = TypeVar("T")
PURGE_PER_INSERT = 1000  # purge-heap entries one send may pop
SHRINK_ABOVE = 4096  # a tenant's dicts are copied smaller once they fall to a quarter of a peak above this

# Stored messages are packed into plain tuples of atoms (str, float, int, None, bool and such
# tuples), which CPython's garbage collector untracks: a Message with its 4 Events, lifecycle
# tuple and params dict is 6-7 tracked objects, and a full collection over a million of them
# paused the process 1.6 s. Packed: Message's field values in `fields(Message)` order, with
# `lifecycle` as ((status, at, detail, real_at), ...) and `params` as ((key, value), ...) in dict
# order. A message is unpacked into a fresh Message whenever it leaves the store.
Packed = tuple[Any, ...]
_FIELDS = tuple(f.name for f in fields(Message))
assert all(f.init and not f.kw_only for f in fields(Message)), "Message(*values) must take every field"
_MESSAGE_ID, _TO, _TEMPLATE_ID, _CREATED_AT, _LIFECYCLE, _PARAMS, _TEXT, _SUBJECT = (
    _FIELDS.index(name) for name in ("message_id", "to", "template_id", "created_at", "lifecycle", "params",
                                     "text", "subject"))
assert _PARAMS == _LIFECYCLE + 1
_message_values = attrgetter(*_FIELDS)
_event_values = attrgetter(*(f.name for f in fields(Event)))


def _pack(message: Message) -> Packed:
    values: Packed = _message_values(message)
    return (*values[:_LIFECYCLE], tuple([_event_values(e) for e in message.lifecycle]),
            tuple(message.params.items()), *values[_PARAMS + 1:])


def _size(packed: Packed) -> int:
    return stored_bytes(packed[_TEXT], packed[_SUBJECT], packed[_PARAMS])


def _unpack(packed: Packed) -> Message:
    values = list(packed)
    values[_LIFECYCLE] = tuple([Event(*e) for e in packed[_LIFECYCLE]])
    values[_PARAMS] = dict(packed[_PARAMS])
    return Message(*values)


@dataclass
class _Tenant:
    templates: dict[str, Template] = field(default_factory=dict)
    messages: OrderedDict[str, Packed] = field(default_factory=OrderedDict)  # id -> packed message
    active: dict[str, str] = field(default_factory=dict)  # resend key -> message_id
    keys: dict[str, str] = field(default_factory=dict)  # message_id -> its resend key
    due: dict[str, float] = field(default_factory=dict)  # message_id -> when its next timed step is due
    bytes: int = 0  # Message.size of every message held
    offset: float = 0.0
    peak: int = 0  # the most messages held since the dicts were last copied

    def shrink(self) -> None:
        self.messages = OrderedDict(self.messages)
        self.active = dict(self.active)
        self.keys = dict(self.keys)
        self.due = dict(self.due)
        self.peak = len(self.messages)


class MemoryStore:
    """State in dictionaries. Expired messages are purged after `retention_seconds` of real
    time, at most `max_messages` are kept (the oldest-to-purge go first) and at most
    `max_tenants` dev_keys hold state (the least recently used is forgotten), so memory stays
    flat however long the mock runs."""

    name = "memory"
    unavailable: tuple[type[BaseException], ...] = (StoreUnavailable,)

    def __init__(self, policy: StorePolicy | None = None, real_time: Callable[[], float] = time.time,
                 **limits: Any) -> None:
        self.policy = StorePolicy.of(policy, limits)
        self._lock = threading.RLock()
        self._nodes_issued = 0
        self._tenants: OrderedDict[str, _Tenant] = OrderedDict()
        self._seeded: set[str] = set()
        self._offset = 0.0
        self._real_time = real_time
        self._purge_heap: list[tuple[float, int, str, str]] = []
        self._due_heap: list[tuple[float, int, str, str]] = []
        self._where: dict[str, str] = {}  # message_id -> tenant
        self._seq = 0
        self._count = 0
        self._values: dict[str, str] = {}
        self._progress: OrderedDict[tuple[str, str], Progress] = OrderedDict()
        self._stream = MemoryStream(self.policy.max_events)
        self._deliveries = MemoryDeliveries(self.policy.max_deliveries)

    # tenants ------------------------------------------------------------------------------
    def _tenant(self, tenant: str) -> _Tenant:
        state = self._tenants.get(tenant)
        if state is None:
            state = self._tenants[tenant] = _Tenant()
            while len(self._tenants) > self.policy.max_tenants:
                self._forget(next(iter(self._tenants)))
        self._tenants.move_to_end(tenant)
        return state

    def _forget(self, tenant: str) -> None:
        state = self._tenants.pop(tenant, None)
        self._seeded.discard(tenant)
        self._deliveries.forget(tenant)
        if state is not None:
            self._count -= len(state.messages)
            for message_id in state.messages:
                self._where.pop(message_id, None)
        if len(self._purge_heap) > 2 * self._count + 64:  # drop entries of forgotten messages
            self._purge_heap = [e for e in self._purge_heap if e[2] in self._tenants
                                and e[3] in self._tenants[e[2]].messages]
            heapq.heapify(self._purge_heap)

    def seed_tenant(self, tenant: str, templates: Iterable[Template]) -> None:
        with self._lock:
            if tenant in self._seeded:
                return
            state = self._tenant(tenant)
            for template in templates:
                state.templates.setdefault(template.template_id, template)
            self._seeded.add(tenant)

    def reset(self, tenant: str | None = None) -> None:
        with self._lock:
            if tenant is None:
                self._tenants.clear()
                self._seeded.clear()
                self._purge_heap.clear()
                self._due_heap.clear()
                self._where.clear()
                self._offset = 0.0
                self._count = 0
                self._stream.records.clear()
                self._deliveries.forget(None)
                return
            self._forget(tenant)

    def tenants(self) -> list[str]:
        with self._lock:
            return sorted(self._tenants)

    # clock --------------------------------------------------------------------------------
    def clock_offset(self, tenant: str) -> float:
        with self._lock:
            state = self._tenants.get(tenant)
            return self._offset + (state.offset if state else 0.0)

    def advance_clock(self, seconds: float, tenant: str | None = None) -> float:
        with self._lock:
            if tenant is None:
                self._offset += seconds
                states = list(self._tenants.items())
            else:
                state = self._tenant(tenant)
                state.offset += seconds
                states = [(tenant, state)]
            for name, state in states:  # timed steps come closer; older heap entries go stale
                for message_id in state.due:
                    state.due[message_id] -= seconds
                    self._push_due(name, message_id, state.due[message_id])
            return self._offset + (0.0 if tenant is None else self._tenants[tenant].offset)

    # templates ----------------------------------------------------------------------------
    def get_template(self, tenant: str, template_id: str) -> Template | None:
        with self._lock:
            return self._tenant(tenant).templates.get(template_id)

    def list_templates(self, tenant: str) -> list[Template]:
        with self._lock:
            return list(self._tenant(tenant).templates.values())

    def insert_template(self, tenant: str, template: Template) -> bool:
        with self._lock:
            templates = self._tenant(tenant).templates
            if template.template_id in templates:
                return False
            templates[template.template_id] = template
            return True

    def replace_template(self, tenant: str, template: Template) -> bool:
        with self._lock:
            templates = self._tenant(tenant).templates
            if template.template_id not in templates:
                return False
            templates[template.template_id] = template
            return True

    def delete_template(self, tenant: str, template_id: str) -> bool:
        with self._lock:
            return self._tenant(tenant).templates.pop(template_id, None) is not None

    # messages -----------------------------------------------------------------------------
    def insert_messages(
        self, batch: list[tuple[Message, str | None]], now: float, also: Sequence[StreamEvent] = ()
    ) -> Message | None:
        with self._lock:
            blocking = find_blocking(batch, now, self._holder)
            if blocking is not None:
                return blocking
            tenant = batch[0][0].tenant
            check_room(tenant, self._tenant(tenant).bytes, [m for m, _ in batch], self.policy.max_key_bytes)
            real = self._real_time()
            for message, key in batch:
                self._insert(message, key, real)
            self._stream.append([*message_events([(None, m) for m, _ in batch], real), *also])
            # A bounded share of the purge per send: a million messages expiring at once must not
            # stall one request (measured: 2.9 s); the backlog drains send by send, and purge()
            # takes it all.
            self._purge_locked(real, limit=PURGE_PER_INSERT + 2 * len(batch))
            while self._count > self.policy.max_messages and self._purge_heap:
                self._drop(*heapq.heappop(self._purge_heap)[2:])
            return None

    def _holder(self, tenant: str, key: str) -> Message | None:
        state = self._tenant(tenant)
        packed = state.messages.get(state.active.get(key, ""))
        return None if packed is None else _unpack(packed)

    def _insert(self, message: Message, key: str | None, real: float) -> None:
        state = self._tenant(message.tenant)
        if key is not None:
            previous = state.active.get(key)
            if previous is not None:
                state.keys.pop(previous, None)
            state.active[key] = message.message_id
            state.keys[message.message_id] = key
        state.messages[message.message_id] = _pack(message)
        state.bytes += message.size
        self._where[message.message_id] = message.tenant
        state.peak = max(state.peak, len(state.messages))
        self._count += 1
        self._seq += 1
        due = purge_deadline(message, real, self.policy.retention_seconds)
        heapq.heappush(self._purge_heap, (due, self._seq, message.tenant, message.message_id))
        self._set_due(message, state)

    def _set_due(self, message: Message, state: _Tenant) -> None:
        due = due_estimate(message, self._offset + state.offset)
        if due is None:
            state.due.pop(message.message_id, None)
        elif state.due.get(message.message_id) != due:
            state.due[message.message_id] = due
            self._push_due(message.tenant, message.message_id, due)

    def _push_due(self, tenant: str, message_id: str, due: float) -> None:
        self._seq += 1
        heapq.heappush(self._due_heap, (due, self._seq, tenant, message_id))

    def get_message(self, tenant: str, message_id: str) -> Message | None:
        with self._lock:
            state = self._tenants.get(tenant)
            packed = state.messages.get(message_id) if state else None
        return None if packed is None else _unpack(packed)

    def find_message(self, message_id: str) -> Message | None:
        with self._lock:
            tenant = self._where.get(message_id)
        return None if tenant is None else self.get_message(tenant, message_id)

    def update_message(
        self, tenant: str, message_id: str, step: Callable[[Message], tuple[Message, T]],
        also: Callable[[T], Sequence[StreamEvent]] | None = None,
    ) -> T | None:
        with self._lock:
            state = self._tenants.get(tenant)
            packed = state.messages.get(message_id) if state else None
            if state is None or packed is None:
                return None
            current = _unpack(packed)
            updated, result = step(current)
            extra = also(result) if also is not None else ()
            event = message_event(current, updated, self._real_time()) if updated is not current else None
            if updated is not current:  # steps return the message itself when nothing changed
                state.messages[message_id] = _pack(updated)
            self._stream.append([*([event] if event is not None else []), *extra])
            self._set_due(updated, state)
            return result

    def find_messages(self, query: MessageQuery) -> list[Message]:
        with self._lock:
            if query.tenant is not None:
                state = self._tenants.get(query.tenant)
                pools = [state.messages] if state else []
            else:
                pools = [s.messages for s in self._tenants.values()]
            found: list[Packed] = []
            for pool in pools:
                taken = 0
                for packed in reversed(pool.values()):
                    if _matches(packed, query):
                        found.append(packed)
                        taken += 1
                        if taken >= query.limit:
                            break
        found.sort(key=lambda p: (p[_CREATED_AT], p[_MESSAGE_ID]), reverse=True)
        return [_unpack(packed) for packed in found[: query.limit]]

    def count_messages(self) -> int:
        with self._lock:
            return self._count

    def due_messages(self, now: float, limit: int) -> list[tuple[str, str]]:
        with self._lock:
            found: list[tuple[str, str]] = []
            heap = self._due_heap
            while heap and heap[0][0] <= now and len(found) < limit:
                due, _, tenant, message_id = heapq.heappop(heap)
                state = self._tenants.get(tenant)
                if state is not None and state.due.get(message_id) == due:  # else a stale entry
                    del state.due[message_id]  # handed out: the update that settles it sets the next
                    found.append((tenant, message_id))
            return found

    def purge(self, now: float) -> int:
        with self._lock:
            return self._purge_locked(now)

    def housekeeping(self, limit: int = PURGE_BATCH) -> None:
        with self._lock:  # the caps hold at every insert already; the purge drains in batches
            self._purge_locked(self._real_time(), limit=limit)
            if len(self._due_heap) > 4 * (sum(len(s.due) for s in self._tenants.values()) + 64):
                self._due_heap = [(d, n, t, m) for d, n, t, m in self._due_heap
                                  if t in self._tenants and self._tenants[t].due.get(m) == d]
                heapq.heapify(self._due_heap)

    def _purge_locked(self, now: float, limit: int | None = None) -> int:
        dropped, popped = 0, 0
        while self._purge_heap and self._purge_heap[0][0] <= now and (limit is None or popped < limit):
            _, _, tenant, message_id = heapq.heappop(self._purge_heap)
            dropped += self._drop(tenant, message_id)
            popped += 1
        return dropped

    def _drop(self, tenant: str, message_id: str) -> int:
        state = self._tenants.get(tenant)
        packed = state.messages.pop(message_id, None) if state is not None else None
        if state is None or packed is None:
            return 0
        state.bytes -= _size(packed)
        self._count -= 1
        self._where.pop(message_id, None)
        state.due.pop(message_id, None)
        key = state.keys.pop(message_id, None)
        if key is not None and state.active.get(key) == message_id:
            del state.active[key]
        if state.peak > SHRINK_ABOVE and len(state.messages) < state.peak // 4:
            state.shrink()  # Python dicts never give memory back on deletion: copy them smaller
        return 1

    # the control plane's state --------------------------------------------------------------
    def get_values(self, names: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return {name: self._values[name] for name in names if name in self._values}

    def set_value(self, name: str, value: str | None) -> None:
        with self._lock:
            if value is None:
                self._values.pop(name, None)
            else:
                self._values[name] = value

    def values(self, prefix: str) -> dict[str, str]:
        with self._lock:
            return {k: v for k, v in self._values.items() if k.startswith(prefix)}

    def update_progress(
        self, scenario: str, tenant: str, step: Callable[[Progress | None], tuple[Progress, T]]
    ) -> T:
        key = (scenario, tenant)
        with self._lock:
            progress, result = step(self._progress.get(key))
            self._progress[key] = progress
            self._progress.move_to_end(key)
            while len(self._progress) > self.policy.max_progress:
                self._progress.popitem(last=False)
            return result

    def clear_progress(self, scenario: str | None = None, tenant: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._progress if scenario in (None, k[0]) and tenant in (None, k[1])]:
                del self._progress[key]

    # the event stream ---------------------------------------------------------------------
    def append_events(self, events: Sequence[StreamEvent]) -> list[int]:
        with self._lock:
            return self._stream.append(events)

    def read_events(self, after: int = 0, tenant: str | None = None, types: Sequence[str] | None = None,
                    limit: int = 100) -> list[StreamEvent]:
        with self._lock:
            found = (e for e in self._stream.after(after) if _wanted(e, tenant, types))
            return list(itertools.islice(found, limit))

    def recent_events(self, tenant: str | None = None, types: Sequence[str] | None = None,
                      limit: int = 100) -> list[StreamEvent]:
        with self._lock:
            found = (e for e in reversed(self._stream.records) if _wanted(e, tenant, types))
            return list(itertools.islice(found, limit))

    def event_bounds(self) -> tuple[int, int]:
        with self._lock:
            return self._stream.oldest, self._stream.head

    def claim_events(self, consumer: str, limit: int, lease_seconds: float) -> list[StreamEvent]:
        with self._lock:
            return self._stream.claim(consumer, min(limit, MAX_CLAIM), lease_seconds, self._real_time())

    def ack_events(self, consumer: str, seqs: Sequence[int]) -> int:
        with self._lock:
            pending = self._stream.pending.get(consumer, {})
            return sum(1 for seq in seqs if pending.pop(seq, None) is not None)

    # callback deliveries ------------------------------------------------------------------
    def add_deliveries(self, deliveries: Sequence[Delivery]) -> int:
        with self._lock:
            return self._deliveries.add(deliveries)

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            return self._deliveries.kept.get(delivery_id)

    def update_delivery(self, delivery_id: str, step: Callable[[Delivery], tuple[Delivery, T]]) -> T | None:
        with self._lock:
            return self._deliveries.update(delivery_id, step)

    def due_deliveries(self, now: float, limit: int) -> list[str]:
        with self._lock:
            return self._deliveries.due_by(now, limit)

    def find_deliveries(self, query: DeliveryQuery) -> list[Delivery]:
        with self._lock:
            return self._deliveries.find(query)

    def next_node(self) -> int:
        """One process holds this store, but several mocks of it may share it: each takes its own."""
        with self._lock:
            self._nodes_issued += 1
            return os.getpid() + self._nodes_issued - 1

    def problem(self) -> str | None:
        return None  # in the process: it is there while the process is

    def scope(self) -> AbstractContextManager[Scope]:
        return nullcontext(Scope())  # every read is current

    def close(self) -> None:
        pass


def _wanted(event: StreamEvent, tenant: str | None, types: Sequence[str] | None) -> bool:
    return (tenant is None or event.tenant == tenant) and (types is None or event.type in types)


def _matches(packed: Packed, query: MessageQuery) -> bool:
    return (query.to is None or packed[_TO] == query.to) and (
        query.template_id is None or packed[_TEMPLATE_ID] == query.template_id
    )

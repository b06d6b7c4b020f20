"""The memory store's event stream: the last records of this process, and consumers' claims."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence

from mockserver.events import StreamEvent


class MemoryStream:
    """The event stream of one process: the last `size` records, and the consumers' claims."""

    def __init__(self, size: int) -> None:
        self.records: deque[StreamEvent] = deque(maxlen=size)
        self.head = 0
        self.cursors: dict[str, int] = {}
        self.pending: dict[str, dict[int, float]] = {}  # consumer -> seq -> lease end

    def append(self, events: Sequence[StreamEvent]) -> list[int]:
        seqs = []
        for event in events:
            self.head += 1
            self.records.append(event.with_seq(self.head))
            seqs.append(self.head)
        return seqs

    @property
    def oldest(self) -> int:
        return self.records[0].seq if self.records else self.head + 1

    def after(self, seq: int) -> Iterable[StreamEvent]:
        start = max(0, seq - self.oldest + 1)
        return itertools.islice(self.records, start, None)

    def get(self, seq: int) -> StreamEvent | None:
        index = seq - self.oldest
        return self.records[index] if 0 <= index < len(self.records) else None

    def claim(self, consumer: str, limit: int, lease: float, now: float) -> list[StreamEvent]:
        pending = self.pending.setdefault(consumer, {})
        taken: list[StreamEvent] = []
        for seq in sorted(s for s, until in pending.items() if until <= now):
            if len(taken) >= limit:
                break
            event = self.get(seq)
            if event is None:  # gone with the retention: nothing to hand out
                del pending[seq]
                continue
            pending[seq] = now + lease
            taken.append(event)
        cursor = max(self.cursors.get(consumer, 0), self.oldest - 1)
        for event in itertools.islice(self.after(cursor), max(0, limit - len(taken))):
            pending[event.seq] = now + lease
            cursor = event.seq
            taken.append(event)
        self.cursors[consumer] = cursor
        return taken

"""Message ids: 19-digit strings, snowflake-like, unique across threads and processes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

_EPOCH_MS = 1_288_834_974_657  # the epoch of the classic snowflake; gives 19 digits until ~2080


class MessageIds:
    """Time in milliseconds, a node number and a sequence, packed as in a snowflake id.

    The node (10 bits) is `node` when given, else one `issue()` hands out (the store's counter,
    so that processes sharing a store, on one machine or several, never share a node while fewer
    than 1024 have started since), else the process id. A forked process takes a node of its own."""

    def __init__(self, node: int | None = None, issue: Callable[[], int] | None = None) -> None:
        self._fixed = node
        self._issue = issue
        self._pid = 0
        self._node = 0
        self._lock = threading.Lock()
        self._last_ms = 0
        self._seq = 0

    def next(self) -> str:
        with self._lock:
            if self._pid != os.getpid():  # a worker forked from the master takes its own node number
                self._pid = os.getpid()
                self._node = self._take_node() & 0x3FF
            now_ms = max(int(time.time() * 1000), self._last_ms)
            if now_ms == self._last_ms:
                self._seq = (self._seq + 1) & 0xFFF
                if self._seq == 0:  # 4096 ids in one millisecond: borrow the next one
                    now_ms += 1
            else:
                self._seq = 0
            self._last_ms = now_ms
            value = ((now_ms - _EPOCH_MS) << 22) | (self._node << 12) | self._seq
        return str(value)

    def _take_node(self) -> int:
        if self._fixed is not None:
            return self._fixed
        return self._issue() if self._issue is not None else self._pid

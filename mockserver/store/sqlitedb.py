"""The SQLite store's plumbing: one connection per process with a queue for writers, and the
generation counter that keeps every process's cache honest (see sqlite.py)."""

from __future__ import annotations

import fcntl
import mmap
import os
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from mockserver.store.base import StoreUnavailable


class Generation:
    """A 64-bit counter in a file mapped into every process that opens the store."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def value(self) -> int:
        return int(struct.unpack_from("<Q", self._map)[0])

    def bump(self) -> None:  # only under the write lock: no two bumps at once
        struct.pack_into("<Q", self._map, 0, self.value() + 1)


def file_identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


_INHERITED: list[sqlite3.Connection] = []  # connections a forked process must neither use nor close


class Database:
    """One SQLite file, one connection per process, used by one thread at a time.

    A connection per thread measured worse with four threads than with one: each connection
    keeps its own page cache, and every commit of a sibling connection throws it away. So the
    threads of a process take turns on one connection (a lock; the GIL serialises their Python
    anyway), and write transactions queue across processes on an flock of `PATH-lock`.
    """

    def __init__(self, path: str, setup: Callable[[sqlite3.Connection], None]) -> None:
        self.path = path
        self._setup = setup
        self._turn = threading.RLock()
        self._pid = 0
        self._db: sqlite3.Connection | None = None
        self._lock_fd = -1
        self.identity: tuple[int, int] | None = None  # (device, inode) of the file this store opened
        with self._turn:
            db = self._connection()
            db.execute("PRAGMA page_size=2048")  # a new file only: a send writes 5 b-tree pages to the WAL
            setup(db)
            self.identity = file_identity(path)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():  # a forked worker opens its own
            if self._db is not None:  # the master's: never closed here (SQLite: no use across a fork)
                _INHERITED.append(self._db)
            if self.identity is not None and file_identity(self.path) != self.identity:
                raise StoreUnavailable(f"the SQLite file {self.path} was deleted or replaced since the mock "
                                       "opened it; restart the mock")
            # After the first open the file must be there: "rw" never creates an empty one.
            target = self.path if self.identity is None else f"file:{quote(self.path)}?mode=rw"
            db = sqlite3.connect(target, timeout=30, isolation_level=None, check_same_thread=False,
                                 uri=self.identity is not None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA busy_timeout=30000")
            if self.identity is not None:
                self._setup(db)  # every process's connection: the tables are there, whoever made the file
            self._db, self._pid = db, os.getpid()
            self._lock_fd = os.open(self.path + "-lock", os.O_RDWR | os.O_CREAT, 0o600)
        return self._db

    def problem(self) -> str | None:
        """Why the store cannot be trusted any more, or None: its file was deleted or replaced."""
        if self.identity is not None and file_identity(self.path) != self.identity:
            return f"the SQLite file {self.path} was deleted or replaced since the mock opened it; restart the mock"
        return None

    def rows(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        """All rows of one read."""
        with self._turn:
            return self._connection().execute(sql, args).fetchall()

    @contextmanager
    def write(self, after_commit: Callable[[], None] | None = None) -> Iterator[sqlite3.Connection]:
        """One atomic transaction that holds the write lock from its first statement;
        `after_commit` runs once it is committed, still under the lock."""
        with self._turn:
            db = self._connection()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                if after_commit is not None:
                    after_commit()
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._turn:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
                os.close(self._lock_fd)
            self._db = None

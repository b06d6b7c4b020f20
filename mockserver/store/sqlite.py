"""The SQLite store: durable, and shared by the worker processes of one machine.

Every operation that must be atomic runs in one `BEGIN IMMEDIATE` transaction (the write lock
is taken before reading), so "verify exactly once" and the 3004 window hold across processes.
WAL mode lets readers go on while one writer commits. The event stream is a table of the same
file, so a message and the record of its new steps are committed together.

Writers queue on an `flock` of a lock file beside the database before they begin: the kernel
wakes the next writer the moment the lock is free, where SQLite's own busy handler sleeps
1, 2, 5, 10... ms between tries (measured: a p99 of 210 ms with two workers).
`synchronous=OFF`: a commit is in the operating system's hands at once, so state survives a
crash or restart of the mock, not a power cut of the machine (a mock's trade-off).

What rarely changes and every request reads (templates, clock offsets, control values) is
cached in each process under a generation number: a counter in a small file beside the
database (`PATH-gen`), mapped in memory, that every write to those tables adds one to after its
COMMIT, while it still holds the write lock. A reader reads the counter (about a microsecond)
before it reads the database and keeps the result under that number, so a cached value is only
used while nothing it came from has changed, in any process. Writes made to the file by other
tools do not move the counter: restart the mock after editing its database by hand.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from mockserver.callbacks import delivery as deliveries
from mockserver.callbacks.delivery import Delivery
from mockserver.events import StreamEvent, decode, encode, message_event, message_events
from mockserver.otp.codec import (
    from_json,
    message_from_json,
    message_to_json,
    template_from_json,
    template_to_json,
    to_json,
)
from mockserver.otp.model import Message, Template
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
from mockserver.store.policy import PURGE_BATCH, StorePolicy
from mockserver.store.sqlitedb import Database, Generation

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clock (tenant TEXT PRIMARY KEY, offset REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (tenant TEXT PRIMARY KEY, seeded INTEGER NOT NULL DEFAULT 0,
    touched REAL NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS templates (
    seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, template_id TEXT NOT NULL,
    data TEXT NOT NULL, UNIQUE (tenant, template_id));
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, message_id TEXT NOT NULL,
    resend_key TEXT, recipient TEXT NOT NULL, template_id TEXT NOT NULL, created_at REAL NOT NULL,
    purge_at REAL NOT NULL, data TEXT NOT NULL, due REAL, size INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, message_id));
CREATE INDEX IF NOT EXISTS messages_resend ON messages (tenant, resend_key);
CREATE INDEX IF NOT EXISTS messages_purge ON messages (purge_at);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages (recipient, created_at);
CREATE TABLE IF NOT EXISTS control (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS progress (
    scenario TEXT NOT NULL, tenant TEXT NOT NULL, data TEXT NOT NULL, touched REAL NOT NULL,
    PRIMARY KEY (scenario, tenant));
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, tenant TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_tenant ON events (tenant, seq);
CREATE TABLE IF NOT EXISTS event_cursors (consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS event_claims (consumer TEXT NOT NULL, seq INTEGER NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (consumer, seq));
CREATE TABLE IF NOT EXISTS deliveries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, tenant TEXT,
    status TEXT NOT NULL, due REAL, created REAL NOT NULL, message_ids TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (due) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_tenant ON deliveries (tenant, seq);
"""
# Files made by earlier versions gain what this one needs (CREATE TABLE IF NOT EXISTS keeps old tables).
_MIGRATIONS = (
    ("messages", "due", "ALTER TABLE messages ADD COLUMN due REAL"),
    ("messages", "size", "ALTER TABLE messages ADD COLUMN size INTEGER NOT NULL DEFAULT 0"),
    ("tenants", "touched", "ALTER TABLE tenants ADD COLUMN touched REAL NOT NULL DEFAULT 0"),
    ("tenants", "bytes", "ALTER TABLE tenants ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0"),
)
# A tenant's `bytes` follows its messages whoever inserts or deletes them (purge, cap, reset).
_INDEXES = """
CREATE INDEX IF NOT EXISTS messages_due ON messages (due) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_id ON messages (message_id);
CREATE INDEX IF NOT EXISTS messages_newest ON messages (created_at, message_id);
CREATE INDEX IF NOT EXISTS messages_tenant_newest ON messages (tenant, created_at, message_id);
CREATE TRIGGER IF NOT EXISTS messages_bytes_in AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO tenants (tenant) VALUES (NEW.tenant);
    UPDATE tenants SET bytes = bytes + NEW.size WHERE tenant = NEW.tenant;
END;
CREATE TRIGGER IF NOT EXISTS messages_bytes_out AFTER DELETE ON messages BEGIN
    UPDATE tenants SET bytes = bytes - OLD.size WHERE tenant = OLD.tenant;
END;
"""
GLOBAL = ""  # the clock row of everyone
CACHE_SIZE = 10_000  # cached reads per process; all dropped at once when full
TOUCH_SECONDS = 10.0  # a tenant's last activity is written at most this often per process

log = logging.getLogger("mockserver")


class SqliteStore:
    """State in one SQLite file, shared by the processes that open it."""

    name = "sqlite"
    unavailable: tuple[type[BaseException], ...] = (StoreUnavailable, sqlite3.OperationalError)

    def __init__(self, path: str | Path, policy: StorePolicy | None = None,
                 real_time: Callable[[], float] = time.time, **limits: Any) -> None:
        self.path = str(path)
        self.policy = StorePolicy.of(policy, limits)
        self._real_time = real_time
        self._db = Database(self.path, _setup)
        self._known = 0  # messages stored as this process last counted, plus its inserts since
        self._touched: dict[str, float] = {}  # tenant -> when this process last wrote its activity
        self._generation = Generation(self.path + "-gen")
        self._cache: dict[tuple[str, ...], tuple[int, Any]] = {}
        with self._write(bump=True):  # whatever another process cached of this file is read again
            pass

    @contextmanager
    def _write(self, bump: bool = False) -> Iterator[sqlite3.Connection]:
        """One atomic transaction; `bump`: it changes what processes cache (templates, clocks,
        control values)."""
        with self._db.write(self._generation.bump if bump else None) as db:
            yield db

    def _cached(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        """`load()`, or what it gave under the current generation (see the module's docstring)."""
        generation = self._generation.value()  # read before the database: a later write misses
        hit = self._cache.get(key)
        if hit is not None and hit[0] == generation:
            return hit[1]  # type: ignore[no-any-return]
        value = load()
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = (generation, value)
        return value

    # tenants ------------------------------------------------------------------------------
    def seed_tenant(self, tenant: str, templates: Iterable[Template]) -> None:
        # A cached read first, so seeded tenants never take the write lock.
        if self._cached(("seeded", tenant), lambda: bool(self._db.rows(
                "SELECT 1 FROM tenants WHERE tenant = ? AND seeded = 1", (tenant,)))):
            return
        with self._write(bump=True) as db:
            row = db.execute("SELECT seeded FROM tenants WHERE tenant = ?", (tenant,)).fetchone()
            if row is not None and row[0]:
                return
            db.execute("INSERT INTO tenants (tenant, seeded, touched) VALUES (?, 1, ?) "
                       "ON CONFLICT (tenant) DO UPDATE SET seeded = 1", (tenant, self._real_time()))
            db.executemany("INSERT OR IGNORE INTO templates (tenant, template_id, data) VALUES (?, ?, ?)",
                           [(tenant, t.template_id, template_to_json(t)) for t in templates])

    def reset(self, tenant: str | None = None) -> None:
        with self._write(bump=True) as db:
            if tenant is None:
                for table in ("clock", "tenants", "templates", "messages", "deliveries"):
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
                self._forget_events(db)
                self._touched.clear()
                return
            self._forget(db, tenant)

    def _forget(self, db: sqlite3.Connection, tenant: str) -> None:
        for table in ("clock", "tenants", "templates", "messages", "deliveries"):
            db.execute(f"DELETE FROM {table} WHERE tenant = ?", (tenant,))  # noqa: S608
        self._touched.pop(tenant, None)

    def tenants(self) -> list[str]:
        rows = self._db.rows("SELECT tenant FROM tenants UNION SELECT DISTINCT tenant FROM messages ORDER BY 1")
        return [row[0] for row in rows]

    # clock --------------------------------------------------------------------------------
    def clock_offset(self, tenant: str) -> float:
        return self._cached(("clock", tenant), lambda: float(self._db.rows(
            "SELECT COALESCE(SUM(offset), 0) FROM clock WHERE tenant IN (?, ?)", (GLOBAL, tenant))[0][0]))

    def advance_clock(self, seconds: float, tenant: str | None = None) -> float:
        key = GLOBAL if tenant is None else tenant
        with self._write(bump=True) as db:
            db.execute("INSERT INTO clock (tenant, offset) VALUES (?, ?) "
                       "ON CONFLICT (tenant) DO UPDATE SET offset = offset + excluded.offset", (key, seconds))
            db.execute("UPDATE messages SET due = due - ? WHERE due IS NOT NULL AND (? IS NULL OR tenant = ?)",
                       (seconds, tenant, tenant))
        return self.clock_offset(tenant or GLOBAL)

    # templates ----------------------------------------------------------------------------
    def get_template(self, tenant: str, template_id: str) -> Template | None:
        def load() -> Template | None:
            rows = self._db.rows("SELECT data FROM templates WHERE tenant = ? AND template_id = ?",
                                 (tenant, template_id))
            return template_from_json(rows[0][0]) if rows else None

        return self._cached(("template", tenant, template_id), load)

    def list_templates(self, tenant: str) -> list[Template]:
        rows = self._db.rows("SELECT data FROM templates WHERE tenant = ? ORDER BY seq", (tenant,))
        return [template_from_json(row[0]) for row in rows]

    def insert_template(self, tenant: str, template: Template) -> bool:
        with self._write(bump=True) as db:
            cursor = db.execute("INSERT OR IGNORE INTO templates (tenant, template_id, data) VALUES (?, ?, ?)",
                                (tenant, template.template_id, template_to_json(template)))
            return cursor.rowcount == 1

    def replace_template(self, tenant: str, template: Template) -> bool:
        with self._write(bump=True) as db:
            cursor = db.execute("UPDATE templates SET data = ? WHERE tenant = ? AND template_id = ?",
                                (template_to_json(template), tenant, template.template_id))
            return cursor.rowcount == 1

    def delete_template(self, tenant: str, template_id: str) -> bool:
        with self._write(bump=True) as db:
            cursor = db.execute("DELETE FROM templates WHERE tenant = ? AND template_id = ?", (tenant, template_id))
            return cursor.rowcount == 1

    # messages -----------------------------------------------------------------------------
    def insert_messages(self, batch: list[tuple[Message, str | None]], now: float,
                        also: Sequence[StreamEvent] = ()) -> Message | None:
        real = self._real_time()
        offsets = {m.tenant: self.clock_offset(m.tenant) for m, _ in batch}
        rows = [(m.tenant, m.message_id, key, m.to, m.template_id, m.created_at,
                 purge_deadline(m, real, self.policy.retention_seconds), message_to_json(m),
                 due_estimate(m, offsets[m.tenant]), m.size) for m, key in batch]
        records: list[tuple[str, str | None, str]] = [("message", m.tenant, encode(e)) for (m, _), e in
                   zip(batch, message_events([(None, m) for m, _ in batch], real), strict=True)]
        records += [(e.type, e.tenant, encode(e)) for e in also]
        with self._write() as db:  # the rows are encoded before: the other workers wait less

            def holder(tenant: str, key: str) -> Message | None:
                row = db.execute("SELECT data FROM messages WHERE tenant = ? AND resend_key = ? "
                                 "ORDER BY seq DESC LIMIT 1", (tenant, key)).fetchone()
                return message_from_json(row[0]) if row else None

            blocking = find_blocking(batch, now, holder)
            if blocking is not None:
                return blocking
            tenant = batch[0][0].tenant
            used = db.execute("SELECT bytes FROM tenants WHERE tenant = ?", (tenant,)).fetchone()
            check_room(tenant, used[0] if used else 0, [m for m, _ in batch], self.policy.max_key_bytes)
            db.executemany(
                "INSERT INTO messages (tenant, message_id, resend_key, recipient, template_id, created_at, "
                "purge_at, data, due, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._append(db, records)
            self._touch(db, offsets, real)
            self._known += len(batch)
            if self._known > self.policy.max_messages:
                self._cap_messages(db)
            return None

    def _touch(self, db: sqlite3.Connection, tenants: Iterable[str], real: float) -> None:
        """Write when each tenant was last active (for max_tenants), at most every TOUCH_SECONDS."""
        stale = [t for t in tenants if real - self._touched.get(t, 0.0) >= TOUCH_SECONDS]
        if stale:  # (the row exists: the insert's trigger made it)
            db.executemany("UPDATE tenants SET touched = ? WHERE tenant = ?", [(real, t) for t in stale])
            self._touched.update(dict.fromkeys(stale, real))

    def get_message(self, tenant: str, message_id: str) -> Message | None:
        rows = self._db.rows("SELECT data FROM messages WHERE tenant = ? AND message_id = ?", (tenant, message_id))
        return message_from_json(rows[0][0]) if rows else None

    def find_message(self, message_id: str) -> Message | None:
        rows = self._db.rows("SELECT data FROM messages WHERE message_id = ? LIMIT 1", (message_id,))
        return message_from_json(rows[0][0]) if rows else None

    def update_message(self, tenant: str, message_id: str, step: Callable[[Message], tuple[Message, T]],
                       also: Callable[[T], Sequence[StreamEvent]] | None = None) -> T | None:
        offset = self.clock_offset(tenant)
        with self._write() as db:
            row = db.execute("SELECT data FROM messages WHERE tenant = ? AND message_id = ?",
                             (tenant, message_id)).fetchone()
            if row is None:
                return None
            current = message_from_json(row[0])
            updated, result = step(current)
            event = message_event(current, updated, self._real_time())
            records = [*([event] if event is not None else []), *(also(result) if also is not None else ())]
            if updated is not current:
                db.execute("UPDATE messages SET data = ?, due = ? WHERE tenant = ? AND message_id = ?",
                           (message_to_json(updated), due_estimate(updated, offset), tenant, message_id))
            else:
                db.execute("UPDATE messages SET due = ? WHERE tenant = ? AND message_id = ?",
                           (due_estimate(updated, offset), tenant, message_id))
            self._append(db, [(e.type, e.tenant, encode(e)) for e in records])
            return result

    def find_messages(self, query: MessageQuery) -> list[Message]:
        where, args = [], []
        for column, value in (("tenant", query.tenant), ("recipient", query.to), ("template_id", query.template_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.rows(
            f"SELECT data FROM messages {clause} ORDER BY created_at DESC, message_id DESC LIMIT ?",  # noqa: S608
            (*args, query.limit))
        return [message_from_json(row[0]) for row in rows]

    def count_messages(self) -> int:
        return int(self._db.rows("SELECT COUNT(*) FROM messages")[0][0])

    def due_messages(self, now: float, limit: int) -> list[tuple[str, str]]:
        if not self._db.rows("SELECT 1 FROM messages WHERE due <= ? LIMIT 1", (now,)):
            return []  # the common case, without the write lock
        with self._write() as db:  # handed out once: the update that settles one sets its next step
            rows = db.execute("SELECT seq, tenant, message_id FROM messages WHERE due <= ? ORDER BY due LIMIT ?",
                              (now, limit)).fetchall()
            db.executemany("UPDATE messages SET due = NULL WHERE seq = ?", [(row[0],) for row in rows])
        return [(tenant, message_id) for _, tenant, message_id in rows]

    def purge(self, now: float) -> int:
        with self._write() as db:
            return db.execute("DELETE FROM messages WHERE purge_at <= ?", (now,)).rowcount

    def housekeeping(self, limit: int = PURGE_BATCH) -> None:
        real_now = self._real_time()
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE purge_at <= ? "
                       "LIMIT ?)", (real_now, limit))
            self._cap_messages(db)
            db.execute("DELETE FROM progress WHERE rowid IN (SELECT rowid FROM progress ORDER BY touched "
                       "LIMIT MAX(0, (SELECT COUNT(*) FROM progress) - ?))", (self.policy.max_progress,))
            db.execute("DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?", (self.policy.max_events,))
        excess = int(self._db.rows("SELECT COUNT(*) FROM tenants")[0][0]) - self.policy.max_tenants
        if excess > 0:  # the least recently active go, with all their state (what processes cache too)
            with self._write(bump=True) as db:
                for (tenant,) in db.execute("SELECT tenant FROM tenants ORDER BY touched LIMIT ?",
                                            (excess,)).fetchall():
                    self._forget(db, tenant)

    def _cap_messages(self, db: sqlite3.Connection) -> None:
        """The oldest-to-purge messages over max_messages go. COUNT(*) reads the whole table, so
        it runs in housekeeping or when this process's own count passes the cap; other
        processes' inserts may overshoot the cap until then."""
        count = int(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        if count > self.policy.max_messages:
            db.execute("DELETE FROM messages WHERE seq IN (SELECT seq FROM messages ORDER BY purge_at LIMIT ?)",
                       (count - self.policy.max_messages,))
        self._known = min(count, self.policy.max_messages)

    # the control plane's state ------------------------------------------------------------
    def get_values(self, names: Sequence[str]) -> dict[str, str]:
        def load() -> dict[str, str]:
            marks = ", ".join("?" for _ in names)
            return dict(self._db.rows(f"SELECT name, value FROM control WHERE name IN ({marks})",  # noqa: S608
                                      tuple(names)))

        return dict(self._cached(("values", *names), load))

    def set_value(self, name: str, value: str | None) -> None:
        with self._write(bump=True) as db:
            if value is None:
                db.execute("DELETE FROM control WHERE name = ?", (name,))
            else:
                db.execute("INSERT INTO control (name, value) VALUES (?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))

    def values(self, prefix: str) -> dict[str, str]:
        return dict(self._db.rows("SELECT name, value FROM control WHERE substr(name, 1, ?) = ?",
                                  (len(prefix), prefix)))

    def update_progress(
        self, scenario: str, tenant: str, step: Callable[[Progress | None], tuple[Progress, T]]
    ) -> T:
        with self._write() as db:
            row = db.execute("SELECT data FROM progress WHERE scenario = ? AND tenant = ?",
                             (scenario, tenant)).fetchone()
            progress, result = step(from_json(row[0]) if row else None)
            db.execute("INSERT INTO progress (scenario, tenant, data, touched) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (scenario, tenant) DO UPDATE SET data = excluded.data, "
                       "touched = excluded.touched", (scenario, tenant, to_json(progress), time.time()))
            if row is None:  # a new record: the cap holds at once (updates leave the count as it is)
                db.execute("DELETE FROM progress WHERE rowid IN (SELECT rowid FROM progress ORDER BY touched "
                           "LIMIT MAX(0, (SELECT COUNT(*) FROM progress) - ?))", (self.policy.max_progress,))
            return result

    def clear_progress(self, scenario: str | None = None, tenant: str | None = None) -> None:
        with self._write() as db:
            db.execute("DELETE FROM progress WHERE (? IS NULL OR scenario = ?) AND (? IS NULL OR tenant = ?)",
                       (scenario, scenario, tenant, tenant))

    # the event stream ---------------------------------------------------------------------
    def _append(self, db: sqlite3.Connection, rows: list[tuple[str, str | None, str]]) -> list[int]:
        """Append (type, tenant, encoded record) rows inside a write transaction."""
        if not rows:
            return []
        last = db.execute("SELECT MAX(COALESCE((SELECT MAX(seq) FROM events), 0), "
                          "COALESCE((SELECT value FROM counters WHERE name = 'events'), 0))").fetchone()[0]
        seqs = list(range(int(last) + 1, int(last) + 1 + len(rows)))
        db.executemany("INSERT INTO events (seq, type, tenant, data) VALUES (?, ?, ?, ?)",
                       [(seq, *row) for seq, row in zip(seqs, rows, strict=True)])
        return seqs

    def _forget_events(self, db: sqlite3.Connection) -> None:
        """Every record goes; the numbering goes on from the last one given."""
        db.execute("INSERT INTO counters (name, value) VALUES ('events', "
                   "COALESCE((SELECT MAX(seq) FROM events), 0)) ON CONFLICT (name) DO UPDATE SET "
                   "value = MAX(value, excluded.value)")
        db.execute("DELETE FROM events")

    def append_events(self, events: Sequence[StreamEvent]) -> list[int]:
        rows = [(e.type, e.tenant, encode(e)) for e in events]  # encoded before taking the lock
        with self._write() as db:
            return self._append(db, rows)

    def read_events(self, after: int = 0, tenant: str | None = None, types: Sequence[str] | None = None,
                    limit: int = 100) -> list[StreamEvent]:
        where, args = _event_filter(tenant, types)
        rows = self._db.rows(f"SELECT seq, data FROM events WHERE seq > ? {where} ORDER BY seq LIMIT ?",  # noqa: S608
                             (after, *args, limit))
        return [decode(seq, data) for seq, data in rows]

    def recent_events(self, tenant: str | None = None, types: Sequence[str] | None = None,
                      limit: int = 100) -> list[StreamEvent]:
        where, args = _event_filter(tenant, types)
        rows = self._db.rows(f"SELECT seq, data FROM events WHERE 1 {where} ORDER BY seq DESC LIMIT ?",  # noqa: S608
                             (*args, limit))
        return [decode(seq, data) for seq, data in rows]

    def event_bounds(self) -> tuple[int, int]:
        low, high, floor = self._db.rows(  # one aggregate per SELECT: SQLite reads MIN and MAX off the key
            "SELECT (SELECT MIN(seq) FROM events), (SELECT MAX(seq) FROM events), "
            "(SELECT value FROM counters WHERE name = 'events')")[0]
        head = max(int(high or 0), int(floor or 0))
        return (int(low) if low is not None else head + 1), head

    def claim_events(self, consumer: str, limit: int, lease_seconds: float) -> list[StreamEvent]:
        limit, real_now = min(limit, MAX_CLAIM), self._real_time()
        with self._write() as db:
            rows = db.execute("SELECT c.seq, e.data FROM event_claims c LEFT JOIN events e ON e.seq = c.seq "
                              "WHERE c.consumer = ? AND c.until <= ? ORDER BY c.seq LIMIT ?",
                              (consumer, real_now, limit)).fetchall()
            gone = [seq for seq, data in rows if data is None]  # past the retention: nothing to hand out
            db.executemany("DELETE FROM event_claims WHERE consumer = ? AND seq = ?", [(consumer, s) for s in gone])
            taken = [(seq, data) for seq, data in rows if data is not None]
            cursor_row = db.execute("SELECT seq FROM event_cursors WHERE consumer = ?", (consumer,)).fetchone()
            cursor = int(cursor_row[0]) if cursor_row else 0
            fresh = db.execute("SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                               (cursor, limit - len(taken))).fetchall()
            taken += fresh
            db.executemany("INSERT INTO event_claims (consumer, seq, until) VALUES (?, ?, ?) ON CONFLICT "
                           "(consumer, seq) DO UPDATE SET until = excluded.until",
                           [(consumer, seq, real_now + lease_seconds) for seq, _ in taken])
            if fresh:
                db.execute("INSERT INTO event_cursors (consumer, seq) VALUES (?, ?) ON CONFLICT (consumer) "
                           "DO UPDATE SET seq = excluded.seq", (consumer, fresh[-1][0]))
        return [decode(seq, data) for seq, data in taken]

    def ack_events(self, consumer: str, seqs: Sequence[int]) -> int:
        with self._write() as db:
            return sum(db.execute("DELETE FROM event_claims WHERE consumer = ? AND seq = ?",
                                  (consumer, int(seq))).rowcount for seq in seqs)

    # callback deliveries ------------------------------------------------------------------
    def add_deliveries(self, batch: Sequence[Delivery]) -> int:
        rows = [(d.id, d.tenant, d.status, d.due, d.created_at, _ids(d), deliveries.to_json(d)) for d in batch]
        with self._write() as db:
            added = sum(db.execute("INSERT OR IGNORE INTO deliveries (id, tenant, status, due, created, message_ids, "
                                   "data) VALUES (?, ?, ?, ?, ?, ?, ?)", row).rowcount for row in rows)
            excess = int(db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]) - self.policy.max_deliveries
            if excess > 0:  # the oldest finished go first, then the adding keys' own pending, never others'
                tenants = sorted({d.tenant or "" for d in batch})
                marks = ", ".join("?" * len(tenants))
                query = ("SELECT seq, status = 'pending' FROM deliveries WHERE status != 'pending' "  # noqa: S608
                         f"OR COALESCE(tenant, '') IN ({marks}) ORDER BY status = 'pending', seq LIMIT ?")
                victims = db.execute(query, (*tenants, excess)).fetchall()
                db.executemany("DELETE FROM deliveries WHERE seq = ?", [(seq,) for seq, _ in victims])
                pending = sum(1 for _, waiting in victims if waiting)
                if pending:
                    log.warning("callbacks: the delivery log is full of pending deliveries (max_deliveries %d); "
                                "dropped %d of the adding dev_key's own oldest pending ones",
                                self.policy.max_deliveries, pending)
            return added

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        rows = self._db.rows("SELECT data FROM deliveries WHERE id = ?", (delivery_id,))
        return deliveries.from_json(rows[0][0]) if rows else None

    def update_delivery(self, delivery_id: str, step: Callable[[Delivery], tuple[Delivery, T]]) -> T | None:
        with self._write() as db:
            row = db.execute("SELECT data FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                return None
            current = deliveries.from_json(row[0])
            updated, result = step(current)
            if updated is not current:
                db.execute("UPDATE deliveries SET status = ?, due = ?, data = ? WHERE id = ?",
                           (updated.status, updated.due, deliveries.to_json(updated), delivery_id))
            return result

    def due_deliveries(self, now: float, limit: int) -> list[str]:
        return [row[0] for row in self._db.rows(
            "SELECT id FROM deliveries WHERE due <= ? ORDER BY due, seq LIMIT ?", (now, limit))]

    def find_deliveries(self, query: DeliveryQuery) -> list[Delivery]:
        where, args = ["1"], []  # type: list[str], list[object]
        for column, value in (("tenant = ?", query.tenant), ("status = ?", query.status),
                              ("created >= ?", query.since), ("instr(message_ids, ?) > 0",
                                                              None if query.message_id is None else
                                                              f"\x00{query.message_id}\x00")):
            if value is not None:
                where.append(column)
                args.append(value)
        rows = self._db.rows(f"SELECT data FROM deliveries WHERE {' AND '.join(where)} "  # noqa: S608
                             "ORDER BY seq DESC LIMIT ?", (*args, query.limit))
        return [deliveries.from_json(row[0]) for row in rows]

    def next_node(self) -> int:
        with self._write() as db:  # (no RETURNING: SQLite before 3.35 has none)
            db.execute("INSERT INTO counters (name, value) VALUES ('node', 1) "
                       "ON CONFLICT (name) DO UPDATE SET value = value + 1")
            return int(db.execute("SELECT value FROM counters WHERE name = 'node'").fetchone()[0])

    def problem(self) -> str | None:
        return self._db.problem()

    def scope(self) -> AbstractContextManager[Scope]:
        return nullcontext(Scope())  # every read is current

    def close(self) -> None:
        self._db.close()


def _setup(db: sqlite3.Connection) -> None:
    """The tables, and what files of earlier versions lack."""
    db.executescript(_SCHEMA)
    for table, column, statement in _MIGRATIONS:
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(statement)
    db.executescript(_INDEXES)


def _ids(delivery: Delivery) -> str:
    """The message ids of a delivery as one text, each between NULs (a lookup is one instr())."""
    return "".join(f"\x00{i}\x00" for i in delivery.message_ids)


def _event_filter(tenant: str | None, types: Sequence[str] | None) -> tuple[str, tuple[object, ...]]:
    """The extra WHERE terms (starting with AND) and their arguments for a filtered read."""
    where, args = "", ()  # type: tuple[str, tuple[object, ...]]
    if tenant is not None:
        where, args = " AND tenant = ?", (tenant,)
    if types is not None:
        where += f" AND type IN ({', '.join('?' for _ in types)})"
        args = (*args, *types)
    return where, args

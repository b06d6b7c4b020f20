"""The Redis store: state shared by replicas on several machines.

Operations that must be atomic use optimistic transactions: WATCH the keys read, compute with
the same pure functions as every back-end, then MULTI/EXEC; a concurrent change aborts the EXEC
and the operation runs again (a bounded number of times). Keys live under one prefix:

    {p}:clock            hash   tenant -> clock offset ("" = everyone)
    {p}:tenants          set    tenants holding state;  {p}:seeded  set  tenants given templates
    {p}:seq              string counter (template order)
    {p}:t:{tenant}:tpl   hash   template_id -> JSON;    {p}:t:{tenant}:tplorder  zset by seq
    {p}:t:{tenant}:msg   hash   message_id -> JSON;     {p}:t:{tenant}:order     zset by created_at
    {p}:t:{tenant}:act   hash   resend key -> message_id
    {p}:purge            zset   "tenant\\x00message_id\\x00resend key" by purge time
    {p}:control          hash   control value name -> value (active scenarios)
    {p}:progress         zset   "scenario\\x00tenant" by last use;  {p}:progress:{member}  JSON
    {p}:requests         list   journal entries (JSON), newest last;  {p}:requests:seq  counter
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import redis

from mockserver.errors import MockError
from mockserver.journal import Entry, RequestLog
from mockserver.otp.codec import (
    from_json,
    message_from_json,
    message_to_json,
    template_from_json,
    template_to_json,
    to_json,
)
from mockserver.otp.model import Message, Template
from mockserver.store.base import MAX_PROGRESS, MessageQuery, Progress, find_blocking, purge_deadline

T = TypeVar("T")

RETRIES = 100
SCAN_LIMIT = 10_000  # messages looked at, at most, to answer one control-plane query
# Drop one message; its resend key goes too unless a newer message holds it now.
_DROP = """
local key = ARGV[3]
if key ~= '' and redis.call('HGET', KEYS[3], key) == ARGV[1] then redis.call('HDEL', KEYS[3], key) end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[4], ARGV[2])
"""


class RedisStore:
    """State in Redis, safe for any number of processes and machines."""

    name = "redis"

    def __init__(self, url: str, retention_seconds: float = 3600.0, max_messages: int = 100_000,
                 real_time: Callable[[], float] = time.time, prefix: str = "otp-mock") -> None:
        self.db: Any = redis.Redis.from_url(url, decode_responses=True)  # str replies; loose stubs
        self._p = prefix
        self._retention = retention_seconds
        self._max = max_messages
        self._real_time = real_time
        self._drop_script = self.db.register_script(_DROP)
        self._progress_writes = 0

    def _k(self, tenant: str, kind: str) -> str:
        return f"{self._p}:t:{tenant}:{kind}"

    def _atomic(self, watch: list[str], body: Callable[[Any], T]) -> T:
        """Run `body(pipe)` under WATCH until no watched key changed meanwhile."""
        for _ in range(RETRIES):
            with self.db.pipeline() as pipe:
                try:
                    pipe.watch(*watch)
                    return body(pipe)
                except redis.WatchError:
                    continue
        raise MockError(f"redis store: gave up after {RETRIES} conflicting retries on {watch}")

    # tenants ------------------------------------------------------------------------------
    def seed_tenant(self, tenant: str, templates: Iterable[Template]) -> None:
        if self.db.sismember(f"{self._p}:seeded", tenant):
            return
        rows = list(templates)

        def body(pipe: Any) -> None:
            if pipe.sismember(f"{self._p}:seeded", tenant):
                return
            first = int(pipe.get(f"{self._p}:seq") or 0)
            pipe.multi()
            pipe.sadd(f"{self._p}:seeded", tenant)
            pipe.sadd(f"{self._p}:tenants", tenant)
            for offset, template in enumerate(rows):
                pipe.hsetnx(self._k(tenant, "tpl"), template.template_id, template_to_json(template))
                pipe.zadd(self._k(tenant, "tplorder"), {template.template_id: first + offset}, nx=True)
            pipe.incrby(f"{self._p}:seq", len(rows) + 1)
            pipe.execute()

        self._atomic([f"{self._p}:seeded", f"{self._p}:seq"], body)

    def reset(self, tenant: str | None = None) -> None:
        if tenant is None:  # the OTP state; the control plane's values, progress and journal stay
            keys = list(self.db.scan_iter(f"{self._p}:t:*", count=1000))
            keys += [f"{self._p}:{name}" for name in ("clock", "tenants", "seeded", "seq", "purge")]
            self.db.delete(*keys)
            return
        prefix = f"{tenant}\x00"
        members = [m for m in self.db.zrange(f"{self._p}:purge", 0, -1) if m.startswith(prefix)]
        pipe = self.db.pipeline()
        if members:
            pipe.zrem(f"{self._p}:purge", *members)
        pipe.delete(*(self._k(tenant, kind) for kind in ("tpl", "tplorder", "msg", "order", "act")))
        pipe.srem(f"{self._p}:seeded", tenant)
        pipe.srem(f"{self._p}:tenants", tenant)
        pipe.hdel(f"{self._p}:clock", tenant)
        pipe.execute()

    def tenants(self) -> list[str]:
        return sorted(self.db.smembers(f"{self._p}:tenants"))

    # clock --------------------------------------------------------------------------------
    def clock_offset(self, tenant: str) -> float:
        values = self.db.hmget(f"{self._p}:clock", "", tenant) if tenant else [self.db.hget(f"{self._p}:clock", "")]
        return sum(float(v) for v in values if v is not None)

    def advance_clock(self, seconds: float, tenant: str | None = None) -> float:
        self.db.hincrbyfloat(f"{self._p}:clock", tenant or "", seconds)
        return self.clock_offset(tenant or "")

    # templates ----------------------------------------------------------------------------
    def get_template(self, tenant: str, template_id: str) -> Template | None:
        raw = self.db.hget(self._k(tenant, "tpl"), template_id)
        return template_from_json(raw) if raw else None

    def list_templates(self, tenant: str) -> list[Template]:
        ids = self.db.zrange(self._k(tenant, "tplorder"), 0, -1)
        raws = self.db.hmget(self._k(tenant, "tpl"), ids) if ids else []
        return [template_from_json(raw) for raw in raws if raw]

    def insert_template(self, tenant: str, template: Template) -> bool:
        seq = self.db.incr(f"{self._p}:seq")
        added = self.db.hsetnx(self._k(tenant, "tpl"), template.template_id, template_to_json(template))
        if added:
            self.db.zadd(self._k(tenant, "tplorder"), {template.template_id: seq})
            self.db.sadd(f"{self._p}:tenants", tenant)
        return bool(added)

    def replace_template(self, tenant: str, template: Template) -> bool:
        def body(pipe: Any) -> bool:
            if not pipe.hexists(self._k(tenant, "tpl"), template.template_id):
                return False
            pipe.multi()
            pipe.hset(self._k(tenant, "tpl"), template.template_id, template_to_json(template))
            pipe.execute()
            return True

        return self._atomic([self._k(tenant, "tpl")], body)

    def delete_template(self, tenant: str, template_id: str) -> bool:
        pipe = self.db.pipeline()
        pipe.hdel(self._k(tenant, "tpl"), template_id)
        pipe.zrem(self._k(tenant, "tplorder"), template_id)
        return bool(pipe.execute()[0])

    # messages -----------------------------------------------------------------------------
    def insert_messages(self, batch: list[tuple[Message, str | None]], now: float) -> Message | None:
        watched = sorted({self._k(m.tenant, "act") for m, _ in batch})

        def body(pipe: Any) -> Message | None:
            def holder(tenant: str, key: str) -> Message | None:
                message_id = pipe.hget(self._k(tenant, "act"), key)
                raw = pipe.hget(self._k(tenant, "msg"), message_id) if message_id else None
                return message_from_json(raw) if raw else None

            blocking = find_blocking(batch, now, holder)
            if blocking is not None:
                return blocking
            real = self._real_time()
            pipe.multi()
            for message, key in batch:
                self._write_message(pipe, message, key, real)
            pipe.execute()
            return None

        blocking = self._atomic(watched, body)
        if blocking is None:
            self.purge(self._real_time())
            self._cap()
        return blocking

    def _write_message(self, pipe: Any, message: Message, key: str | None, real: float) -> None:
        tenant = message.tenant
        pipe.hset(self._k(tenant, "msg"), message.message_id, message_to_json(message))
        pipe.zadd(self._k(tenant, "order"), {message.message_id: message.created_at})
        pipe.sadd(f"{self._p}:tenants", tenant)
        due = purge_deadline(message, real, self._retention)
        pipe.zadd(f"{self._p}:purge", {f"{tenant}\x00{message.message_id}\x00{key or ''}": due})
        if key is not None:
            pipe.hset(self._k(tenant, "act"), key, message.message_id)

    def get_message(self, tenant: str, message_id: str) -> Message | None:
        raw = self.db.hget(self._k(tenant, "msg"), message_id)
        return message_from_json(raw) if raw else None

    def update_message(self, tenant: str, message_id: str, step: Callable[[Message], tuple[Message, T]]) -> T | None:
        def body(pipe: Any) -> T | None:
            raw = pipe.hget(self._k(tenant, "msg"), message_id)
            if raw is None:
                return None
            updated, result = step(message_from_json(raw))
            pipe.multi()
            pipe.hset(self._k(tenant, "msg"), message_id, message_to_json(updated))
            pipe.execute()
            return result

        return self._atomic([self._k(tenant, "msg")], body)

    def find_messages(self, query: MessageQuery) -> list[Message]:
        tenants = [query.tenant] if query.tenant is not None else self.tenants()
        found: list[Message] = []
        for tenant in tenants:
            ids = self.db.zrevrange(self._k(tenant, "order"), 0, SCAN_LIMIT - 1)
            for start in range(0, len(ids), 500):
                chunk = [r for r in self.db.hmget(self._k(tenant, "msg"), ids[start:start + 500]) if r]
                for message in (message_from_json(raw) for raw in chunk):
                    if (query.to is None or message.to == query.to) and (
                            query.template_id is None or message.template_id == query.template_id):
                        found.append(message)
                if len([m for m in found if m.tenant == tenant]) >= query.limit:
                    break
        found.sort(key=lambda m: (m.created_at, m.message_id), reverse=True)
        return found[: query.limit]

    def count_messages(self) -> int:
        return int(self.db.zcard(f"{self._p}:purge"))

    def purge(self, now: float) -> int:
        due = self.db.zrangebyscore(f"{self._p}:purge", "-inf", now, start=0, num=1000)
        return self._drop(due)

    def _cap(self) -> None:
        excess = self.count_messages() - self._max
        if excess > 0:
            self._drop(self.db.zrange(f"{self._p}:purge", 0, excess - 1))

    def _drop(self, members: Any) -> int:
        if not members:
            return 0
        pipe = self.db.pipeline(transaction=False)
        for member in members:
            tenant, message_id, key = (member.split("\x00") + [""])[:3]
            self._drop_script(keys=[self._k(tenant, "msg"), self._k(tenant, "order"), self._k(tenant, "act"),
                                    f"{self._p}:purge"], args=[message_id, member, key], client=pipe)
        return sum(int(n) for n in pipe.execute())

    # the control plane's state ------------------------------------------------------------
    def get_values(self, names: Sequence[str]) -> dict[str, str]:
        found = self.db.hmget(f"{self._p}:control", list(names)) if names else []
        return {name: value for name, value in zip(names, found, strict=True) if value is not None}

    def set_value(self, name: str, value: str | None) -> None:
        if value is None:
            self.db.hdel(f"{self._p}:control", name)
        else:
            self.db.hset(f"{self._p}:control", name, value)

    def values(self, prefix: str) -> dict[str, str]:
        every: dict[str, str] = self.db.hgetall(f"{self._p}:control")
        return {k: v for k, v in every.items() if k.startswith(prefix)}

    def update_progress(
        self, scenario: str, tenant: str, step: Callable[[Progress | None], tuple[Progress, T]]
    ) -> T:
        member = f"{scenario}\x00{tenant}"
        key = f"{self._p}:progress:{member}"

        def body(pipe: Any) -> T:
            raw = pipe.get(key)
            progress, result = step(from_json(raw) if raw else None)
            pipe.multi()
            pipe.set(key, to_json(progress))
            pipe.zadd(f"{self._p}:progress", {member: self._real_time()})
            pipe.execute()
            return result

        result = self._atomic([key], body)
        self._progress_writes += 1
        if self._progress_writes % 256 == 0:
            excess = int(self.db.zcard(f"{self._p}:progress")) - MAX_PROGRESS
            if excess > 0:
                self._forget_progress(self.db.zrange(f"{self._p}:progress", 0, excess - 1))
        return result

    def clear_progress(self, scenario: str | None = None, tenant: str | None = None) -> None:
        members = []
        for member in self.db.zrange(f"{self._p}:progress", 0, -1):
            name, _, owner = member.partition("\x00")
            if scenario in (None, name) and tenant in (None, owner):
                members.append(member)
        self._forget_progress(members)

    def _forget_progress(self, members: list[str]) -> None:
        if members:
            pipe = self.db.pipeline()
            pipe.delete(*(f"{self._p}:progress:{m}" for m in members))
            pipe.zrem(f"{self._p}:progress", *members)
            pipe.execute()

    def request_log(self, size: int) -> RequestLog:
        return _RedisLog(self.db, f"{self._p}:requests", size)

    def next_node(self) -> int:
        return int(self.db.incr(f"{self._p}:node"))  # never reset: a live replica may hold any node


class _RedisLog:
    """The journal in a capped Redis list: every replica's entries, one id sequence."""

    shared = True

    def __init__(self, db: Any, key: str, size: int) -> None:
        self._db = db
        self._key = key
        self._size = size

    def append(self, entries: Sequence[Entry]) -> None:
        last = int(self._db.incrby(f"{self._key}:seq", len(entries)))
        first = last - len(entries) + 1
        pipe = self._db.pipeline()
        pipe.rpush(self._key, *(to_json({**e.as_dict(), "id": first + n}) for n, e in enumerate(entries)))
        pipe.ltrim(self._key, -self._size, -1)
        pipe.execute()

    def recent(self, limit: int, dev_key: str | None = None) -> list[Entry]:
        entries = [Entry.from_dict(from_json(raw)) for raw in reversed(self._db.lrange(self._key, 0, -1))]
        if dev_key is not None:
            entries = [e for e in entries if e.dev_key == dev_key]
        return entries[:limit]

    def clear(self) -> None:
        self._db.delete(self._key)

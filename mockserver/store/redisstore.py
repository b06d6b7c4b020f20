"""The Redis store: state shared by replicas on several machines.

A send is one Lua script (the 3004 check, the messages, their indexes and their stream records,
in one round trip); every other write that must be atomic is a compare-and-set script or a
WATCH/MULTI block around the same pure functions as every back-end, run again on conflict (a
bounded number of times). Keys live under one prefix:

    {p}:clock            hash   tenant -> clock offset ("" = everyone)
    {p}:tenants          set    tenants holding state;  {p}:seeded  set  tenants given templates
    {p}:touched          zset   tenant by its last activity (real time, for max_tenants)
    {p}:seq              string counter (template order)
    {p}:t:{tenant}:tpl   hash   template_id -> JSON;    {p}:t:{tenant}:tplorder  zset by seq
    {p}:t:{tenant}:msg   hash   message_id -> JSON;     {p}:t:{tenant}:order     zset by created_at
    {p}:t:{tenant}:act   hash   resend key -> message_id
    {p}:mid              hash   message_id -> tenant (a lookup by id is one read)
    {p}:purge            zset   "tenant\\x00message_id\\x00resend key\\x00size" by purge time
    {p}:bytes            hash   tenant -> Message.size of the messages it holds (for max_key_bytes)
    {p}:due              zset   "tenant\\x00message_id" by when its next timed step is due
    {p}:control          hash   control value name -> value (active scenarios)
    {p}:progress         zset   "scenario\\x00tenant" by last use;  {p}:progress:{member}  JSON
    {p}:ev:seq           string the stream's last sequence number (never reset)
    {p}:ev:data          hash   seq -> record;  {p}:ev:all  zset of seqs;  {p}:ev:t:{tenant}  zset
    {p}:evc:{consumer}   string the consumer's cursor;  {p}:evc:{consumer}:pend  zset seq by lease end
    {p}:gen              string one more for every write to what processes cache (never reset)
    {p}:dl:data          hash   delivery id -> JSON;  {p}:dl:n  string counter (their order)
    {p}:dl:order         zset   ids by order;  {p}:dl:t:{tenant}  zset  a tenant's;  {p}:dl:done  zset  finished
    {p}:dl:due           zset   pending ids by when they are due

What every request reads and rarely changes (templates, clock offsets, control values, who is
seeded) is cached in each process and checked against `{p}:gen` by the request's first write
(rediscache.py): a send is one round trip. The scripts are in redislua.py. Each thread talks to
Redis over a connection of its own (no pool lookups).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import redis

from mockserver.callbacks import delivery as deliveries
from mockserver.callbacks.delivery import Delivery
from mockserver.errors import MockError
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
    KeyFull,
    MessageQuery,
    Progress,
    Scope,
    StoreUnavailable,
    purge_deadline,
)
from mockserver.store.memdeliveries import matches
from mockserver.store.policy import PURGE_BATCH, StorePolicy
from mockserver.store.rediscache import GenerationCache
from mockserver.store.redislua import ADD_DELIVERIES, CAS, CLAIM, DELIVERY_CAS, DROP, RECORD, SEND, TRIM

T = TypeVar("T")
log = logging.getLogger("mockserver")

RETRIES = 100
SOCKET_TIMEOUT = 5.0  # s: a Redis that stops answering is "unavailable", not a request that hangs
SCAN_LIMIT = 10_000  # messages looked at, at most, to answer one control-plane query


class RedisStore:
    """State in Redis, safe for any number of processes and machines."""

    name = "redis"
    unavailable: tuple[type[BaseException], ...] = (StoreUnavailable, redis.exceptions.ConnectionError,
                                                     redis.exceptions.TimeoutError)

    def __init__(self, url: str, policy: StorePolicy | None = None,
                 real_time: Callable[[], float] = time.time, prefix: str = "otp-mock", **limits: Any) -> None:
        self.url = url
        self.policy = StorePolicy.of(policy, limits)
        self._p = prefix
        self._real_time = real_time
        self._local = threading.local()
        self._clients: list[tuple[int, Any]] = []  # (pid, client): a process closes only its own
        self._finalizer = weakref.finalize(self, _close_clients, self._clients)  # a dropped store lets go too
        self._cache = GenerationCache(f"{prefix}:gen", lambda: self.db)
        # Registered on a client that never connects: they run with client=self.db, this thread's.
        scripts = redis.Redis.from_url(url, decode_responses=True)
        self._send = scripts.register_script(SEND)
        self._cas = scripts.register_script(CAS)
        self._drop_script = scripts.register_script(DROP)
        self._trim = scripts.register_script(TRIM)
        self._claim = scripts.register_script(CLAIM)
        self._record = scripts.register_script(RECORD)
        self._add_deliveries = scripts.register_script(ADD_DELIVERIES)
        self._delivery_cas = scripts.register_script(DELIVERY_CAS)

    @property
    def db(self) -> Any:
        """This thread's client (str replies; loose stubs): one connection each, made again in a
        forked process."""
        client = getattr(self._local, "client", None)
        if client is None or self._local.pid != os.getpid():
            client = redis.Redis.from_url(self.url, decode_responses=True, single_connection_client=True,
                                          socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
            self._local.client, self._local.pid = client, os.getpid()
            self._clients.append((os.getpid(), client))
        return client

    def _k(self, tenant: str, kind: str) -> str:
        return f"{self._p}:t:{tenant}:{kind}"

    def scope(self) -> AbstractContextManager[Scope]:
        return self._cache.scope()

    def problem(self) -> str | None:
        try:
            self.db.ping()
        except self.unavailable as exc:
            return f"cannot reach Redis at {_shown(self.url)}: {exc}"
        return None

    def _atomic(self, watch: list[str], body: Callable[[Any], T]) -> T:
        """Run `body(pipe)` under WATCH until no watched key changed meanwhile."""
        for _ in range(RETRIES):
            with self.db.pipeline() as pipe:
                try:
                    pipe.watch(*watch)
                    result = body(pipe)
                except redis.WatchError:
                    continue
                self._cache.confirm()
                return result
        raise MockError(f"redis store: gave up after {RETRIES} conflicting retries on {watch}")

    # tenants ------------------------------------------------------------------------------
    def seed_tenant(self, tenant: str, templates: Iterable[Template]) -> None:
        if self._cache.read(("seeded", tenant), lambda pipe: pipe.sismember(f"{self._p}:seeded", tenant), bool):
            return
        rows = list(templates)

        def body(pipe: Any) -> None:
            seeded = pipe.sismember(f"{self._p}:seeded", tenant)
            self._cache.validate(pipe)  # after the reads: their answer held while nothing moved the counter
            if seeded:
                return
            first = int(pipe.get(f"{self._p}:seq") or 0)
            pipe.multi()
            pipe.sadd(f"{self._p}:seeded", tenant)
            pipe.sadd(f"{self._p}:tenants", tenant)
            pipe.zadd(f"{self._p}:touched", {tenant: self._real_time()})
            for offset, template in enumerate(rows):
                pipe.hsetnx(self._k(tenant, "tpl"), template.template_id, template_to_json(template))
                pipe.zadd(self._k(tenant, "tplorder"), {template.template_id: first + offset}, nx=True)
            pipe.incrby(f"{self._p}:seq", len(rows) + 1)
            self._cache.bump(pipe)
            pipe.execute()

        self._atomic([f"{self._p}:seeded", f"{self._p}:seq", self._cache.key], body)

    def reset(self, tenant: str | None = None) -> None:
        self._cache.validate()
        if tenant is None:  # the OTP state and the stream; control values, progress and consumers stay
            keys = list(self.db.scan_iter(f"{self._p}:t:*", count=1000))
            keys += list(self.db.scan_iter(f"{self._p}:ev:t:*", count=1000))
            keys += list(self.db.scan_iter(f"{self._p}:dl:t:*", count=1000))
            keys += [f"{self._p}:{name}" for name in ("clock", "tenants", "seeded", "touched", "seq", "purge",
                                                       "due", "mid", "bytes", "ev:data", "ev:all", "dl:data",
                                                       "dl:order", "dl:done", "dl:due")]
            pipe = self.db.pipeline()
            pipe.delete(*keys)
            self._cache.bump(pipe)
            pipe.execute()
        else:
            self._forget(tenant)
        self._cache.confirm()

    def _forget(self, tenant: str) -> None:
        prefix = f"{tenant}\x00"
        members = [m for m in self.db.zrange(f"{self._p}:purge", 0, -1) if m.startswith(prefix)]
        ids = self.db.hkeys(self._k(tenant, "msg"))
        pipe = self.db.pipeline()
        if members:
            pipe.zrem(f"{self._p}:purge", *members)
        if ids:
            pipe.hdel(f"{self._p}:mid", *ids)
            pipe.zrem(f"{self._p}:due", *(f"{tenant}\x00{i}" for i in ids))
        pipe.delete(*(self._k(tenant, kind) for kind in ("tpl", "tplorder", "msg", "order", "act")))
        pipe.srem(f"{self._p}:seeded", tenant)
        pipe.srem(f"{self._p}:tenants", tenant)
        pipe.zrem(f"{self._p}:touched", tenant)
        pipe.hdel(f"{self._p}:clock", tenant)
        pipe.hdel(f"{self._p}:bytes", tenant)
        self._cache.bump(pipe)
        pipe.execute()
        self._forget_deliveries(tenant)

    def _forget_deliveries(self, tenant: str) -> None:
        ids = self.db.zrange(f"{self._p}:dl:t:{tenant}", 0, -1)
        pipe = self.db.pipeline()
        if ids:
            pipe.hdel(f"{self._p}:dl:data", *ids)
            for name in ("order", "done", "due"):
                pipe.zrem(f"{self._p}:dl:{name}", *ids)
        pipe.delete(f"{self._p}:dl:t:{tenant}")
        pipe.execute()

    def tenants(self) -> list[str]:
        return sorted(self.db.smembers(f"{self._p}:tenants"))

    # clock --------------------------------------------------------------------------------
    def clock_offset(self, tenant: str) -> float:
        return self._cache.read(("clock", tenant), lambda pipe: pipe.hmget(f"{self._p}:clock", "", tenant),
                            lambda values: sum(float(v) for v in values[: 2 if tenant else 1] if v is not None))

    def advance_clock(self, seconds: float, tenant: str | None = None) -> float:
        def body(pipe: Any) -> None:  # timed steps come closer by as much, atomically with the clock
            members = pipe.zrange(f"{self._p}:due", 0, -1, withscores=True)
            self._cache.validate(pipe)
            prefix = None if tenant is None else f"{tenant}\x00"
            moved = {m: score - seconds for m, score in members if prefix is None or m.startswith(prefix)}
            pipe.multi()
            pipe.hincrbyfloat(f"{self._p}:clock", tenant or "", seconds)
            if moved:
                pipe.zadd(f"{self._p}:due", moved)
            self._cache.bump(pipe)
            pipe.execute()

        self._atomic([f"{self._p}:due", self._cache.key], body)
        return self.clock_offset(tenant or "")

    # templates ----------------------------------------------------------------------------
    def get_template(self, tenant: str, template_id: str) -> Template | None:
        return self._cache.read(("template", tenant, template_id),
                            lambda pipe: pipe.hget(self._k(tenant, "tpl"), template_id),
                            lambda raw: template_from_json(raw) if raw else None)

    def list_templates(self, tenant: str) -> list[Template]:
        ids = self.db.zrange(self._k(tenant, "tplorder"), 0, -1)
        raws = self.db.hmget(self._k(tenant, "tpl"), ids) if ids else []
        return [template_from_json(raw) for raw in raws if raw]

    def insert_template(self, tenant: str, template: Template) -> bool:
        self._cache.validate()
        seq = self.db.incr(f"{self._p}:seq")
        added = self.db.hsetnx(self._k(tenant, "tpl"), template.template_id, template_to_json(template))
        if added:
            pipe = self.db.pipeline()
            pipe.zadd(self._k(tenant, "tplorder"), {template.template_id: seq})
            pipe.sadd(f"{self._p}:tenants", tenant)
            self._cache.bump(pipe)
            pipe.execute()
        self._cache.confirm()
        return bool(added)

    def replace_template(self, tenant: str, template: Template) -> bool:
        def body(pipe: Any) -> bool:
            exists = pipe.hexists(self._k(tenant, "tpl"), template.template_id)
            self._cache.validate(pipe)
            if not exists:
                return False
            pipe.multi()
            pipe.hset(self._k(tenant, "tpl"), template.template_id, template_to_json(template))
            self._cache.bump(pipe)
            pipe.execute()
            return True

        return self._atomic([self._k(tenant, "tpl"), self._cache.key], body)

    def delete_template(self, tenant: str, template_id: str) -> bool:
        self._cache.validate()
        pipe = self.db.pipeline()
        pipe.hdel(self._k(tenant, "tpl"), template_id)
        pipe.zrem(self._k(tenant, "tplorder"), template_id)
        self._cache.bump(pipe)
        deleted = bool(pipe.execute()[0])
        self._cache.confirm()
        return deleted

    # messages -----------------------------------------------------------------------------
    def insert_messages(self, batch: list[tuple[Message, str | None]], now: float,
                        also: Sequence[StreamEvent] = ()) -> Message | None:
        real = self._real_time()
        records = message_events([(None, m) for m, _ in batch], real)
        tenant = batch[0][0].tenant
        adding = sum(m.size for m, _ in batch)
        args: list[Any] = [self._p, now, real, len(batch), self._cache.expected(), self.policy.max_key_bytes,
                           adding, tenant]
        for (message, key), record in zip(batch, records, strict=True):
            due = message.next_due()
            args += [message.tenant, message.message_id, key or "", message_to_json(message), message.created_at,
                     purge_deadline(message, real, self.policy.retention_seconds), "" if due is None else due,
                     encode(record), f"{message.tenant}\x00{message.message_id}\x00{key or ''}\x00{message.size}"]
        for event in also:
            args += [event.tenant or "", encode(event)]
        reply = self._send(args=args, client=self.db)
        if reply[0] == "stale":
            raise self._cache.stale()
        self._cache.confirm()
        if reply[0] == "full":
            raise KeyFull(tenant, int(reply[1]), adding, self.policy.max_key_bytes)
        if reply[0] == "dup":
            return batch[int(reply[1])][0]
        if reply[0] == "block":
            return message_from_json(reply[1])
        if int(reply[1]) > self.policy.max_messages:
            self._cap()
        return None

    def get_message(self, tenant: str, message_id: str) -> Message | None:
        raw = self.db.hget(self._k(tenant, "msg"), message_id)
        return message_from_json(raw) if raw else None

    def find_message(self, message_id: str) -> Message | None:
        tenant = self.db.hget(f"{self._p}:mid", message_id)
        return None if tenant is None else self.get_message(tenant, message_id)

    def update_message(self, tenant: str, message_id: str, step: Callable[[Message], tuple[Message, T]],
                       also: Callable[[T], Sequence[StreamEvent]] | None = None) -> T | None:
        raw = self.db.hget(self._k(tenant, "msg"), message_id)
        for _ in range(RETRIES):
            if raw is None:
                return None
            current = message_from_json(raw)
            updated, result = step(current)
            event = message_event(current, updated, self._real_time())
            due = updated.next_due()
            args: list[Any] = [self._p, tenant, message_id, raw,
                               "" if updated is current else message_to_json(updated), "" if due is None else due,
                               "" if event is None else encode(event), self._cache.expected()]
            for extra in also(result) if also is not None else ():
                args += [extra.tenant or "", encode(extra)]
            reply = self._cas(args=args, client=self.db)
            if reply[0] == "stale":
                raise self._cache.stale()
            if reply[0] == "ok":
                self._cache.confirm()
                return result
            raw = reply[1]  # changed meanwhile: try again on what is there now
        raise MockError(f"redis store: gave up after {RETRIES} conflicting updates of message {message_id}")

    def find_messages(self, query: MessageQuery) -> list[Message]:
        tenants = [query.tenant] if query.tenant is not None else self.tenants()
        found: list[Message] = []
        # unfiltered, the newest `limit` are the answer: read no more (the console's list, every poll)
        step = query.limit if query.to is None and query.template_id is None else 500
        for tenant in tenants:
            taken = 0
            for start in range(0, SCAN_LIMIT, step):
                ids = self.db.zrevrange(self._k(tenant, "order"), start, min(start + step, SCAN_LIMIT) - 1)
                chunk = [r for r in self.db.hmget(self._k(tenant, "msg"), ids) if r] if ids else []
                for message in (message_from_json(raw) for raw in chunk):
                    if (query.to is None or message.to == query.to) and (
                            query.template_id is None or message.template_id == query.template_id):
                        found.append(message)
                        taken += 1
                if taken >= query.limit or len(ids) < step:
                    break
        found.sort(key=lambda m: (m.created_at, m.message_id), reverse=True)
        return found[: query.limit]

    def count_messages(self) -> int:
        return int(self.db.zcard(f"{self._p}:purge"))

    def due_messages(self, now: float, limit: int) -> list[tuple[str, str]]:
        def body(pipe: Any) -> list[str]:  # handed out once: the update that settles one sets its next step
            members: list[str] = pipe.zrangebyscore(f"{self._p}:due", "-inf", now, start=0, num=limit)
            if members:
                pipe.multi()
                pipe.zrem(f"{self._p}:due", *members)
                pipe.execute()
            return members

        if not self.db.zrangebyscore(f"{self._p}:due", "-inf", now, start=0, num=1):
            return []
        return [tuple(m.split("\x00", 1)) for m in self._atomic([f"{self._p}:due"], body)]  # type: ignore[misc]

    def purge(self, now: float) -> int:
        dropped = 0
        while True:
            due = self.db.zrangebyscore(f"{self._p}:purge", "-inf", now, start=0, num=1000)
            dropped += self._drop(due)
            if len(due) < 1000:
                return dropped

    def housekeeping(self, limit: int = PURGE_BATCH) -> None:
        self._drop(self.db.zrangebyscore(f"{self._p}:purge", "-inf", self._real_time(), start=0, num=limit))
        self._cap()
        excess = int(self.db.zcard(f"{self._p}:touched")) - self.policy.max_tenants
        if excess > 0:
            for tenant in self.db.zrange(f"{self._p}:touched", 0, excess - 1):
                self._forget(tenant)
        excess = int(self.db.zcard(f"{self._p}:progress")) - self.policy.max_progress
        if excess > 0:
            self._forget_progress(self.db.zrange(f"{self._p}:progress", 0, excess - 1))
        self._trim(args=[self._p, self.policy.max_events, limit], client=self.db)

    def _cap(self) -> None:
        excess = self.count_messages() - self.policy.max_messages
        if excess > 0:
            self._drop(self.db.zrange(f"{self._p}:purge", 0, excess - 1))

    def _drop(self, members: Any) -> int:
        if not members:
            return 0
        pipe = self.db.pipeline(transaction=False)
        for member in members:
            self._drop_script(args=[self._p, member], client=pipe)
        return sum(int(n) for n in pipe.execute())

    # the control plane's state ------------------------------------------------------------
    def get_values(self, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        return dict(self._cache.read(("values", *names), lambda pipe: pipe.hmget(f"{self._p}:control", list(names)),
                                 lambda found: {n: v for n, v in zip(names, found, strict=True) if v is not None}))

    def set_value(self, name: str, value: str | None) -> None:
        self._cache.validate()
        pipe = self.db.pipeline()
        if value is None:
            pipe.hdel(f"{self._p}:control", name)
        else:
            pipe.hset(f"{self._p}:control", name, value)
        self._cache.bump(pipe)
        pipe.execute()
        self._cache.confirm()

    def values(self, prefix: str) -> dict[str, str]:
        every: dict[str, str] = self.db.hgetall(f"{self._p}:control")
        return {k: v for k, v in every.items() if k.startswith(prefix)}

    def update_progress(
        self, scenario: str, tenant: str, step: Callable[[Progress | None], tuple[Progress, T]]
    ) -> T:
        member = f"{scenario}\x00{tenant}"
        key = f"{self._p}:progress:{member}"

        def body(pipe: Any) -> tuple[T, bool]:
            raw = pipe.get(key)
            self._cache.validate(pipe)
            progress, result = step(from_json(raw) if raw else None)
            pipe.multi()
            pipe.set(key, to_json(progress))
            pipe.zadd(f"{self._p}:progress", {member: self._real_time()})
            pipe.execute()
            return result, raw is None

        result, new = self._atomic([key, self._cache.key], body)
        if new:  # a new record: the cap holds at once (updates leave the count as it is)
            excess = int(self.db.zcard(f"{self._p}:progress")) - self.policy.max_progress
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

    # the event stream ---------------------------------------------------------------------
    def append_events(self, events: Sequence[StreamEvent]) -> list[int]:
        if not events:
            return []
        args: list[Any] = [self._p]
        for event in events:
            args += [event.tenant or "", encode(event)]
        return [int(seq) for seq in self._record(args=args, client=self.db)]

    def read_events(self, after: int = 0, tenant: str | None = None, types: Sequence[str] | None = None,
                    limit: int = 100) -> list[StreamEvent]:
        index = f"{self._p}:ev:all" if tenant is None else f"{self._p}:ev:t:{tenant}"
        found: list[StreamEvent] = []
        cursor = after
        while len(found) < limit:
            seqs = self.db.zrangebyscore(index, f"({cursor}", "+inf", start=0, num=max(limit, 100))
            if not seqs:
                break
            found += [e for e in self._events(seqs) if types is None or e.type in types]
            cursor = int(seqs[-1])
        return found[:limit]

    def recent_events(self, tenant: str | None = None, types: Sequence[str] | None = None,
                      limit: int = 100) -> list[StreamEvent]:
        index = f"{self._p}:ev:all" if tenant is None else f"{self._p}:ev:t:{tenant}"
        found: list[StreamEvent] = []
        start = 0
        while len(found) < limit:
            seqs = self.db.zrevrange(index, start, start + max(limit, 100) - 1)
            if not seqs:
                break
            found += [e for e in self._events(seqs) if types is None or e.type in types]
            start += len(seqs)
        return found[:limit]

    def _events(self, seqs: list[str]) -> list[StreamEvent]:
        raws = self.db.hmget(f"{self._p}:ev:data", seqs)
        return [decode(int(seq), raw) for seq, raw in zip(seqs, raws, strict=True) if raw is not None]

    def event_bounds(self) -> tuple[int, int]:
        pipe = self.db.pipeline(transaction=False)
        pipe.zrange(f"{self._p}:ev:all", 0, 0)
        pipe.get(f"{self._p}:ev:seq")
        oldest, head = pipe.execute()
        last = int(head or 0)
        return (int(oldest[0]) if oldest else last + 1), last

    def claim_events(self, consumer: str, limit: int, lease_seconds: float) -> list[StreamEvent]:
        real_now = self._real_time()
        out = self._claim(args=[self._p, consumer, min(limit, MAX_CLAIM), real_now, real_now + lease_seconds],
                          client=self.db)
        return [decode(int(out[i]), out[i + 1]) for i in range(0, len(out), 2) if out[i + 1] is not None]

    def ack_events(self, consumer: str, seqs: Sequence[int]) -> int:
        if not seqs:
            return 0
        return int(self.db.zrem(f"{self._p}:evc:{consumer}:pend", *seqs))

    # callback deliveries ------------------------------------------------------------------
    def add_deliveries(self, batch: Sequence[Delivery]) -> int:
        if not batch:
            return 0
        args: list[Any] = [self._p, self.policy.max_deliveries]
        for d in batch:
            due = d.due
            args += [d.id, d.tenant or "", "" if due is None else due, d.status, deliveries.to_json(d)]
        added, dropped = self._add_deliveries(args=args, client=self.db)
        if int(dropped):
            log.warning("callbacks: the delivery log is full of pending deliveries (max_deliveries %d); "
                        "dropped %d of the adding dev_key's own oldest pending ones", self.policy.max_deliveries,
                        int(dropped))
        return int(added)

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        raw = self.db.hget(f"{self._p}:dl:data", delivery_id)
        return deliveries.from_json(raw) if raw else None

    def update_delivery(self, delivery_id: str, step: Callable[[Delivery], tuple[Delivery, T]]) -> T | None:
        raw = self.db.hget(f"{self._p}:dl:data", delivery_id)
        for _ in range(RETRIES):
            if raw is None:
                return None
            current = deliveries.from_json(raw)
            updated, result = step(current)
            if updated is current:
                return result
            due = updated.due
            reply = self._delivery_cas(args=[self._p, delivery_id, raw, deliveries.to_json(updated),
                                             "" if due is None else due], client=self.db)
            if reply[0] == "ok":
                return result
            raw = reply[1]  # changed meanwhile: again, on what is there now
        raise MockError(f"redis store: gave up after {RETRIES} conflicting updates of delivery {delivery_id}")

    def due_deliveries(self, now: float, limit: int) -> list[str]:
        return list(self.db.zrangebyscore(f"{self._p}:dl:due", "-inf", now, start=0, num=limit))

    def find_deliveries(self, query: DeliveryQuery) -> list[Delivery]:
        index = f"{self._p}:dl:order" if query.tenant is None else f"{self._p}:dl:t:{query.tenant}"
        found: list[Delivery] = []
        for start in range(0, SCAN_LIMIT, 500):
            ids = self.db.zrevrange(index, start, start + 499)
            raws = self.db.hmget(f"{self._p}:dl:data", ids) if ids else []
            found += [d for d in (deliveries.from_json(r) for r in raws if r) if matches(d, query)]
            if len(found) >= query.limit or len(ids) < 500:
                break
        return found[: query.limit]

    def next_node(self) -> int:
        return int(self.db.incr(f"{self._p}:node"))  # never reset: a live replica may hold any node

    def close(self) -> None:
        self._finalizer()


def _shown(url: str) -> str:
    """The URL without a password."""
    head, at, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//***@{tail}" if at else url


def _close_clients(clients: list[tuple[int, Any]]) -> None:
    for pid, client in clients:
        if pid == os.getpid():  # a forked process's inherited sockets are its parent's
            client.close()
            client.connection_pool.disconnect()
    clients.clear()

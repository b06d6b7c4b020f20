"""Callbacks: the configurations, routing the event stream into deliveries, the attempts, the
delivery log. Pure of any web framework; its state is in the store, so every worker and replica
sharing a store shares the configurations and the log.

    route()        claims new stream records (consumer "callbacks": each record goes to one process),
                   turns them into rows, batches them per dev_key and kind, keeps them as deliveries
    attempt_due()  takes due deliveries under a lease (one process attempts each), POSTs, records

A delivery is at-least-once: a process that dies between a receiver's 200 and recording it
leaves a delivery that is attempted again when its lease runs out. Each attempt has a fresh
nonce, so a receiver that remembers nonces tells an attempt from a replay, never two attempts
apart: de-duplicate on the rows (message_id + message_status).
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from mockserver.callbacks import delivery as steps
from mockserver.callbacks.config import MASK, CallbackConfig, parse_config
from mockserver.callbacks.delivery import MANUAL, SCHEDULED, Attempt, Delivery
from mockserver.callbacks.rows import KINDS, Row, envelope, rows_of
from mockserver.callbacks.signing import HEADER, callback_id
from mockserver.callbacks.transport import USER_AGENT, Answer, Transport
from mockserver.callbacks.trigger import trigger_row
from mockserver.errors import ControlError
from mockserver.store.base import DeliveryQuery, Store
from mockserver.textsafe import masked_authorization

CONSUMER = "callbacks"
PREFIX = "callback:"  # store values: callback:{dev_key}, callback: for everyone's
EVERYONE = ""
MAX_LOG = 1000
PROBE_TIMEOUT = 3.0  # EngageLab's URL check: HTTP 200 within 3 s
INLINE = 2  # POSTs on request threads at once in one process (resend, the URL check): the rest wait for none
SENDERS = 8  # threads attempting deliveries at once in one process (one dev_key's in order)
CLAIM = 20  # deliveries one pass of a process claims at most (its lease covers them all, one after another)


@dataclass(frozen=True)
class CallbackPolicy:
    targets: str = "private"
    timeout: float = 3.0
    schedule: tuple[float, ...] = (5.0, 30.0, 300.0, 1800.0, 7200.0)
    batch_size: int = 100
    linger: float = 0.2
    lease_margin: float = 10.0  # a lease's time beyond the attempts it covers
    refused_ports: tuple[int, ...] = ()  # the mock's own store's (never a target)

    @property
    def lease(self) -> float:
        """How long a process holds a delivery it attempts: longer than any attempt takes."""
        return self.lease_for(1)

    def lease_for(self, attempts: int) -> float:
        """A lease that covers `attempts` attempts made one after another (each is cut at
        `timeout`), so it never runs out while the process that holds it is alive."""
        return max(1, attempts) * self.timeout + self.lease_margin


Validate = Callable[[str, dict[str, Any]], list[str]]  # kind, body -> problems (the contract's webhooks)


class Callbacks:
    def __init__(self, store: Store, policy: CallbackPolicy, errors: Mapping[int, str], validate: Validate,
                 configured: Mapping[str, CallbackConfig] | None = None, transport: Transport | None = None) -> None:
        self.store = store
        self.policy = policy
        self.errors = errors
        self.validate = validate
        self.transport = transport or Transport(policy.targets, policy.timeout,
                                                refused_ports=policy.refused_ports)
        self._pool: ThreadPoolExecutor | None = None
        self._inline = threading.BoundedSemaphore(INLINE)  # a request thread never queues behind a receiver
        for scope, config in (configured or {}).items():  # the settings' ones, unless changed at run time
            if not self.store.get_values([PREFIX + scope]):
                self.store.set_value(PREFIX + scope, config.to_json())

    # configuration ------------------------------------------------------------------------
    def configure(self, scope: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Save a configuration (after probing its URL, whatever the probe finds)."""
        config = parse_config(body, self.policy.targets, refused_ports=self.policy.refused_ports)
        probe = body.get("probe", True)
        if not isinstance(probe, bool):
            raise ControlError(400, f"probe: expected true or false, got {probe!r}")
        since = self.store.event_bounds()[1]
        config = CallbackConfig(config.url, config.username, config.secret, config.authorization, config.events,
                                config.description, since, "control plane",
                                self._probe_inline(config) if probe else {"skipped": True})
        self.store.set_value(PREFIX + scope, config.to_json())
        return self._view(scope, config)

    def probe(self, config: CallbackConfig) -> dict[str, Any]:
        """EngageLab's URL check: a POST of `{}` that must answer HTTP 200 within 3 s."""
        answer = self.transport.post(config.url, b"{}", self._headers(config), min(PROBE_TIMEOUT, self.policy.timeout))
        ok = answer.status == 200 and answer.error is None
        return {"ok": ok, "status": answer.status, "duration_ms": answer.duration_ms,
                "error": None if ok else (answer.error or f"HTTP {answer.status}: the check wants 200"),
                "response": answer.body}

    def _probe_inline(self, config: CallbackConfig) -> dict[str, Any]:
        """The URL check on the request's thread, unless INLINE of them (or resends) are under
        way: then the configuration is saved unchecked, and the probe says why."""
        if not self._inline.acquire(blocking=False):
            return {"skipped": True, "error": "other URL checks or resends are under way; PUT again to check"}
        try:
            return self.probe(config)
        finally:
            self._inline.release()

    def config(self, scope: str) -> CallbackConfig | None:
        raw = self.store.get_values([PREFIX + scope]).get(PREFIX + scope)
        return CallbackConfig.from_json(raw) if raw else None

    def configs(self) -> dict[str, CallbackConfig]:
        return {name[len(PREFIX):]: CallbackConfig.from_json(raw) for name, raw in self.store.values(PREFIX).items()}

    def shown(self, scope: str) -> dict[str, Any]:
        config = self.config(scope)
        if config is None:
            whose = "everyone" if scope == EVERYONE else f"dev_key {scope!r}"
            raise ControlError(404, f"no callback configured for {whose}; PUT /_mock/callbacks with a url")
        return self._view(scope, config)

    def remove(self, scope: str) -> dict[str, Any]:
        shown = self.shown(scope)
        self.store.set_value(PREFIX + scope, None)
        return shown

    def active(self) -> bool:
        return bool(self.store.values(PREFIX))

    @staticmethod
    def _view(scope: str, config: CallbackConfig) -> dict[str, Any]:
        return {"dev_key": scope or None, **config.view()}

    # routing the stream -------------------------------------------------------------------
    def route(self, limit: int = 1000) -> int:
        """Claim new stream records and keep their rows as deliveries; returns records claimed."""
        records = self.store.claim_events(CONSUMER, limit, self.policy.lease)
        if not records:
            return 0
        configs = self.configs()
        groups: dict[tuple[str, str | None, str], list[tuple[str, Row]]] = {}
        for record in records:
            for index, row in enumerate(rows_of(record, self.errors) if configs else ()):
                scope = _scope_of(row.tenant, configs)
                config = configs.get(scope) if scope is not None else None
                if config is None or record.seq <= config.since or not config.wants(row.kind, row.event):
                    continue
                groups.setdefault((scope or EVERYONE, row.tenant, row.kind), []).append((f"{record.seq}.{index}", row))
        now = time.time()
        made = [self._delivery(f"e{first}", scope, tenant, kind, [r for _, r in chunk], now)
                for (scope, tenant, kind), rows in groups.items()
                for first, chunk in _chunks(rows, self.policy.batch_size)]
        self.store.add_deliveries(made)
        self.store.ack_events(CONSUMER, [r.seq for r in records])
        return len(records)

    @staticmethod
    def _delivery(delivery_id: str, scope: str, tenant: str | None, kind: str, rows: list[Row], now: float,
                  origin: str = "event") -> Delivery:
        return Delivery(delivery_id, tenant, scope, kind, orjson.dumps(envelope(rows)).decode(),
                        tuple(r.event for r in rows), tuple(dict.fromkeys(r.message_id for r in rows if r.message_id)),
                        now, origin, next_at=now)

    # attempts -----------------------------------------------------------------------------
    def attempt_due(self, limit: int = CLAIM) -> int:
        """Attempt the deliveries that are due (those this process can claim); returns how many.
        One dev_key's deliveries are attempted in order, several dev_keys' side by side.

        A pass claims at most `limit` deliveries under one lease long enough for all of them
        made one after another (however the threads get to them), and renews the lease of each
        just before its POST: a delivery whose lease was lost is left to whoever holds it, so one
        delivery is attempted by one process at a time."""
        now = time.time()
        token = secrets.token_hex(8)
        due = self.store.due_deliveries(now, max(1, min(limit, CLAIM)))
        lease = self.policy.lease_for(len(due))
        claimed: dict[str | None, list[Delivery]] = {}
        for delivery_id in due:
            taken = self.store.update_delivery(delivery_id, functools.partial(_claimed, now=now, token=token,
                                                                              lease=lease))
            if taken is not None:
                claimed.setdefault(taken.tenant, []).append(taken)
        if not claimed:
            return 0
        if len(claimed) == 1:
            self._attempt_batch(next(iter(claimed.values())), token)
        else:
            pool = self._executor()
            list(pool.map(lambda batch: self._attempt_batch(batch, token), claimed.values()))
        return sum(len(batch) for batch in claimed.values())

    def _attempt_batch(self, batch: list[Delivery], token: str) -> None:
        trigger = {False: SCHEDULED, True: MANUAL}
        for index, delivery in enumerate(batch):
            renewed = self.store.update_delivery(delivery.id, functools.partial(
                _renewed, token=token, now=time.time(), lease=self.policy.lease_for(len(batch) - index)))
            if renewed is None:  # the lease was lost (or the delivery went): someone else attempts it
                continue
            self._attempt(renewed, token, trigger[renewed.manual_next])

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="callbacks")
        return self._pool

    def _attempt(self, delivery: Delivery, token: str, trigger: str) -> Delivery | None:
        config = self.config(delivery.scope)
        started = time.time()
        if config is None:
            whose = "everyone" if delivery.scope == EVERYONE else f"dev_key {delivery.scope!r}"
            answer, url, shown = Answer(None, None, 0.0, f"no callback configured for {whose} any more"), "", {}
        else:
            headers = self._headers(config)
            answer = self.transport.post(config.url, delivery.body.encode(), headers)
            url, shown = config.url, _shown_headers(headers)
        attempt = Attempt(started, url, shown, answer.status, answer.body, answer.duration_ms, answer.error,
                          trigger, answer.ok)
        return self.store.update_delivery(delivery.id, functools.partial(
            _finished, token=token, attempt=attempt, schedule=self.policy.schedule, now=time.time()))

    @staticmethod
    def _headers(config: CallbackConfig) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if config.signed:
            headers[HEADER] = callback_id(config.username, config.secret)  # real time, a fresh nonce
        if config.authorization:
            headers["Authorization"] = config.authorization
        return headers

    # the log ------------------------------------------------------------------------------
    def deliveries(self, tenant: str | None = None, message_id: str | None = None, status: str | None = None,
                   limit: int = 100, since: float | None = None) -> list[dict[str, Any]]:
        """The delivery log, newest first, as JSON-ready dicts (the console shows them)."""
        if status is not None and status not in steps.STATUSES:
            raise ControlError(400, f"status: expected one of {', '.join(steps.STATUSES)}, got {status[:40]!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LOG:
            raise ControlError(400, f"limit: expected a whole number from 1 to {MAX_LOG}, got {limit!r}")
        found = self.store.find_deliveries(DeliveryQuery(tenant, status, message_id, since, limit))
        return [delivery_view(d) for d in found]

    def resend(self, delivery_id: str, tenant: str | None = None) -> dict[str, Any]:
        """Attempt one delivery again now (a manual attempt; it changes no schedule)."""
        found = self._own(delivery_id, tenant)
        if not self._inline.acquire(blocking=False):  # the POST runs on the request's thread: a few at once
            raise ControlError(429, "a resend (or a URL check) is under way; try again in a moment")
        try:
            token = secrets.token_hex(8)
            taken = self.store.update_delivery(found.id, functools.partial(
                _claimed, now=time.time(), token=token, lease=self.policy.lease, manual=True))
            if taken is None:
                raise ControlError(409, f"delivery {delivery_id!r} is being attempted right now; "
                                        "try again in a moment")
            self._attempt(taken, token, MANUAL)
        finally:
            self._inline.release()
        return delivery_view(self._own(delivery_id, tenant))

    def recover(self, since: Any, tenant: str | None = None) -> dict[str, Any]:
        """Every failed delivery made at or after `since` (Unix seconds) is due again now, for one
        more attempt each (made by the background sender, as the schedule's are)."""
        if isinstance(since, bool) or not isinstance(since, (int, float)) or not math.isfinite(since) or since < 0:
            raise ControlError(400, f"since: expected a time in Unix seconds, got {since!r}")
        failed = self.store.find_deliveries(DeliveryQuery(tenant, steps.FAILED, None, float(since), 10_000))
        now = time.time()
        again = [d.id for d in failed if self.store.update_delivery(d.id, functools.partial(_recovered, now=now))]
        return {"recovered": len(again), "ids": again}

    def clock_jumped(self, tenant: str | None) -> int:
        """The virtual clock of a dev_key (None: everyone's) jumped: its deliveries waiting for a
        retry are due now ("retry due ones now"); returns how many."""
        now, moved = time.time(), 0
        for delivery_id in self.store.due_deliveries(math.inf, 10_000):
            if self.store.update_delivery(delivery_id, functools.partial(_hastened, now=now, tenant=tenant)):
                moved += 1
        return moved

    def _own(self, delivery_id: str, tenant: str | None) -> Delivery:
        found = self.store.get_delivery(delivery_id)
        if found is None or (tenant is not None and found.tenant != tenant):
            raise ControlError(404, f"no callback delivery {delivery_id[:60]!r}")
        return found

    # trigger ------------------------------------------------------------------------------
    def trigger(self, event: Any, scope: str, tenant: str, message: Mapping[str, Any] | None,
                override: Any = None) -> dict[str, Any]:
        """Keep a delivery of one made-up row (it goes out as the others do, in the background)."""
        if not isinstance(event, str):
            raise ControlError(400, f"event: expected an event name, got {event!r}")
        if override is not None and not isinstance(override, dict):
            raise ControlError(400, "override: expected an object of row fields")
        if _scope_of(tenant, self.configs()) is None:
            raise ControlError(409, f"no callback configured for dev_key {tenant!r} nor for everyone; "
                                    "PUT /_mock/callbacks first")
        row = trigger_row(event, tenant, message, _synthetic_id, self.errors, override)
        body = envelope([row])
        problems = self.validate(row.kind, body)
        if problems:
            raise ControlError(400, f"the row does not match the contract's {KINDS[row.kind]}: {problems[0]}")
        chosen = _scope_of(tenant, self.configs()) or EVERYONE
        made = self._delivery(f"t{secrets.token_hex(8)}", chosen, tenant, row.kind, [row], time.time(), "trigger")
        self.store.add_deliveries([made])
        if self.store.get_delivery(made.id) is None:  # a log full of other keys' pending deliveries
            raise ControlError(409, "the delivery log is full of other dev_keys' pending deliveries "
                                    "(max_deliveries); this one was not kept")
        return delivery_view(made)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _scope_of(tenant: str | None, configs: Mapping[str, CallbackConfig]) -> str | None:
    """Whose configuration takes a dev_key's rows: its own, else everyone's, else none."""
    if tenant and tenant in configs:
        return tenant
    return EVERYONE if EVERYONE in configs else None


def _chunks(rows: list[tuple[str, Row]], size: int) -> Iterable[tuple[str, list[tuple[str, Row]]]]:
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        yield chunk[0][0], chunk


def _synthetic_id() -> str:
    return str(1_900_000_000_000_000_000 + secrets.randbelow(10**17))


def _claimed(delivery: Delivery, now: float, token: str, lease: float,
             manual: bool = False) -> tuple[Delivery, Delivery | None]:
    taken, ok = steps.claim(delivery, now, token, lease, manual)
    return taken, (taken if ok else None)


def _renewed(delivery: Delivery, token: str, now: float, lease: float) -> tuple[Delivery, Delivery | None]:
    renewed, ok = steps.renew(delivery, token, now, lease)
    return renewed, (renewed if ok else None)


def _finished(delivery: Delivery, token: str, attempt: Attempt, schedule: tuple[float, ...],
              now: float) -> tuple[Delivery, Delivery | None]:
    done, ok = steps.finish(delivery, token, attempt, schedule, now)
    return done, (done if ok else None)


def _recovered(delivery: Delivery, now: float) -> tuple[Delivery, bool]:
    return steps.recovered(delivery, now)


def _hastened(delivery: Delivery, now: float, tenant: str | None) -> tuple[Delivery, bool]:
    return steps.hastened(delivery, now, tenant)


def _shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as the log shows them: the signature (derived) yes, credentials never."""
    shown = dict(headers)
    if "Authorization" in shown:
        shown["Authorization"] = masked_authorization(shown["Authorization"], MASK)
    return shown


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    """A delivery as the log shows it (JSON-ready); `at`, `url`, `response_status` and `error`
    are its last attempt's (None before the first), for a one-line summary."""
    last = delivery.attempts[-1] if delivery.attempts else None
    return {
        "at": _iso(last.at) if last else None, "url": last.url if last else None,
        "response_status": last.status if last else None, "error": last.error if last else None,
        "id": delivery.id, "dev_key": delivery.tenant, "scope": delivery.scope or None, "kind": delivery.kind,
        "events": list(delivery.events), "message_ids": list(delivery.message_ids), "origin": delivery.origin,
        "status": delivery.status, "created_at": _iso(delivery.created_at),
        "next_attempt_at": _iso(delivery.next_at) if delivery.status == steps.PENDING and delivery.next_at else None,
        "attempt_count": delivery.attempt_count, "scheduled_attempts": delivery.scheduled,
        "body": orjson.loads(delivery.body),
        "body_sha256": hashlib.sha256(delivery.body.encode()).hexdigest(),
        "attempts": [_attempt_view(a) for a in reversed(delivery.attempts)],
    }


def _attempt_view(attempt: Attempt) -> dict[str, Any]:
    return {"at": _iso(attempt.at), "url": attempt.url, "headers": attempt.headers, "status": attempt.status,
            "response": attempt.response, "duration_ms": attempt.duration_ms, "error": attempt.error,
            "trigger": attempt.trigger, "ok": attempt.ok}


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"

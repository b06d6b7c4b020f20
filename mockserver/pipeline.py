"""One pipeline per API request: authenticate, let a scenario answer or shape the send, check
the request, run the operation, check the reply. Pure: the web layer adapts Flask to
`ApiRequest`, and `OtpMock` records what the pipeline served.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mockserver.auth import KeyRing
from mockserver.bodies import parse_json
from mockserver.contract import Contract, Operation
from mockserver.errors import ApiError, ContractViolation
from mockserver.events import StreamEvent
from mockserver.otp.service import REALISTIC, OtpService, SendEffects
from mockserver.store.base import StaleRead
from mockserver.textsafe import shown

log = logging.getLogger("mockserver")


@dataclass(frozen=True)
class ApiRequest:
    """What the mock needs of an HTTP request, independent of the web framework. Header names
    are lower-case; `path` is decoded, `query` is the raw query string."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)
    too_large: bool = False
    query: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


TRANSPORT_FAULTS = frozenset({"connection_reset", "empty_reply", "incomplete_body", "hang"})
NOTE_HEADER = "X-Mock-Note"  # what the mock tells a client about its request (the journal's `note` too)


@dataclass(frozen=True)
class ApiReply:
    """A reply to send: status, JSON body and extra headers; a scenario may add a delay before
    it, or a fault (deliberately outside the contract) instead of it. A body of None is no body
    at all (the answer to OPTIONS)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    fault: str | None = None

    @functools.cached_property
    def data(self) -> bytes:
        """The body as sent (JSON, or cut short by a body fault); encoded once."""
        if self.body is None:
            return b""
        text = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if self.fault == "truncated_json":
            return text[: max(1, len(text) // 2)]
        if self.fault == "malformed_json":
            return text.replace(b'"', b"", 2) + b"}"
        return text

    def encode(self) -> bytes:
        return self.data

    def json(self) -> Any:
        """The body as the client decodes it."""
        return self.body


@dataclass(frozen=True)
class Context:
    """A request on its way through the pipeline, as scenario hooks see it."""

    operation: Operation
    request: ApiRequest
    tenant: str
    body: Any = None


@dataclass(frozen=True)
class PassThrough:
    """An interceptor's answer that lets the realistic behaviour run, shaped by `effects`, its
    reply wait `delay` seconds and carry `note` (the X-Mock-Note header)."""

    effects: SendEffects = REALISTIC
    delay: float = 0.0
    note: str | None = None


class Interceptor(Protocol):
    """The scenario hook points: answer instead of the realistic behaviour, shape it, or change a reply."""

    def before(self, context: Context) -> ApiReply | PassThrough | None:
        """A reply to send now, the realistic behaviour with effects, or None (realistic as it
        is). Called after auth and request validation."""

    def after(self, context: Context, reply: ApiReply) -> ApiReply:
        """The reply to send in place of `reply` (which may be an error). Called for every
        reply of an authenticated request, before the reply is checked against the contract."""


class NoScenarios:
    """The default hook: never intervenes."""

    pure_after = True  # `after` changes nothing and records nothing: a reply may be finished early

    def before(self, context: Context) -> ApiReply | PassThrough | None:
        return None

    def after(self, context: Context, reply: ApiReply) -> ApiReply:
        return reply


@dataclass(frozen=True)
class Served:
    """What the pipeline did with a request, for the journal. `journalled`: its record was
    written already, with the operation's own write (see Commit)."""

    reply: ApiReply
    tenant: str | None = None
    operation: str | None = None
    violations: tuple[str, ...] = ()
    note: str | None = None
    journalled: bool = False
    virtual_at: float | None = None


class Recorder(Protocol):
    """Makes a request's journal record (OtpMock's, for the request at hand)."""

    def record(self, served: Served, virtual_now: float) -> StreamEvent: ...


Result = dict[str, Any] | list[Any] | ApiError  # what an operation answers: a body, or an error
Finisher = Callable[[Result, float], tuple[Served, StreamEvent]]


class Commit:
    """A request's journal record, written by the store in the same atomic operation as the
    request's own write (one transaction, one round trip). The service asks for the records
    of the reply it is about to give (`records`), hands them to the store with its write, and
    says `done()` once the store wrote them; the pipeline then answers with that reply.

    Only with interceptors whose `after` hook is pure (`pure_after = True`): the reply is
    finished before the write, and a write that does not happen (3004) throws it away."""

    def __init__(self, finish: Finisher) -> None:
        self._finish = finish
        self._pending: Served | None = None
        self.served: Served | None = None

    def records(self, result: Result, virtual_now: float) -> list[StreamEvent]:
        """The records of the request if its answer is `result` (a reply body, or an error)."""
        served, record = self._finish(result, virtual_now)
        self._pending = served
        return [record]

    def done(self) -> None:
        self.served = self._pending


Handler = Callable[[OtpService, str, Any, dict[str, str], SendEffects, Commit | None], Any]
HANDLERS: dict[str, Handler] = {
    "send_otp": lambda s, t, b, p, e, c: s.send_otp(t, b, e, c),
    "send_custom_code": lambda s, t, b, p, e, c: s.send_custom_code(t, b, e, c),
    "verify_otp": lambda s, t, b, p, e, c: s.verify(t, b, c),
    "send_custom_message": lambda s, t, b, p, e, c: s.send_custom_message(t, b, e, c),
    "create_template": lambda s, t, b, p, e, c: s.create_template(t, b),
    "list_templates": lambda s, t, b, p, e, c: s.list_templates(t),
    "get_template": lambda s, t, b, p, e, c: s.get_template(t, p["templateId"]),
    "delete_template": lambda s, t, b, p, e, c: s.delete_template(t, p["templateId"]),
}


class Pipeline:
    """Serves the API's operations from the contract, the keys and the OTP service."""

    def __init__(self, contract: Contract, keys: KeyRing, service: OtpService,
                 validate: str = "log", max_json_depth: int = 32,
                 interceptor: Interceptor | None = None, validate_requests: bool = True) -> None:
        missing = [op.operation_id for op in contract.operations if op.operation_id not in HANDLERS]
        if missing:
            raise ContractViolation(f"the mock has no handler for operation(s) {', '.join(missing)}")
        self.contract = contract
        self.keys = keys
        self.service = service
        self.validate = validate
        self.max_json_depth = max_json_depth
        self.validate_requests = validate_requests
        self.interceptor: Interceptor = interceptor or NoScenarios()
        # Not the mock's bugs: a stale cache runs the request again, a store that cannot answer
        # is told as such (1000 "store unavailable"), by the mock around the pipeline.
        self._raised: tuple[type[BaseException], ...] = (StaleRead, *service.store.unavailable)

    def handle(self, op: Operation, request: ApiRequest, recorder: Recorder | None = None) -> Served:
        try:
            tenant = self.keys.authenticate(request.header("authorization"), op.operation_id, time.time())
        except ApiError as error:
            return self._served(op, None, self.error_reply(error))
        return self._guarded(op, request, tenant, recorder)

    def _guarded(self, op: Operation, request: ApiRequest, tenant: str, recorder: Recorder | None) -> Served:
        """Serve an authenticated request; every outcome passes through the `after` hook,
        which sees the parsed body whenever there is one (also on business errors)."""
        context = Context(op, request, tenant)
        commit: Commit | None = None
        try:
            if self.validate_requests:
                op.check_params(request.path_params)
            context = Context(op, request, tenant, self._body(op, request))
            decision = self.interceptor.before(context)
            if isinstance(decision, ApiReply):
                reply = decision
            else:
                passing = decision or PassThrough()
                if recorder is not None and getattr(self.interceptor, "pure_after", False):
                    commit = Commit(self._finisher(context, passing, recorder))
                reply = self._run(context, passing, commit)
        except ApiError as error:
            reply = self.error_reply(error)
        except self._raised:
            raise
        except Exception:
            if self.validate == "raise":
                raise
            log.exception("mock bug while serving %s %s", shown(request.method, 16), shown(request.path, 200))
            reply = self.error_reply(ApiError(1000, "internal server error (a bug of the mock; see its log)"))
            commit = None  # whatever it wrote, the answer is this one
        if commit is not None and commit.served is not None:
            return commit.served  # answered (and journalled) with the store's write
        return self._served(op, tenant, self.interceptor.after(context, reply))

    def _finisher(self, context: Context, passing: PassThrough, recorder: Recorder) -> Finisher:
        def finish(result: Result, virtual_now: float) -> tuple[Served, StreamEvent]:
            reply = self._reply(result, passing)
            served = self._served(context.operation, context.tenant, self.interceptor.after(context, reply))
            served = replace(served, journalled=True, virtual_at=virtual_now)
            return served, recorder.record(served, virtual_now)

        return finish

    def _run(self, context: Context, passing: PassThrough, commit: Commit | None) -> ApiReply:
        handler = HANDLERS[context.operation.operation_id]
        try:
            body = handler(self.service, context.tenant, context.body, context.request.path_params,
                           passing.effects, commit)
        except ApiError as error:
            return self._reply(error, passing)
        return self._reply(body, passing)

    def _reply(self, result: Any, passing: PassThrough) -> ApiReply:
        headers = {NOTE_HEADER: passing.note} if passing.note else {}
        if isinstance(result, ApiError):
            error = self.error_reply(result)
            return ApiReply(error.status, error.body, headers, delay=passing.delay)
        return ApiReply(200, result, headers, delay=passing.delay)

    def _served(self, op: Operation, tenant: str | None, reply: ApiReply) -> Served:
        fault = f"fault: {reply.fault} (deliberately outside the contract)" if reply.fault else None
        note = "; ".join(n for n in (reply.headers.get(NOTE_HEADER), fault) if n) or None
        return Served(reply, tenant, op.operation_id, self._check_reply(op, reply), note)

    def _body(self, op: Operation, request: ApiRequest) -> Any:
        if not op.has_body:
            return None
        if request.too_large:
            raise ApiError(3001, "invalid request body: the body is larger than the mock accepts "
                                 "(setting max_body_bytes)")
        body = parse_json(request.body, request.header("content-type"), self.max_json_depth)
        if self.validate_requests:
            op.check_body(body)
        return body

    def error_reply(self, error: ApiError) -> ApiReply:
        return ApiReply(self.contract.status_of(error.code), error.envelope())

    def _check_reply(self, op: Operation, reply: ApiReply) -> tuple[str, ...]:
        if self.validate == "off" or reply.fault is not None:
            return ()  # a fault is the one deliberate exception to the contract
        problems = tuple(op.reply_problems(reply.status, reply.body))
        if problems:
            text = f"{op.operation_id} replied {reply.status} outside the contract: {shown('; '.join(problems), 500)}"
            if self.validate == "raise":
                raise ContractViolation(text)
            log.warning(text)
        return problems

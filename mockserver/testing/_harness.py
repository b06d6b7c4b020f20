"""The engine of the testing face: one OtpMock, the calls it answered, and the errors asked for
the next requests. Every transport (responses, httpx, the served mock's WSGI adapter) hands
its requests to `Harness.exchange`, so they are answered, shaped and recorded the same way.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mockserver.auth import parse_basic
from mockserver.config import Settings
from mockserver.errors import ApiError
from mockserver.journal import mask_headers
from mockserver.mock import OtpMock
from mockserver.otp.clock import Clock
from mockserver.pipeline import TRANSPORT_FAULTS, ApiReply, ApiRequest
from mockserver.router import Found
from mockserver.scenarios.engine import SCENARIO_HEADER
from mockserver.testing._wire import ORIGINAL_URL

FAULTS = (*sorted(TRANSPORT_FAULTS), "truncated_json", "malformed_json")
FAULTS_SCENARIO, FAULT_HEADER = "faults", "x-mock-fault"  # scenarios/faults.yaml

# Settings a running mock cannot change: its store was opened with them.
STORE_SETTINGS = frozenset({"store", "retention_seconds", "max_messages", "max_tenants", "max_progress",
                            "max_events", "housekeeping_seconds"})


@dataclass(frozen=True)
class Call:
    """One request the client sent and what it got back, oldest first in `calls`.

    `status` is None when a transport fault left the client without a reply; `reply_body` is
    what went on the wire (a body fault's broken bytes, half a body for `incomplete_body`);
    `delay` is the wait a scenario asked for (slept only with `sleep_delays=True`). Credentials
    in `headers` are masked (`Basic ***`)."""

    method: str
    url: str
    path: str
    query: str
    operation: str | None
    dev_key: str | None
    status: int | None
    request_body: bytes
    reply_body: bytes
    delay: float = 0.0
    fault: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    at: float = 0.0

    def request_json(self) -> Any:
        """The request's body as JSON (None when it had none)."""
        return json.loads(self.request_body) if self.request_body else None

    def reply_json(self) -> Any:
        """The reply's body as JSON (None when there was none); raises ValueError on a body fault."""
        return json.loads(self.reply_body) if self.reply_body else None

    @property
    def code(self) -> int | None:
        """The API's error code of the reply, if it was an error envelope."""
        try:
            body = self.reply_json()
        except ValueError:
            return None
        value = body.get("code") if isinstance(body, dict) and self.status != 200 else None
        return value if isinstance(value, int) else None


@dataclass
class _Failure:
    what: int | str  # a documented error code, or a fault's name
    operation: str | None
    dev_key: str | None
    times: int

    def headers(self) -> dict[str, str]:
        """What a client would send to ask for it (`Prefer`, or the faults scenario)."""
        if isinstance(self.what, str):
            return {SCENARIO_HEADER: FAULTS_SCENARIO, FAULT_HEADER: self.what}
        return {"prefer": f"code={self.what}"}


class Harness:
    """One OtpMock and the testing face's records around it. Thread-safe."""

    def __init__(self, settings: Settings, clock: Clock | None = None, sleep_delays: bool = False) -> None:
        self.mock = OtpMock(settings, clock=clock)
        self.sleep_delays = sleep_delays
        self.calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()

    # serving ------------------------------------------------------------------------------
    def exchange(self, request: ApiRequest, url: str) -> ApiReply:
        """Answer a request (method upper-case, header names lower-case), with an error asked
        by `fail_next` if one applies, and record it."""
        route = self.mock.router.match(request.method, request.path)
        operation = route.route.target if isinstance(route, Found) else None
        api = isinstance(route, Found) and route.route.plane == "api"
        dev_key = _dev_key(request.header("authorization"))
        failure = self._failure_for(operation, dev_key, request) if api else None
        shaped = request if failure is None else dataclasses.replace(
            request, headers={**request.headers, **failure.headers()})
        reply = self.mock.handle_request(shaped)
        if failure is not None:
            self._consumed(failure, reply)
        self._record(request, url, operation, dev_key, reply)
        return reply

    def _record(self, request: ApiRequest, url: str, operation: str | None, dev_key: str | None,
                reply: ApiReply) -> None:
        transport = reply.fault in TRANSPORT_FAULTS
        data = b"" if request.method == "HEAD" else reply.encode()
        if transport:
            data = data[: len(data) // 2] if reply.fault == "incomplete_body" else b""
        call = Call(request.method, url, request.path, request.query, operation, dev_key,
                    None if transport else reply.status, request.body, data, reply.delay, reply.fault,
                    mask_headers({k: v for k, v in request.headers.items() if k != ORIGINAL_URL}), time.time())
        with self._lock:
            self.calls.append(call)

    # errors and faults asked for the next requests ---------------------------------------
    def fail_next(self, what: int | str, operation: str | None, dev_key: str | None, times: int) -> None:
        contract = self.mock.contract
        if operation is not None and operation not in contract.by_id:
            raise ValueError(f"fail_next(operation={operation!r}): no such operation; use {', '.join(contract.by_id)}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"fail_next(times={times!r}): expected a whole number >= 1")
        if isinstance(what, str):
            self._check_fault(what)
        else:
            self._check_code(what, operation)
        with self._lock:
            self._failures.append(_Failure(what, operation, dev_key, times))

    def _check_code(self, code: int, operation: str | None) -> None:
        errors = self.mock.contract.errors
        info = errors.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
        if info is None:
            known = ", ".join(str(c) for c in sorted(errors))
            raise ValueError(f"fail_next({code!r}): not an error code of the API (documented: {known}) nor a "
                             f"fault ({', '.join(FAULTS)})")
        if operation is not None and operation not in info.operations:
            documented = ", ".join(str(c) for c, i in sorted(errors.items()) if operation in i.operations)
            raise ValueError(f"fail_next({code}, operation={operation!r}): {operation} never answers {code}; "
                             f"its documented errors: {documented}")

    def _check_fault(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fail_next({fault!r}): not a fault; use one of {', '.join(FAULTS)} or an error code")
        if self.mock.scenarios.library.get(FAULTS_SCENARIO) is None:
            raise ValueError(f"fail_next({fault!r}) needs the scenario {FAULTS_SCENARIO!r} of the shipped library; "
                             f"copy scenarios/{FAULTS_SCENARIO}.yaml into your scenarios_dir")

    def _failure_for(self, operation: str | None, dev_key: str | None, request: ApiRequest) -> _Failure | None:
        if operation is None or request.header("prefer") is not None or request.header(SCENARIO_HEADER):
            return None  # the client's own choice wins
        errors = self.mock.contract.errors
        with self._lock:
            for failure in self._failures:
                if ((failure.operation is None or failure.operation == operation)
                        and (failure.dev_key is None or failure.dev_key == dev_key)
                        and (isinstance(failure.what, str) or operation in errors[failure.what].operations)):
                    return failure
        return None

    def _consumed(self, failure: _Failure, reply: ApiReply) -> None:
        """A failure is used once the mock answered with it (a request refused before, say
        with 2001 or 3002, leaves it for the next one)."""
        body = reply.body
        if isinstance(failure.what, str):
            used = reply.fault == failure.what
        else:
            used = isinstance(body, dict) and body.get("code") == failure.what
        if not used:
            return
        with self._lock:
            failure.times -= 1
            if failure.times <= 0 and failure in self._failures:
                self._failures.remove(failure)

    # state --------------------------------------------------------------------------------
    def calls_of(self, dev_key: str | None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if dev_key is None or c.dev_key == dev_key]

    def forget(self, dev_key: str | None) -> None:
        """Drop the calls and pending failures of one dev_key (or all)."""
        with self._lock:
            self.calls = [c for c in self.calls if dev_key is not None and c.dev_key != dev_key]
            self._failures = [f for f in self._failures if dev_key is not None and f.dev_key != dev_key]

    def reconfigure(self, changes: Mapping[str, Any]) -> None:
        """Rebuild the mock with some settings changed, around the same state: the store, the
        clock, the message ids and (unless the seed changes) the random draws."""
        refused = sorted(set(changes) & STORE_SETTINGS)
        if refused:
            raise ValueError(f"set({', '.join(refused)}=...): the store was opened with it; give it when the "
                             "mock is made (otp_mock(...), the otp_mock marker or serve_in_thread(...))")
        old = self.mock
        current = {f.name: getattr(old.settings, f.name) for f in dataclasses.fields(Settings)}
        settings = Settings.from_mapping({**current, **changes}, where="set()")
        new = OtpMock(settings, clock=old.service.clock, store=old.store)
        new.service.ids = old.service.ids  # one sequence: ids stay unique
        if "seed" not in changes:
            new.service.rng = old.service.rng
        self.mock = new


def _dev_key(header: str | None) -> str | None:
    try:
        return parse_basic(header)[0]
    except ApiError:
        return None

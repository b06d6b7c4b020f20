"""The whole mock as one Python object: `OtpMock`.

It owns the contract, the keys, the OTP service, the scenario engine, the store with its event
stream, the journal and the control plane, and answers HTTP-shaped requests through a pure
router. Every face is a thin adapter over it: the Flask app (`create_app`), the in-process
testing helpers, certification. Building one takes milliseconds once a process has compiled
the contract (cached), so a test can have a fresh mock each time.

    >>> mock = OtpMock({"seed": 7})
    >>> reply = mock.handle("POST", "/v1/messages", {"Authorization": "Basic dGVhbTpwdw==",
    ...     "Content-Type": "application/json"}, b'{"to": "+6591234567", "template": {"id": "sms-default"}}')
    >>> reply.status, mock.control.latest("+6591234567").channel
    (200, 'sms')
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from mockserver import yamlsafe
from mockserver.access import ControlAccess, is_loopback
from mockserver.auth import KeyRing
from mockserver.callbacks.sender import Sender
from mockserver.callbacks.setup import callbacks as callbacks_of
from mockserver.config import Settings, price_table
from mockserver.contract import Contract
from mockserver.control import ControlPlane
from mockserver.control_http import ControlHttp
from mockserver.cors import CorsPolicy
from mockserver.errors import ConfigError, ControlError, MockError
from mockserver.events import StreamEvent
from mockserver.journal import Exchange, Journal
from mockserver.otp.clock import Clock, SystemClock
from mockserver.otp.model import Template
from mockserver.otp.service import OtpPolicy, OtpService
from mockserver.otp.templates import new_template
from mockserver.pipeline import ApiReply, ApiRequest, Interceptor, Pipeline, Served
from mockserver.router import Found, Router, plane_of
from mockserver.scenarios.engine import ScenarioEngine
from mockserver.scenarios.library import Library
from mockserver.store import Store, StorePolicy, open_store
from mockserver.store.base import StaleRead
from mockserver.store.policy import PURGE_BATCH, Cadence, Housekeeper

DATA = Path(__file__).parent / "data"
log = logging.getLogger("mockserver")
RequestObserver = Callable[[Exchange], None]
STALE_RETRIES = 20
PIGGYBACK_PURGE, PIGGYBACK_SETTLE = 1000, 100  # what a request may do of the housekeeping (a few ms)
_READS = ("GET", "HEAD", "OPTIONS")
_BOOKKEEPING = ("claim_events", "ack_events")  # a consumer's claims would feed the stream it reads


class OtpMock:
    """The EngageLab OTP API and the mock's control plane, in-process.

    `config` is a Settings or a mapping of setting names; `clock` (the base of virtual time)
    and `store` may be injected; `interceptor` replaces the scenario engine's hook (tests of
    deliberately broken mocks); `on_request` sees every exchange (the served mock's log line).
    """

    def __init__(self, config: Settings | Mapping[str, Any] | None = None, *, clock: Clock | None = None,
                 store: Store | None = None, interceptor: Interceptor | None = None,
                 on_request: RequestObserver | None = None) -> None:
        settings = config if isinstance(config, Settings) else Settings.from_mapping(config or {})
        self.settings = settings
        self.contract = Contract.load(settings.spec_path)
        _check_operations("resend_guard", settings.resend_guard, self.contract)
        self.keys = KeyRing.load(settings.keys_file)
        self.store = store or open_store(settings.store, StorePolicy.from_settings(settings))
        self.service = OtpService(self.store, clock or SystemClock(), _rng(settings.seed),
                                  _otp_policy(settings, self.contract))
        self.scenarios = scenario_engine(settings, self.contract, self.service)
        self.journal = Journal(self.store, settings.journal_body_limit)
        self.pipeline = Pipeline(self.contract, self.keys, self.service, settings.validate_responses,
                                 settings.max_json_depth, interceptor or self.scenarios, settings.validate_requests)
        self.callbacks = callbacks_of(settings, self.store, self.contract)
        self.sender = Sender(self.callbacks, settings.callback_linger_seconds, self.store.unavailable)
        self.control = ControlPlane(self.service, self.scenarios, self.journal, self.contract,
                                    settings.max_scenario_keys, price_table(settings.prices), self.callbacks,
                                    self.sender.ensure)
        self._configured_callbacks = bool(settings.callback_url or settings.callbacks_file)
        self.control_token = control_token(settings)
        self.access = ControlAccess(self.keys, settings.host, self.control_token, settings.allowed_hosts,
                                    settings.control_origins)
        self.cors = CorsPolicy(settings.cors_origins, self.access.allowed_origin)
        self.router = Router.for_documents(self.contract, control_document())
        self._control_http = ControlHttp(self.control, control_document(), settings.max_json_depth, self.router)
        self._on_request = on_request
        self._housekeeping = Cadence(settings.housekeeping_seconds)
        self._housekeeper = Housekeeper(self.tick, settings.housekeeping_seconds)
        self._background = False
        self._store_problem: str | None = None  # set by tick(): requests fail fast until it clears

    # serving ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b"", *,
               query: str = "", too_large: bool = False) -> ApiReply:
        """Answer one request as the served mock would (API and control plane alike). The reply
        may carry a delay to wait and a transport fault to perform: the caller's to do."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        return self.handle_request(ApiRequest(method.upper(), path, headers, body, {}, too_large, query))

    def handle_request(self, request: ApiRequest) -> ApiReply:
        """`handle` for a request whose method is upper-case and header names lower-case."""
        reply = self._answer(request)
        origin = request.headers.get("origin")
        if origin is not None and "Access-Control-Allow-Methods" not in reply.headers:  # preflights have theirs
            cors = self.cors.headers(origin, plane_of(request.path))
            if cors:
                return dataclasses.replace(reply, headers={**reply.headers, **cors})
        return reply

    def _answer(self, request: ApiRequest) -> ApiReply:
        started, at = time.perf_counter(), time.time()
        if self._background:
            self._housekeeper.ensure()
            self.sender.ensure()  # in each serving process, never before a fork (threads hold locks)
        elif self._configured_callbacks:
            self.sender.ensure()
        elif self._housekeeping.due():  # in-process: a small share on the request that finds it due
            self.tick(purge_limit=PIGGYBACK_PURGE, settle_limit=PIGGYBACK_SETTLE)
        if self._store_problem is not None:
            return self._unavailable(request, self._store_problem, at, started)
        try:
            for _ in range(STALE_RETRIES):  # a store with a cache may find it stale: the request runs again
                exchanges = _Exchanges(self.journal, request, at, started)
                with self.store.scope() as scope:
                    try:
                        served = self._serve(request, exchanges)
                        if not scope.current():
                            continue
                        self._record(exchanges, served)
                    except StaleRead:  # nothing of the request was kept
                        continue
                    return served.reply
        except self.store.unavailable as exc:
            return self._unavailable(request, str(exc), at, started)
        raise MockError(f"{request.method} {request.path}: the store's cache went stale {STALE_RETRIES} times "
                        "in a row; is something writing to it in a loop?")

    def _unavailable(self, request: ApiRequest, why: str, at: float, started: float) -> ApiReply:
        """The store cannot answer: 1000 on the API (HTTP 500, which clients retry), 503 on the
        control plane; shown in the log, not journalled (the journal is in the store)."""
        message = f"store unavailable: {why}"[:300]
        if plane_of(request.path) == "control":
            reply = ApiReply(503, {"code": 503, "message": message})
        else:
            reply = ApiReply(self.contract.status_of(1000), {"code": 1000, "message": message})
        if self._on_request is not None:
            self._on_request(_Exchanges(self.journal, request, at, started).exchange(Served(reply), 0.0))
        return reply

    def _serve(self, request: ApiRequest, exchanges: _Exchanges) -> Served:
        if request.method == "OPTIONS":
            allowed = self.router.allow(request.path)
            if allowed is not None:
                headers = {"Allow": ", ".join(allowed)}
                if "access-control-request-method" in request.headers:  # a browser's preflight
                    headers.update(self.cors.preflight(request.headers.get("origin"), plane_of(request.path),
                                                       allowed))
                return Served(ApiReply(200, None, headers))
        found = self.router.match(request.method, request.path)
        if not isinstance(found, Found):
            return Served(self._miss(request, found.status, found.allowed))
        routed = ApiRequest(request.method, request.path, request.headers, request.body, found.params,
                            request.too_large, request.query)
        if found.route.plane == "api":
            return self.pipeline.handle(self.contract.by_id[found.route.target], routed, exchanges)
        try:
            access = self.access.decide(routed, found.route.target)
        except ControlError as error:
            return Served(ApiReply(error.status, {"code": error.status, "message": error.message}),
                          operation=found.route.target)
        reply = self._control_http.handle(found.route.target, routed, found.params, access)
        return Served(reply, access.dev_key or _control_tenant(routed), found.route.target)

    def _miss(self, request: ApiRequest, status: int, allowed: tuple[str, ...]) -> ApiReply:
        """404 and 405 in the API's envelope; the code is the HTTP status (the mock's choice:
        what EngageLab answers there is not documented)."""
        if status == 405:
            shown = ", ".join(allowed)
            return ApiReply(405, {"code": 405, "message": f"method {request.method} is not allowed on "
                                                          f"{request.path}; allowed: {shown}"}, {"Allow": shown})
        if plane_of(request.path) == "control":
            known = ", ".join(self.router.candidates("control"))
            return ApiReply(404, {"code": 404, "message": f"no control-plane route {request.method} {request.path}; "
                                                          f"the control plane has: {known}"})
        known = ", ".join(self.router.candidates("api"))
        return ApiReply(404, {"code": 404, "message": f"no operation {request.method} {request.path}; the API has: "
                                                      f"{known} (the mock's control plane is under /_mock/, its "
                                                      "console at /, the index of every route at GET / with "
                                                      "Accept: application/json)"})

    def _record(self, exchanges: _Exchanges, served: Served) -> None:
        """Journal every API request and every control-plane call that changes the mock's state
        (reads are left out: consoles poll them; so are a consumer's claims), unless its record
        went with the operation's write already; show each to `on_request`."""
        request = exchanges.request
        wanted = exchanges.plane == "api" or (request.method not in _READS and served.operation not in _BOOKKEEPING)
        if not (wanted and not served.journalled) and self._on_request is None:
            return
        exchange = exchanges.last if served.journalled and exchanges.last is not None else \
            exchanges.exchange(served, self.service.now(served.tenant or ""))
        if wanted and not served.journalled:
            self.journal.record(exchange)
        if self._on_request is not None:
            self._on_request(exchange)

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """What `otp-mock serve` does once as it starts: the global scenario becomes the one of
        the settings (or none), whatever a durable store kept from an earlier run; and each
        serving process keeps house in a thread of its own, so no request waits on it."""
        self.scenarios.start()
        self._background = True

    def tick(self, purge_limit: int = PURGE_BATCH, settle_limit: int = 1000) -> None:
        """Housekeeping now: the store's policy (purge and caps), then the steps time has
        brought (deliveries, timeouts). A served mock runs it every `housekeeping_seconds` in a
        thread; in-process, a small share of it runs on the request that finds it due."""
        problem = self.store.problem()
        if problem != self._store_problem:
            if problem:
                log.error("store unavailable: %s", problem)
            else:
                log.warning("store available again")
        self._store_problem = problem
        if problem is not None:
            return
        try:
            self.store.housekeeping(purge_limit)
            self.service.settle_due(settle_limit)
        except self.store.unavailable as exc:
            log.error("housekeeping: store unavailable: %s", exc)
        except Exception:  # noqa: BLE001 - the request that ran it is still answered
            log.exception("housekeeping failed")

    def close(self) -> None:
        self.sender.stop()
        self._housekeeper.stop()
        self.callbacks.close()
        self.store.close()


class _Exchanges:
    """One request's journal record in the making (the pipeline's Recorder)."""

    def __init__(self, journal: Journal, request: ApiRequest, at: float, started: float) -> None:
        self.journal, self.request, self.at, self.started = journal, request, at, started
        self.plane = plane_of(request.path)
        self.last: Exchange | None = None

    def exchange(self, served: Served, virtual_now: float) -> Exchange:
        request, reply = self.request, served.reply
        self.last = Exchange(
            request.method, request.path, request.query, request.headers, request.body, reply.status, reply.body,
            reply.data, self.at, virtual_now, round((time.perf_counter() - self.started) * 1000, 3), self.plane,
            served.tenant, served.operation, served.violations, served.note)
        return self.last

    def record(self, served: Served, virtual_now: float) -> StreamEvent:
        return self.journal.event(self.exchange(served, virtual_now))


def control_token(settings: Settings) -> str | None:
    """The control plane's token: the one set, or one made up when the mock needs one (listening
    on anything but loopback, or with a keys file); None when the control plane is open."""
    if settings.control_token:
        return settings.control_token
    if not is_loopback(settings.host) or settings.keys_file:
        return secrets.token_urlsafe(24)
    return None


def _control_tenant(request: ApiRequest) -> str | None:
    """The dev_key a control-plane call names (query or JSON body), for the journal."""
    named = parse_qs(request.query).get("dev_key")
    if named:
        return named[0]
    if b'"dev_key"' not in request.body:
        return None
    try:
        value = json.loads(request.body)
    except ValueError:
        return None
    found = value.get("dev_key") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def _rng(seed: int | None) -> random.Random:
    # A seeded run is for replaying tests; unseeded codes come from the OS's CSPRNG.
    return random.Random(seed) if seed is not None else secrets.SystemRandom()  # noqa: S311


def _otp_policy(settings: Settings, contract: Contract) -> OtpPolicy:
    return OtpPolicy(
        max_verify_attempts=settings.max_verify_attempts, resend_guard=settings.resend_guard,
        template_review=settings.template_review, verify_custom_codes=settings.verify_custom_codes,
        delivery_delay_seconds=settings.delivery_delay_seconds,
        starting_templates=load_templates(contract, settings.templates_file),
        max_recipients=settings.max_recipients, max_message_bytes=settings.max_message_bytes,
        max_templates=settings.max_templates,
    )


def _check_operations(setting: str, names: tuple[str, ...], contract: Contract) -> None:
    for name in names:
        if name not in contract.by_id:
            close = difflib.get_close_matches(name, list(contract.by_id), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; use {', '.join(contract.by_id)}"
            raise ConfigError(f"setting {setting}: unknown operation {name!r}{hint}")


def scenarios_folder(settings: Settings) -> Path:
    """The scenario folder: `scenarios_dir`, or the library shipped with the kit."""
    return Path(settings.scenarios_dir) if settings.scenarios_dir else DATA / "scenarios"


def scenario_engine(settings: Settings, contract: Contract, service: OtpService) -> ScenarioEngine:
    """The engine over the scenario folder; the active scenario must exist and load cleanly."""
    folder = scenarios_folder(settings)
    if not folder.is_dir():
        raise ConfigError(f"scenarios_dir {folder}: not a folder")
    library = Library(folder, contract)
    if settings.scenario is not None and library.get(settings.scenario) is None:
        problems = "; ".join(e.message for e in library.errors.values())
        known = ", ".join(sorted(library.scenarios)) or "none"
        raise ConfigError(f"scenario {settings.scenario!r} is not in {folder} (known: {known})"
                          + (f"; errors: {problems}" if problems else ""))
    return ScenarioEngine(library, service, settings.seed, settings.magic_values, settings.scenario,
                          settings.max_delay_seconds)


def load_templates(contract: Contract, path: str | None) -> tuple[Template, ...]:
    """The starting templates, each checked against the create_template schema (cached per
    file version and contract: the templates are immutable)."""
    source = Path(path) if path else DATA / "default-templates.yaml"
    try:
        stat = source.stat()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the starting templates: {exc.strerror}") from None
    return _templates(contract, str(source), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _templates(contract: Contract, source: str, mtime_ns: int, size: int) -> tuple[Template, ...]:
    rows = yamlsafe.read(source, "starting templates") or []
    if not isinstance(rows, list):
        raise ConfigError(f"{source}: expected a list of templates in create_template's format")
    operation = contract.by_id["create_template"]
    found = []
    for index, row in enumerate(rows):
        try:
            operation.check_body(row)
            found.append(new_template(row, time.time(), "approve"))
        except Exception as exc:  # ApiError carries the rule that failed
            raise ConfigError(f"{source}: template [{index}] is not a valid create_template body: {exc}") from None
    return tuple(found)


@functools.lru_cache(maxsize=1)
def control_document() -> dict[str, Any]:
    """The control plane's own OpenAPI document (read once per process; never changed)."""
    return dict(yamlsafe.read(DATA / "admin-openapi.yaml", "control-plane document"))

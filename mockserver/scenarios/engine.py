"""The scenario engine: the mock's Interceptor. Picks the active scenario of a request, finds
the first rule that fires, and answers for it; magic values apply in every scenario; a request
nothing matches gets the realistic behaviour. Counters, sequences and named states are kept
per scenario and per dev_key in the store (so every worker shares them), and start over when
the scenario's file is edited. The active scenarios are control values of the store too.

Choosing a scenario, first match wins: the `X-Mock-Scenario` header; `Prefer: code=NNNN` (one
documented error, once); the scenario set for the request's dev_key; the global one. An
`X-Mock-Error` header no rule read is not silently dropped: the reply's `X-Mock-Note` (and the
journal's `note`) says why (`notes.py`).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import replace
from typing import Any

from faker import Faker

from mockserver.errors import ApiError
from mockserver.otp.service import OtpService, SendEffects
from mockserver.pipeline import NOTE_HEADER, ApiReply, Context, PassThrough
from mockserver.scenarios import magic, notes
from mockserver.scenarios.library import Library
from mockserver.scenarios.loader import header_problem
from mockserver.scenarios.model import Reply, Rule, Scenario
from mockserver.scenarios.states import settle
from mockserver.scenarios.templating import RenderContext, TemplateError, render
from mockserver.store.base import Progress

_PREFER = re.compile(r"(?:^|[;,\s])code=\"?(\d+)\"?")
_SENDS = {"send_otp", "send_custom_code", "send_custom_message"}
SCENARIO_HEADER = "x-mock-scenario"
ACTIVE = "scenario:"  # control values: ACTIVE (everyone) and ACTIVE + dev_key -> scenario name
NONE = ""  # the value of ACTIVE that turns a startup default (--scenario) off


class ScenarioEngine:
    """Answers requests from scenarios; thread-safe."""

    pure_after = True  # every effect is decided in `before`: a reply may be finished early

    def __init__(self, library: Library, service: OtpService, seed: int | None = None,
                 magic_values: bool = True, default: str | None = None, max_delay: float = 60.0) -> None:
        self.library = library
        self.service = service
        self.magic_values = magic_values
        self.max_delay = max_delay
        self._rng = random.Random(seed)  # noqa: S311 - replayable test behaviour, not secrets
        self._seed = seed
        self._faker: Faker | None = None  # made on first use: building one costs milliseconds
        self._lock = threading.Lock()
        self.store = service.store
        if default is not None and library.get(default) is None:
            raise KeyError(default)
        self.default = default  # active for everyone until the control plane says otherwise

    # selection ----------------------------------------------------------------------------
    def activate(self, name: str | None, dev_key: str | None = None) -> None:
        """Make a scenario active for everyone, or for one dev_key; None goes back to realistic."""
        self.library.refresh(force=True)
        if name is not None and self.library.get(name) is None:
            raise KeyError(name)
        if dev_key is None:
            self.store.set_value(ACTIVE, NONE if name is None and self.default else name)
        else:
            self.store.set_value(ACTIVE + dev_key, name)
        if name is not None:
            self.store.clear_progress(name, dev_key)

    def start(self) -> None:
        """What `otp-mock serve` does once when it starts: the global scenario becomes the one of
        the command line (or none), whatever a durable store kept from an earlier run."""
        self.store.set_value(ACTIVE, self.default)

    def active(self) -> dict[str, Any]:
        """The active scenarios, and those whose file has gone (the mock is realistic there)."""
        known = self.library.scenarios
        values = self.store.values(ACTIVE)
        chosen = values.pop(ACTIVE, None)
        everyone = self.default if chosen is None else chosen or None
        keys = {name[len(ACTIVE):]: value for name, value in values.items()}
        return {"global": everyone, "keys": keys,
                "missing": sorted({v for v in (everyone, *keys.values()) if v and v not in known})}

    def reset(self, dev_key: str | None = None) -> None:
        """Forget counters, sequences and states (of one dev_key, or all)."""
        self.store.clear_progress(None, dev_key)

    def _chosen(self, context: Context) -> Scenario | None:
        self.library.refresh()
        named = (context.request.header(SCENARIO_HEADER) or "").strip()
        if named:
            scenario = self.library.get(named)
            if scenario is None:
                known = ", ".join(sorted(self.library.scenarios)) or "none"
                raise _client_error(context, f"X-Mock-Scenario: unknown scenario {named!r}; known: {known}")
            return scenario
        own = ACTIVE + context.tenant
        values = self.store.get_values((own, ACTIVE))
        name = values.get(own) or values.get(ACTIVE, self.default)
        return self.library.get(name) if name else None

    # the hook points ----------------------------------------------------------------------
    def before(self, context: Context) -> ApiReply | PassThrough | None:
        error_header = context.request.header(notes.ERROR_HEADER)
        prefer = _PREFER.search(context.request.header("prefer") or "")
        if prefer:  # a code has four digits: a longer one is no documented code (nor an int() to make)
            digits = prefer.group(1)
            code = int(digits) if len(digits) <= 9 else -1
            note = notes.prefer_note(error_header, code) if error_header is not None else None
            return _noted(self._error_reply(code, None, context), note)
        scenario = self._chosen(context)
        found = self._fire(scenario, context) if scenario is not None else None
        note = None if error_header is None else notes.error_header_note(
            error_header, context.operation.operation_id, scenario, found[0] if found else None,
            self.library.contract)
        passing = PassThrough()
        if found is not None:
            answer = self._answer(*found, context)
            if isinstance(answer, ApiReply):
                return _noted(answer, note)
            passing = answer
        return _noted(self._magic(context, passing), note)

    def after(self, context: Context, reply: ApiReply) -> ApiReply:
        return reply  # every effect was decided before the operation ran

    # rules --------------------------------------------------------------------------------
    def _fire(self, scenario: Scenario, context: Context) -> tuple[Rule, Reply] | None:
        candidates = [rule for rule in scenario.rules if _static_match(rule, context)]
        if not candidates and not scenario.states:
            return None  # nothing to count and no timed state to start
        now = self.service.now(context.tenant)

        def step(data: Progress | None) -> tuple[Progress, tuple[Rule, Reply] | None]:
            if data is None or data.get("version") != scenario.version:  # new, or the file was edited
                data = {"version": scenario.version, "state": scenario.initial_state, "entered": now,
                        "calls": {}, "fired": {}}
            state, entered = settle(scenario, data["state"], data["entered"], now)
            calls, fired = dict(data["calls"]), dict(data["fired"])
            found = None
            for rule in candidates:
                if rule.match.state is not None and rule.match.state != state:
                    continue
                index = str(rule.index)
                count = calls[index] = calls.get(index, 0) + 1
                if rule.match.calls is not None and count not in rule.match.calls:
                    continue
                if rule.match.call_from is not None and count < rule.match.call_from:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                reply = _next_reply(rule, fired)
                if reply is None:
                    continue
                if rule.goto is not None:
                    state, entered = rule.goto, now
                found = (rule, reply)
                break
            return {"version": scenario.version, "state": state, "entered": entered, "calls": calls,
                    "fired": fired}, found

        return self.store.update_progress(scenario.name, context.tenant, step)

    # replies ------------------------------------------------------------------------------
    def _answer(self, rule: Rule, reply: Reply, context: Context) -> ApiReply | PassThrough:
        delay = self._delay(reply, rule)
        if reply.kind == "pass":  # realistic, maybe changed; magic values still apply after it
            return PassThrough(_effects(reply.passthrough or {}), delay)
        if reply.kind == "fault":
            sample = self.library.contract.example(context.operation.operation_id, 200)
            return ApiReply(500 if sample is None else 200, sample, delay=delay, fault=reply.fault)
        if reply.kind == "error":
            assert reply.error is not None
            answer = self._error_reply(reply.error, reply.message, context)
            return ApiReply(answer.status, answer.body, delay=delay)
        return self._explicit(rule, reply, context, delay)

    def _explicit(self, rule: Rule, reply: Reply, context: Context, delay: float) -> ApiReply:
        """An explicit reply rendered for this request; refused (1000) if it leaves the contract."""
        assert reply.status is not None
        try:
            with self._lock:  # one seeded Faker: the order of draws must not depend on threads
                rendered = render({"body": reply.body, "headers": reply.headers}, self._render_context(context))
        except TemplateError as exc:
            raise ApiError(1000, f"scenario rule at {rule.where}: {exc}") from None
        headers = {str(k): str(v) for k, v in rendered["headers"].items()}
        problems = context.operation.reply_problems(reply.status, rendered["body"])
        header = next((f"header {k!r} {p}" for k, v in headers.items() if (p := header_problem(v))), None)
        if problems or header:
            problem = problems[0] if problems else header
            raise ApiError(1000, f"scenario rule at {rule.where} made a reply outside the contract for this "
                                 f"request ({problem}); the mock answers 1000 instead")
        return ApiReply(reply.status, rendered["body"], headers, delay=delay)

    def _error_reply(self, code: int, message: str | None, context: Context, delay: float = 0.0) -> ApiReply:
        contract = self.library.contract
        info = contract.errors.get(code)
        op_id = context.operation.operation_id
        if info is None or op_id not in info.operations:
            documented = ", ".join(str(c) for c, i in sorted(contract.errors.items()) if op_id in i.operations)
            shown = code if code >= 0 else "(more than 9 digits)"
            raise _client_error(context, f"Prefer: code={shown} is not a documented error of {op_id}; "
                                         f"documented: {documented}")
        return ApiReply(info.status, {"code": code, "message": message or info.message_for(op_id)}, delay=delay)

    def _delay(self, reply: Reply, rule: Rule) -> float:
        spec = reply.delay or rule.delay
        if spec is None:
            return 0.0
        with self._lock:
            return min(self.max_delay, spec.draw(self._rng))

    def _magic(self, context: Context, passing: PassThrough) -> ApiReply | PassThrough:
        op_id = context.operation.operation_id
        if not self.magic_values or op_id not in _SENDS:
            return passing
        body = context.body if isinstance(context.body, dict) else {}
        to = body.get("to")
        recipients: list[Any] = to if isinstance(to, list) else [to]
        for recipient in recipients:
            code = magic.send_error(str(recipient))
            if code is not None:
                return self._error_reply(code, None, context, passing.delay)
        failure = magic.delivery_failure(to) if isinstance(to, str) else None
        if failure is not None:
            passing = PassThrough(passing.effects.merged(SendEffects(failure=failure)), passing.delay)
        if op_id == "send_otp":  # fixed, expired and never-matching codes are about platform codes
            return PassThrough(passing.effects.merged(_effects(magic.effect(str(to)))), passing.delay)
        return passing

    def _render_context(self, context: Context) -> RenderContext:
        headers = {k: v for k, v in context.request.headers.items() if k.lower() != "authorization"}
        if self._faker is None:  # under self._lock (see _explicit)
            self._faker = Faker()
            self._faker.seed_instance(self._seed if self._seed is not None else 0)
        return RenderContext(context.body, headers, context.request.path_params, self._faker,
                             self.service.ids.next, self.service.now(context.tenant), context.tenant)


def _noted(answer: ApiReply | PassThrough, note: str | None) -> ApiReply | PassThrough:
    """The answer with a note for the client (`X-Mock-Note`) and the journal."""
    if note is None:
        return answer
    if isinstance(answer, PassThrough):
        return replace(answer, note=note)
    return replace(answer, headers={**answer.headers, NOTE_HEADER: note})


def _effects(values: dict[str, Any]) -> SendEffects:
    """A scenario's `pass` values or a magic value's effect, as SendEffects."""
    ttl = values.get("ttl_seconds")
    failure = values.get("fail_delivery")
    if isinstance(failure, str):
        failure = {"status": failure}
    return SendEffects(code=values.get("code"), ttl_seconds=None if ttl is None else float(ttl),
                       fail_channels=frozenset(values.get("fail_channels") or ()),
                       never_verifies=bool(values.get("never_verifies")),
                       failure=None if failure is None else (failure["status"], int(failure.get("error") or 0)))


def _next_reply(rule: Rule, fired: dict[str, int]) -> Reply | None:
    """The reply of a rule's next firing (counted in `fired`); None once a sequence is over."""
    times = fired.get(str(rule.index), 0)
    fired[str(rule.index)] = times + 1
    if not rule.sequence or times < len(rule.replies):
        return rule.replies[min(times, len(rule.replies) - 1)]
    if rule.then == "repeat_last":
        return rule.replies[-1]
    if rule.then == "cycle":
        return rule.replies[times % len(rule.replies)]
    return None  # the sequence is over: the realistic behaviour takes over


def _client_error(context: Context, message: str) -> ApiError:
    """A mistake of the caller in the mock's own headers: 3002 (the contract lists it for every
    operation, list_templates included, for this)."""
    return ApiError(3002, message)


def _static_match(rule: Rule, context: Context) -> bool:
    """The conditions that do not depend on the scenario's progress."""
    match = rule.match
    if rule.operations is not None and context.operation.operation_id not in rule.operations:
        return False
    if match.dev_key is not None and match.dev_key != context.tenant:
        return False
    body = context.body if isinstance(context.body, dict) else {}
    if not _recipient_matches(rule, body.get("to")):
        return False
    template: dict[str, Any] = body["template"] if isinstance(body.get("template"), dict) else {}
    template_id = template.get("id") or context.request.path_params.get("templateId") or body.get("template_id")
    if match.template_id is not None and match.template_id != template_id:
        return False
    if any(context.request.header(name) != value for name, value in match.headers.items()):
        return False
    return all(_dig(body, path) == value for path, value in match.body.items())


def _recipient_matches(rule: Rule, to: Any) -> bool:
    match = rule.match
    if match.to is None and match.to_prefix is None and match.to_pattern is None:
        return True
    recipients = to if isinstance(to, list) else [to]
    for recipient in (r for r in recipients if isinstance(r, str)):
        if ((match.to is None or recipient == match.to)
                and (match.to_prefix is None or recipient.startswith(match.to_prefix))
                and (match.to_pattern is None or match.to_pattern.search(recipient))):
            return True
    return False


def _dig(body: Any, path: str) -> Any:
    value = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


_MISSING = object()

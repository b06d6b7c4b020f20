"""The scenario engine: the mock's Interceptor. Picks the active scenario of a request, finds
the first rule that fires, and answers for it; otherwise magic values, otherwise the realistic
behaviour. Counters, sequences and named states are kept per scenario and per dev_key.

Choosing a scenario, first match wins: the `X-Mock-Scenario` header; `Prefer: code=NNNN` (one
documented error, once); the scenario set for the request's dev_key; the global one.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

from mockserver.errors import ApiError
from mockserver.otp.service import OtpService
from mockserver.pipeline import ApiReply, Context
from mockserver.scenarios import magic
from mockserver.scenarios.library import Library
from mockserver.scenarios.model import Reply, Rule, Scenario
from mockserver.scenarios.templating import RenderContext, TemplateError, render

_PREFER = re.compile(r"(?:^|[;,\s])code=(\d+)")
_SENDS = {"send_otp", "send_custom_code", "send_custom_message"}
SCENARIO_HEADER = "x-mock-scenario"


@dataclass
class _Progress:
    """Where one scenario stands for one dev_key."""

    state: str
    entered: float
    calls: dict[int, int] = field(default_factory=dict)  # rule index -> matching calls
    fired: dict[int, int] = field(default_factory=dict)  # rule index -> times fired


class ScenarioEngine:
    """Answers requests from scenarios; thread-safe."""

    def __init__(self, library: Library, service: OtpService, seed: int | None = None,
                 magic_values: bool = True, default: str | None = None, max_delay: float = 60.0) -> None:
        self.library = library
        self.service = service
        self.magic_values = magic_values
        self.max_delay = max_delay
        self._rng = random.Random(seed)  # noqa: S311 - replayable test behaviour, not secrets
        self._faker: Faker | None = None
        self._seed = seed
        self._lock = threading.Lock()
        self._progress: dict[tuple[str, str], _Progress] = {}
        self._active: dict[str | None, str] = {}
        self._pending = threading.local()
        if default is not None:
            self.activate(default)

    # selection ----------------------------------------------------------------------------
    def activate(self, name: str | None, dev_key: str | None = None) -> None:
        """Make a scenario active for everyone, or for one dev_key; None goes back to realistic."""
        if name is not None and self.library.get(name) is None:
            raise KeyError(name)
        with self._lock:
            if name is None:
                self._active.pop(dev_key, None)
            else:
                self._active[dev_key] = name
            for key in [k for k in self._progress if k[0] == name and (dev_key is None or k[1] == dev_key)]:
                del self._progress[key]

    def active(self) -> dict[str, Any]:
        with self._lock:
            return {"global": self._active.get(None),
                    "keys": {k: v for k, v in self._active.items() if k is not None}}

    def reset(self, dev_key: str | None = None) -> None:
        """Forget counters, sequences and states (of one dev_key, or all)."""
        with self._lock:
            for key in [k for k in self._progress if dev_key is None or k[1] == dev_key]:
                del self._progress[key]

    def _chosen(self, context: Context) -> Scenario | None:
        self.library.refresh()
        named = context.request.header(SCENARIO_HEADER)
        if named:
            scenario = self.library.get(named.strip())
            if scenario is None:
                raise ApiError(3002, f"X-Mock-Scenario: unknown scenario {named.strip()!r}; "
                                     f"known: {', '.join(sorted(self.library.scenarios)) or 'none'}")
            return scenario
        with self._lock:
            name = self._active.get(context.tenant) or self._active.get(None)
        return self.library.get(name) if name else None

    # the hook points ----------------------------------------------------------------------
    def before(self, context: Context) -> ApiReply | None:
        self._pending.effects = {}
        self._pending.delay = 0.0
        prefer = _PREFER.search(context.request.header("prefer") or "")
        if prefer:
            return self._error_reply(int(prefer.group(1)), None, context)
        scenario = self._chosen(context)
        if scenario is not None:
            found = self._fire(scenario, context)
            if found is not None:
                rule, reply = found
                return self._answer(rule, reply, context)
        return self._magic(context)

    def after(self, context: Context, reply: ApiReply) -> ApiReply:
        effects: dict[str, Any] = getattr(self._pending, "effects", {})
        delay: float = getattr(self._pending, "delay", 0.0)
        self._pending.effects, self._pending.delay = {}, 0.0
        if effects and reply.status == 200 and context.operation.operation_id in _SENDS:
            message_id = reply.body.get("message_id") if isinstance(reply.body, dict) else None
            if message_id:
                self.service.adjust_message(context.tenant, str(message_id), **effects)
        if delay and not reply.delay:
            return ApiReply(reply.status, reply.body, reply.headers, delay=delay, fault=reply.fault)
        return reply

    # rules --------------------------------------------------------------------------------
    def _fire(self, scenario: Scenario, context: Context) -> tuple[Rule, Reply] | None:
        now = self.service.now(context.tenant)
        with self._lock:
            progress = self._progress_of(scenario, context.tenant, now)
            for rule in scenario.rules:
                if not self._matches(rule, context, progress.state):
                    continue
                count = progress.calls[rule.index] = progress.calls.get(rule.index, 0) + 1
                if rule.match.calls is not None and count not in rule.match.calls:
                    continue
                if rule.match.call_from is not None and count < rule.match.call_from:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                reply = self._next_reply(rule, progress)
                if reply is None:
                    continue
                if rule.goto is not None:
                    progress.state, progress.entered = rule.goto, now
                return rule, reply
        return None

    def _progress_of(self, scenario: Scenario, tenant: str, now: float) -> _Progress:
        key = (scenario.name, tenant)
        progress = self._progress.get(key)
        if progress is None:
            progress = self._progress[key] = _Progress(scenario.initial_state, now)
        for _ in range(len(scenario.states) + 1):  # timed states hand over to their successor
            spec = scenario.states.get(progress.state)
            if spec is None or spec.duration_seconds is None or now < progress.entered + spec.duration_seconds:
                break
            progress.entered += spec.duration_seconds
            progress.state = spec.then or scenario.initial_state
        return progress

    def _next_reply(self, rule: Rule, progress: _Progress) -> Reply | None:
        fired = progress.fired.get(rule.index, 0)
        progress.fired[rule.index] = fired + 1
        if not rule.sequence or fired < len(rule.replies):
            return rule.replies[min(fired, len(rule.replies) - 1)]
        if rule.then == "repeat_last":
            return rule.replies[-1]
        if rule.then == "cycle":
            return rule.replies[fired % len(rule.replies)]
        return None  # the sequence is over: the realistic behaviour takes over

    def _matches(self, rule: Rule, context: Context, state: str) -> bool:
        match = rule.match
        if rule.operations is not None and context.operation.operation_id not in rule.operations:
            return False
        if match.state is not None and match.state != state:
            return False
        if match.dev_key is not None and match.dev_key != context.tenant:
            return False
        body = context.body if isinstance(context.body, dict) else {}
        if not _recipient_matches(match, body.get("to")):
            return False
        template: dict[str, Any] = body["template"] if isinstance(body.get("template"), dict) else {}
        template_id = template.get("id") or context.request.path_params.get("templateId") or body.get("template_id")
        if match.template_id is not None and match.template_id != template_id:
            return False
        if any(context.request.header(name) != value for name, value in match.headers.items()):
            return False
        return all(_dig(body, path) == value for path, value in match.body.items())

    # replies ------------------------------------------------------------------------------
    def _answer(self, rule: Rule, reply: Reply, context: Context) -> ApiReply | None:
        delay = self._delay(reply, rule)
        if reply.kind == "pass":
            self._pending.effects = dict(reply.passthrough or {})
            self._pending.delay = delay
            return None
        if reply.kind == "fault":
            sample = self._sample(context)
            return ApiReply(500 if sample is None else 200, sample, delay=delay, fault=reply.fault)
        if reply.kind == "error":
            assert reply.error is not None
            answer = self._error_reply(reply.error, reply.message, context)
            return ApiReply(answer.status, answer.body, delay=delay)
        try:
            body = render(reply.body, self._render_context(context))
        except TemplateError as exc:
            raise ApiError(1000, f"scenario rule at {rule.where}: {exc}") from None
        assert reply.status is not None
        return ApiReply(reply.status, body, dict(reply.headers), delay=delay)

    def _error_reply(self, code: int, message: str | None, context: Context) -> ApiReply:
        contract = self.service_contract
        info = contract.errors.get(code)
        op_id = context.operation.operation_id
        if info is None or op_id not in info.operations:
            raise ApiError(3002, f"Prefer: code={code} is not a documented error of {op_id}; documented: "
                                 + ", ".join(str(c) for c, i in sorted(contract.errors.items())
                                             if op_id in i.operations))
        return ApiReply(info.status, {"code": code, "message": message or info.message})

    def _delay(self, reply: Reply, rule: Rule) -> float:
        spec = reply.delay or rule.delay
        if spec is None:
            return 0.0
        with self._lock:
            return min(self.max_delay, spec.draw(self._rng))

    def _magic(self, context: Context) -> ApiReply | None:
        if not self.magic_values or context.operation.operation_id not in _SENDS:
            return None
        body = context.body if isinstance(context.body, dict) else {}
        to = body.get("to")
        recipients: list[Any] = to if isinstance(to, list) else [to]
        for recipient in recipients:
            code = magic.send_error(str(recipient))
            if code is not None:
                return self._error_reply(code, None, context)
        self._pending.effects = magic.effect(str(recipients[0])) if recipients else {}
        return None

    def _sample(self, context: Context) -> Any:
        return self.service_contract.example(context.operation.operation_id, 200)

    def _render_context(self, context: Context) -> RenderContext:
        if self._faker is None:
            self._faker = Faker()
            self._faker.seed_instance(self._seed if self._seed is not None else 0)
        return RenderContext(context.body, context.request.headers, context.request.path_params, self._faker,
                             self.service.ids.next, self.service.now(context.tenant), context.tenant)

    @property
    def service_contract(self) -> Any:
        return self.library.contract


def _recipient_matches(match: Any, to: Any) -> bool:
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

"""Read a scenario file: safe YAML, its JSON Schema, then the contract.

Every error names the file, line and column and, for a misspelt name, the nearest valid one:
``scenarios/rate.yaml:7:9: unknown operation 'sendOtp'; did you mean 'send_otp'?``
A reply the contract does not allow for its operation is refused, so a scenario can never
teach a client a response the real API cannot send; faults are the labelled exception.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import re2
from faker import Faker
from jsonschema import Draft202012Validator, ValidationError

from mockserver import yamlsafe
from mockserver.contract import Contract, Operation
from mockserver.errors import ConfigError
from mockserver.scenarios.model import START, Delay, Match, Pattern, Reply, Rule, Scenario, StateSpec
from mockserver.scenarios.schema import SCENARIO
from mockserver.scenarios.templating import RenderContext, TemplateError, render
from mockserver.validation import describe

_VALIDATOR = Draft202012Validator(SCENARIO, format_checker=Draft202012Validator.FORMAT_CHECKER)
_SEND = {"send_otp", "send_custom_code", "send_custom_message"}
_RESERVED_HEADERS = {"content-length", "content-type", "transfer-encoding", "connection"}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is ours to report


def load_file(path: Path, contract: Contract, label: str | None = None) -> Scenario:
    """One scenario from a file, or a ConfigError that says where and what is wrong. A file
    loaded before in this process, unchanged since, is not read again (scenarios are immutable)."""
    source = label or str(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the scenario file: {exc.strerror}") from None
    return _load_file(str(path), contract, source, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _load_file(path: str, contract: Contract, source: str, mtime_ns: int, size: int) -> Scenario:
    try:
        text = yamlsafe.read_text(path, "scenario file")
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(path, source, 1)) from None
    return load_text(text, source, contract)


def load_text(text: str, source: str, contract: Contract) -> Scenario:
    """Like load_file, for text; any failure at all becomes a ConfigError naming the file."""
    try:
        return _load(text, source, contract)
    except ConfigError:
        raise
    except Exception as exc:  # a checker must report, never crash: name the file at least
        raise ConfigError(f"{source}: cannot load the scenario: {type(exc).__name__}: {exc}") from None


def _load(text: str, source: str, contract: Contract) -> Scenario:
    version = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    data, marks = yamlsafe.load(text, source)
    _check_finite(data, marks, ())
    problems = sorted(_VALIDATOR.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if problems:
        raise ConfigError(_schema_message(problems[0], marks))
    return dataclasses.replace(_Builder(data, marks, contract).scenario(), version=version)


def _check_finite(value: Any, marks: yamlsafe.Marks, path: tuple[Any, ...]) -> None:
    """No .inf or .nan anywhere: a TTL or a delay of infinity cannot be sent, stored or slept."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{marks.at(path)}: {value} is not a finite number; write a number of seconds")
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        _check_finite(child, marks, (*path, key))


def _schema_message(error: ValidationError, marks: yamlsafe.Marks) -> str:
    path = tuple(error.absolute_path)
    if (error.validator == "additionalProperties" and isinstance(error.instance, dict)
            and isinstance(error.schema, dict)):
        allowed = list(error.schema.get("properties", {}))
        extra = sorted(str(k) for k in set(error.instance) - set(allowed))[0]
        return f"{marks.at((*path, extra), key=True)}: unknown key {extra!r}{_suggest(extra, allowed)}"
    if error.validator == "required":
        return f"{marks.at(path)}: {describe(error, root='scenario')}"
    return f"{marks.at(path)}: {describe(error, root='scenario')}"


def _suggest(name: str, choices: list[str]) -> str:
    normal = {c.lower().replace("_", "").replace("-", ""): c for c in choices}
    close = difflib.get_close_matches(name.lower().replace("_", "").replace("-", ""), list(normal), n=1, cutoff=0.6)
    if not close:
        close = [normal[c] for c in difflib.get_close_matches(name, choices, n=1)]
        return f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(sorted(choices))}"
    return f"; did you mean {normal[close[0]]!r}?"


class _Builder:
    """Turns a schema-valid document into a Scenario, checking names and the contract."""

    def __init__(self, data: dict[str, Any], marks: yamlsafe.Marks, contract: Contract) -> None:
        self.data = data
        self.marks = marks
        self.contract = contract
        self.states = {str(k): StateSpec(v.get("duration_seconds"), v.get("then"))
                       for k, v in (data.get("states") or {}).items()}
        self.initial = str(data.get("initial_state", START))

    def fail(self, path: tuple[Any, ...], message: str, key: bool = False) -> ConfigError:
        return ConfigError(f"{self.marks.at(path, key)}: {message}")

    def scenario(self) -> Scenario:
        known = {self.initial, START, *self.states}
        for name, spec in self.states.items():
            if spec.then is not None:
                self._state_name(spec.then, ("states", name, "then"), known)
        rules = tuple(self._rule(i, raw, known) for i, raw in enumerate(self.data["rules"]))
        return Scenario(self.data["name"], self.data["description"], self.marks.source, rules,
                        self.initial, self.states)

    def _state_name(self, name: str, path: tuple[Any, ...], known: set[str]) -> str:
        if name not in known:
            raise self.fail(path, f"unknown state {name!r}{_suggest(name, sorted(known))} "
                                  "(declare it under 'states')")
        return name

    def _rule(self, index: int, raw: dict[str, Any], known: set[str]) -> Rule:
        at = ("rules", index)
        operations = self._operations(raw["operation"], (*at, "operation"))
        if ("reply" in raw) == ("sequence" in raw) and not ("delay" in raw and "sequence" not in raw):
            raise self.fail(at, "a rule needs exactly one of 'reply' or 'sequence' (or only a 'delay')")
        if "then" in raw and "sequence" not in raw:
            raise self.fail((*at, "then"), "'then' says what follows a 'sequence'; this rule has none")
        raws = raw["sequence"] if "sequence" in raw else [raw.get("reply", {"pass": True})]
        where = "sequence" if "sequence" in raw else "reply"
        replies = tuple(self._reply(r, operations, (*at, where, i) if where == "sequence" else (*at, where))
                        for i, r in enumerate(raws))
        when = raw.get("when") or {}
        if "state" in when:
            self._state_name(when["state"], (*at, "when", "state"), known)
        if "goto" in raw:
            self._state_name(raw["goto"], (*at, "goto"), known)
        return Rule(index, self.marks.at(at), operations, _match(when), replies, "sequence" in raw,
                    raw.get("then", "pass"), raw.get("probability"), _delay(raw.get("delay")), raw.get("goto"))

    def _operations(self, value: str | list[str], path: tuple[Any, ...]) -> frozenset[str] | None:
        if value == "*":
            return None
        names = [value] if isinstance(value, str) else value
        for i, name in enumerate(names):
            if name not in self.contract.by_id:
                where = path if isinstance(value, str) else (*path, i)
                raise self.fail(where, f"unknown operation {name!r}{_suggest(name, list(self.contract.by_id))}")
        return frozenset(names)

    def _reply(self, raw: dict[str, Any], operations: frozenset[str] | None, path: tuple[Any, ...]) -> Reply:
        kinds = [k for k in ("error", "status", "fault", "pass") if k in raw]
        if len(kinds) != 1:
            raise self.fail(path, f"a reply needs exactly one of error, status, fault or pass; got {kinds or 'none'}")
        if "message" in raw and "error" not in raw:
            raise self.fail((*path, "message"), "'message' goes with 'error'; with 'status' put it in 'body'")
        if ("body" in raw or "headers" in raw) and "status" not in raw:
            raise self.fail(path, "'body' and 'headers' go with 'status'")
        ops = [self.contract.by_id[o] for o in sorted(operations)] if operations else self.contract.operations
        passthrough = raw.get("pass")
        if isinstance(passthrough, dict) and passthrough and not {op.operation_id for op in ops} <= _SEND:
            raise self.fail((*path, "pass"), "ttl_seconds, fail_channels and fail_delivery apply to send "
                                             f"operations only ({', '.join(sorted(_SEND))})")
        if "error" in raw:
            self._check_error(raw["error"], ops, (*path, "error"))
        failure = passthrough.get("fail_delivery") if isinstance(passthrough, dict) else None
        if isinstance(failure, dict) and "error" in failure and failure["error"] not in self.contract.errors:
            documented = ", ".join(str(c) for c in sorted(self.contract.errors))
            raise self.fail((*path, "pass", "fail_delivery", "error"),
                            f"error {failure['error']} is not a documented code; documented: {documented}")
        if "status" in raw:
            self._check_portable(raw, path)
            for op in ops:
                self._check_explicit(raw, op, path)
        return Reply(error=raw.get("error"), message=raw.get("message"), status=raw.get("status"),
                     headers=dict(raw.get("headers") or {}), body=raw.get("body"), fault=raw.get("fault"),
                     passthrough=(passthrough if isinstance(passthrough, dict) else {}) if "pass" in raw else None,
                     delay=_delay(raw.get("delay")))

    def _check_error(self, code: int, ops: list[Operation], path: tuple[Any, ...]) -> None:
        info = self.contract.errors.get(code)
        if info is None:
            documented = ", ".join(str(c) for c in sorted(self.contract.errors))
            raise self.fail(path, f"error {code} is not a documented code; documented: {documented}")
        for op in ops:
            if op.operation_id not in info.operations:
                raise self.fail(path, f"error {code} is not documented for {op.operation_id} (it comes with "
                                      f"{', '.join(info.operations)}); name the operations the rule applies to")

    def _check_portable(self, raw: dict[str, Any], path: tuple[Any, ...]) -> None:
        """Headers the mock may send as they are, and a body that is plain JSON."""
        for name, value in (raw.get("headers") or {}).items():
            if str(name).lower() in _RESERVED_HEADERS:
                raise self.fail((*path, "headers", name), f"header {name!r} is set by the mock; "
                                                          "use a fault for a broken framing")
            problem = header_problem(str(value))
            if problem:
                raise self.fail((*path, "headers", name), f"header {name!r} {problem}")
        try:
            json.dumps(raw.get("body"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise self.fail((*path, "body"), f"body is not plain JSON ({exc}); quote dates and other "
                                             "YAML-only values") from None

    def _check_explicit(self, raw: dict[str, Any], op: Operation, path: tuple[Any, ...]) -> None:
        status = raw["status"]
        if status not in op.responses:
            documented = ", ".join(str(s) for s in sorted(op.responses))
            raise self.fail((*path, "status"), f"status {status} is not in the contract for {op.operation_id} "
                                               f"(documented: {documented}); use 'fault' for deliberate breakage")
        try:
            sample = render(raw.get("body"), _sample_context())
        except TemplateError as exc:
            raise self.fail((*path, "body"), str(exc)) from None
        problems = op.reply_problems(status, sample)
        if problems:
            raise self.fail((*path, "body"), f"body does not match the contract's {status} reply of "
                                             f"{op.operation_id}: {problems[0]}")


def _match(when: dict[str, Any]) -> Match:
    call = when.get("call")
    calls = frozenset([call] if isinstance(call, int) else call) if isinstance(call, (int, list)) else None
    return Match(
        to=when.get("to"), to_prefix=when.get("to_prefix"),
        to_pattern=compile_pattern(when["to_pattern"]) if "to_pattern" in when else None,
        template_id=when.get("template_id"), body=dict(when.get("body") or {}),
        headers={k.lower(): v for k, v in (when.get("headers") or {}).items()},
        dev_key=when.get("dev_key"), calls=calls,
        call_from=call.get("from") if isinstance(call, dict) else None, state=when.get("state"),
    )


def header_problem(value: str) -> str | None:
    """What keeps a header value from going out as it is: HTTP sends latin-1 without control
    characters (a line break would even split the reply)."""
    if any(c in value for c in "\r\n"):
        return "holds a line break"
    if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in value):
        return "holds a control character"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "holds characters HTTP headers cannot carry (only latin-1)"
    return None


def compile_pattern(pattern: str) -> Pattern:
    """A recipient pattern on RE2, which matches in linear time: a pattern that backtracks
    (`^(\\+?[0-9]+)+$` took 6.7 s at 28 characters with Python's re) cannot freeze the mock.
    RE2 has no backreferences or lookarounds; a pattern that needs them is refused."""
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)  # type: ignore[no-any-return]
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ConfigError(f"to_pattern {pattern!r}: {message} (patterns run on RE2: no backreferences or "
                          "lookarounds)") from None


def _delay(raw: Any) -> Delay | None:
    if raw is None:
        return None
    if isinstance(raw, (int, float)):
        return Delay("fixed", float(raw))
    if "min" in raw:
        return Delay("uniform", float(raw["min"]), float(max(raw["min"], raw["max"])))
    return Delay("normal", float(raw["mean"]), float(raw["stddev"]))


@functools.lru_cache(maxsize=1)
def _sample_faker() -> Faker:
    faker = Faker()
    faker.seed_instance(0)
    return faker


def _sample_context() -> RenderContext:
    faker = _sample_faker()
    body = {"to": "+6591234567", "message_id": "1725407449772531712", "verify_code": "123456",
            "code": "123456", "template": {"id": "test-template-1"}}
    return RenderContext(body, {}, {"templateId": "test-template-1"}, faker, lambda: "1725407449772531712",
                         1_764_000_000.0, "dev")

"""Read a certification profile: a scenario file with a `certification` key.

The file is read once (a regular file, bounded, safe YAML), loaded as a scenario (the failures
the session serves), and its `certification` part is checked against the profile's JSON Schema
and then for what a schema cannot say. Every error names the file, line and column:
``my-profile.yaml:41:9: unknown behaviour rule 'retry-backof'; did you mean 'retry-backoff'?``
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError

from mockserver import yamlsafe
from mockserver.certify.schema import ASPECTS, PROFILE, RULES
from mockserver.contract import Contract
from mockserver.errors import ConfigError
from mockserver.scenarios.loader import load_text
from mockserver.scenarios.model import Scenario
from mockserver.validation import describe

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "scenarios" / "certification.yaml"
STANDARD_ID = "engagelab-otp-standard"  # the shipped profile's id
_VALIDATOR = Draft202012Validator(PROFILE)
_RE2 = re2.Options()
_RE2.log_errors = False
_RE2.max_mem = 1 << 20  # a pattern may not make the matcher grow past 1 MiB


@dataclass(frozen=True)
class Matcher:
    """What a request must look like to show a case (every field given must hold)."""

    operations: frozenset[str] | None = None
    status: int | None = None
    code: int | None = None
    message: str | None = None  # lower-case substring of the reply's message
    fault: str | None = None
    to: str | None = None
    to_pattern: Any = None  # a compiled RE2 pattern
    reply: tuple[tuple[str, Any], ...] = ()
    body: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    section: str
    source: str
    trigger: str
    seen: tuple[Matcher, ...]
    handled_by: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    """A conformance aspect or a behaviour rule, with its documentation tags and limits."""

    id: str
    title: str
    section: str
    source: str
    limits: dict[str, Any]


@dataclass(frozen=True)
class Declared:
    """A skip or an expected failure the profile declares, with where it says so."""

    requirement: str
    reason: str
    where: str


@dataclass(frozen=True)
class Profile:
    id: str
    version: str
    title: str
    documentation: str
    validity_days: int
    hang_seconds: float
    conformance: tuple[Check, ...]
    behaviour: dict[str, Check]
    cases: tuple[Case, ...]
    skips: dict[str, Declared]
    failures: dict[str, Declared]
    scenario: Scenario
    source: str
    text: str

    @property
    def sha256(self) -> str:
        return text_sha256(self.text)

    @property
    def shipped(self) -> bool:
        """Byte for byte the standard profile this kit ships (its SHA-256 is the packaged file's)."""
        return self.sha256 == shipped_sha256()

    @property
    def standing(self) -> str:
        """What the profile is, for every view of the report: the shipped standard, a modified
        copy that keeps its id (a certificate against it is not a standard certificate), or a
        profile of its own."""
        return standing(self.id, self.shipped)

    def requirement_ids(self) -> list[str]:
        """Every requirement this profile makes, in report order."""
        return ([c.id for c in self.conformance] + [f"coverage.{c.id}" for c in self.cases]
                + [c.id for c in self.behaviour.values()] + list(SESSION_REQUIREMENTS))


SESSION_REQUIREMENTS = ("session.run", "session.evidence")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=1)
def shipped_sha256() -> str:
    """The SHA-256 of the standard profile in this installed kit."""
    return text_sha256(yamlsafe.read_text(SHIPPED, "certification profile"))


def standing(profile_id: str, shipped: bool) -> str:
    if shipped:
        return f"the shipped standard profile {STANDARD_ID}"
    if profile_id == STANDARD_ID:
        return f"modified copy of {STANDARD_ID} (not the shipped profile)"
    return f"custom profile (not the shipped {STANDARD_ID})"


def load_profile(path: Path | str | None, contract: Contract) -> Profile:
    """The profile of a file (default: the shipped `scenarios/certification.yaml`), or a
    ConfigError naming the file, line and column of the first problem."""
    file = Path(path) if path else SHIPPED
    source = str(path) if path else "scenarios/certification.yaml"
    try:
        text = yamlsafe.read_text(file, "certification profile")
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(str(file), source, 1)) from None
    return profile_from_text(text, source, contract)


def profile_from_text(text: str, source: str, contract: Contract) -> Profile:
    data, marks = yamlsafe.load(text, source, unique_keys=True)  # a key given twice is an error
    if data is None:
        raise ConfigError(f"{source}:1:1: the file is empty: a profile is a scenario with a 'certification' "
                          "mapping (`otp-mock certify profile` prints the standard one)")
    scenario = load_text(text, source, contract)  # the scenario part, with its own file:line errors
    if not isinstance(data, dict) or "certification" not in data:
        raise ConfigError(f"{source}: not a certification profile: add a 'certification' mapping "
                          "(see scenarios/certification.yaml)")
    raw = data["certification"]
    problems = sorted(_VALIDATOR.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    if problems:
        raise ConfigError(_schema_message(problems[0], marks))
    return _Builder(raw, marks, contract).profile(scenario, source, text)


def _schema_message(error: ValidationError, marks: yamlsafe.Marks) -> str:
    path = ("certification", *error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        extra = sorted(str(k) for k in set(error.instance) - set(allowed))[0]
        return f"{marks.at((*path, extra), key=True)}: unknown key {extra!r}{suggest(extra, allowed)}"
    if error.validator == "enum" and isinstance(error.schema, dict):
        choices = [str(c) for c in error.schema.get("enum", ())]
        return f"{marks.at(path)}: {error.instance!r} is not one of {', '.join(choices)}" \
               f"{suggest(str(error.instance), choices)}"
    return f"{marks.at(path)}: {describe(error, root='certification')}"


def suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Builder:
    """Turns a schema-valid `certification` mapping into a Profile, checking names."""

    def __init__(self, raw: dict[str, Any], marks: yamlsafe.Marks, contract: Contract) -> None:
        self.raw, self.marks, self.contract = raw, marks, contract

    def fail(self, path: tuple[Any, ...], message: str) -> ConfigError:
        return ConfigError(f"{self.marks.at(('certification', *path))}: {message}")

    def profile(self, scenario: Scenario, source: str, text: str) -> Profile:
        raw = self.raw
        conformance = tuple(self._check("conformance", name) for name in ASPECTS if name in raw["conformance"])
        behaviour = {name: self._check("behaviour", name) for name in RULES if name in raw["behaviour"]}
        cases = tuple(self._case(index, case) for index, case in enumerate(raw["cases"]))
        self._unique([c.id for c in cases])
        self._handlers(cases, behaviour)
        hang = float(raw["session"]["hang_seconds"])
        timeout = behaviour.get("client-timeout")
        if timeout is not None and float(timeout.limits["max_seconds"]) >= hang:
            raise self.fail(("behaviour", "client-timeout", "max_seconds"),
                            f"max_seconds must be below session.hang_seconds ({hang:g}), or a client that "
                            "never gives up would pass")
        for index, code in enumerate(raw["behaviour"].get("no-retry", {}).get("also", [])):
            self._code(("behaviour", "no-retry", "also", index), code)
        profile = Profile(raw["id"], raw["version"], raw["title"], raw["documentation"], raw["validity_days"], hang,
                          conformance, behaviour, cases, {}, {}, scenario, source, text)
        known = profile.requirement_ids()
        expected = raw.get("expected") or {}
        skips = self._declared(expected.get("skips") or [], "skips", known)
        failures = self._declared(expected.get("failures") or [], "failures", known)
        both = sorted(set(skips) & set(failures))
        if both:
            raise self.fail(("expected",), f"requirement {both[0]!r} is declared both a skip and an expected failure")
        return dataclasses.replace(profile, skips=skips, failures=failures)

    def _check(self, group: str, name: str) -> Check:
        entry = self.raw[group][name]
        limits = {k: v for k, v in entry.items() if k not in ("title", "section", "source")}
        return Check(f"{group}.{name}", entry["title"], entry["section"], entry["source"], limits)

    def _case(self, index: int, raw: dict[str, Any]) -> Case:
        seen = raw["seen"] if isinstance(raw["seen"], list) else [raw["seen"]]
        at = ("cases", index, "seen")
        matchers = tuple(self._matcher((*at, i) if isinstance(raw["seen"], list) else at, m)
                         for i, m in enumerate(seen))
        return Case(raw["id"], raw["title"], raw["section"], raw["source"], raw["trigger"], matchers,
                    tuple(raw.get("handled_by") or ()))

    def _matcher(self, at: tuple[Any, ...], raw: dict[str, Any]) -> Matcher:
        operations = raw.get("operation")
        names = [operations] if isinstance(operations, str) else operations
        if names is not None:
            for index, name in enumerate(names):
                if name not in self.contract.by_id:
                    where = (*at, "operation") if isinstance(operations, str) else (*at, "operation", index)
                    raise self.fail(where, f"unknown operation {name!r}{suggest(name, list(self.contract.by_id))}")
        if "code" in raw:
            self._code((*at, "code"), raw["code"])
        pattern = None
        if "to_pattern" in raw:
            try:
                pattern = re2.compile(raw["to_pattern"], _RE2)
            except re2.error as exc:
                raise self.fail((*at, "to_pattern"), f"not a valid RE2 pattern: {exc}") from None
        for key in ("reply", "body"):
            for dotted, value in (raw.get(key) or {}).items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise self.fail((*at, key, dotted), "expected a finite number")
        return Matcher(frozenset(names) if names is not None else None, raw.get("status"), raw.get("code"),
                       raw["message"].lower() if "message" in raw else None, raw.get("fault"), raw.get("to"),
                       pattern, tuple((raw.get("reply") or {}).items()), tuple((raw.get("body") or {}).items()))

    def _code(self, at: tuple[Any, ...], code: int) -> None:
        if code not in self.contract.errors:
            known = ", ".join(str(c) for c in sorted(self.contract.errors))
            raise self.fail(at, f"error code {code} is not in the contract's catalogue ({known})")

    def _unique(self, ids: list[str]) -> None:
        for index, case_id in enumerate(ids):
            if case_id in ids[:index]:
                raise self.fail(("cases", index, "id"), f"case id {case_id!r} is used twice")

    def _handlers(self, cases: tuple[Case, ...], behaviour: dict[str, Check]) -> None:
        for index, case in enumerate(cases):
            for position, name in enumerate(case.handled_by):
                if name not in behaviour:
                    raise self.fail(("cases", index, "handled_by", position),
                                    f"behaviour rule {name!r} is not in this profile's behaviour section")

    def _declared(self, rows: list[dict[str, Any]], key: str, known: list[str]) -> dict[str, Declared]:
        found: dict[str, Declared] = {}
        for index, row in enumerate(rows):
            name = row["requirement"]
            at = ("expected", key, index, "requirement")
            if name not in known:
                raise self.fail(at, f"no requirement {name!r} in this profile{suggest(name, known)}")
            if name in found:
                raise self.fail(at, f"requirement {name!r} is listed twice")
            found[name] = Declared(name, row["reason"], self.marks.at(("certification", *at)))
        return found

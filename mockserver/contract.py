"""Load openapi.yaml once, compile its operations, validate requests and replies against it.

Pure core: no Flask. Start-up fails with a ContractError that names the problem when the
contract is broken (bad YAML, a dangling $ref, a schema that does not compile, a missing
operationId or an incomplete error catalogue).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from mockserver import yamlsafe
from mockserver.errors import ApiError, ConfigError, ContractError
from mockserver.validation import describe, to_api_error

try:  # optional speed-up; every check works without it
    import jsonschema_rs
except ImportError:  # pragma: no cover
    jsonschema_rs = None  # type: ignore[assignment]

CONTRACT_URI = "urn:otp-contract"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def default_spec_path() -> Path:
    """The contract shipped inside the package (the repo's openapi.yaml)."""
    return Path(str(resources.files("mockserver") / "data" / "openapi.yaml"))


@dataclass(frozen=True)
class ErrorInfo:
    """One row of the catalogue (`x-error-codes`)."""

    code: int
    status: int
    name: str
    meaning: str
    message: str
    retryable: bool
    operations: tuple[str, ...]
    messages: Mapping[str, str] = field(default_factory=dict)  # operationId -> its own realistic message

    def message_for(self, operation_id: str) -> str:
        """The realistic message of this code for an operation: its own (`messages`), else `message`."""
        return self.messages.get(operation_id, self.message)


class FastValidator:
    """A compiled (Rust) validator answers "valid?" in about a microsecond; only a failing
    instance goes through the Python validator, which names the field and the rule. The Python
    validator stays the reference: an instance it accepts is valid."""

    def __init__(self, slow: Draft202012Validator, fast: Any | None) -> None:
        self.slow = slow
        self.fast = fast

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self.fast is not None:
            try:
                if self.fast.is_valid(instance):
                    return iter(())
            except (ValueError, OverflowError):  # values Rust cannot take (huge integers)
                pass
        errors: Iterator[ValidationError] = self.slow.iter_errors(instance)
        return errors


@dataclass
class Operation:
    """One compiled operation: where it lives and how to check what goes in and out."""

    operation_id: str
    method: str
    path: str
    summary: str
    has_body: bool
    request: FastValidator | None
    params: dict[str, FastValidator] = field(default_factory=dict)
    responses: dict[int, FastValidator | None] = field(default_factory=dict)
    error_codes: frozenset[int] = frozenset()  # the catalogue's codes for this operation

    @property
    def rule(self) -> str:
        """The path as a Werkzeug routing rule: ``/v1/template-configs/<templateId>``."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    def check_body(self, body: Any) -> None:
        """Raise the API's error (3002, or a business code the schema names) for a bad body."""
        if self.request is None:
            return
        error = to_api_error(self.request.iter_errors(body))
        if error is not None:
            raise error

    def check_params(self, values: dict[str, str]) -> None:
        """Raise 3002 for a path parameter that breaks its schema."""
        for name, validator in self.params.items():
            for problem in validator.iter_errors(values.get(name)):
                raise ApiError(3002, describe(problem, root=name))

    def reply_problems(self, status: int, body: Any) -> list[str]:
        """What is wrong with a reply; empty when it follows the contract."""
        if status not in self.responses:
            documented = ", ".join(str(s) for s in sorted(self.responses))
            return [f"status {status} is not documented for {self.operation_id} ({documented})"]
        validator = self.responses[status]
        problems = [] if validator is None else [describe(e) for e in validator.iter_errors(body)]
        code = body.get("code") if isinstance(body, dict) and status != 200 else None
        if not problems and isinstance(code, int) and code not in self.error_codes:
            documented = ", ".join(str(c) for c in sorted(self.error_codes))
            problems.append(f"code {code} is not documented for {self.operation_id} ({documented})")
        return problems


class Contract:
    """The compiled contract: operations by id, the error catalogue and the raw document."""

    def __init__(self, document: dict[str, Any], source: str = "openapi.yaml") -> None:
        self.document = document
        self.source = source
        self._registry: Registry[Any] = Registry().with_resource(
            CONTRACT_URI, DRAFT202012.create_resource(document)
        )
        self.errors = _compile_catalogue(document, source)
        self._check_refs()
        self._fast_map = _fast_map(document)
        self.operations = [self._compile(m, p, op) for p, m, op in _iter_operations(document)]
        self.by_id = {op.operation_id: op for op in self.operations}
        self._check_catalogue_operations()
        for op in self.operations:
            op.error_codes = frozenset(c for c, info in self.errors.items() if op.operation_id in info.operations)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Contract:
        """Read and compile a contract file; the default is the packaged openapi.yaml. A file
        compiled before in this process, and unchanged since, is not compiled again (a compiled
        contract is never changed)."""
        spec_path = Path(path) if path else default_spec_path()
        try:
            stat = spec_path.stat()
        except OSError as exc:
            raise ContractError(f"cannot read the contract {spec_path}: {exc.strerror}") from None
        return _compiled(str(spec_path), stat.st_mtime_ns, stat.st_size)

    @classmethod
    def _read(cls, spec_path: Path) -> Contract:
        try:
            text = yamlsafe.read_text(spec_path, "contract")
        except ConfigError as exc:
            raise ContractError(str(exc)) from None
        try:
            document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{spec_path}:{mark.line + 1}:{mark.column + 1}" if mark else str(spec_path)
            raise ContractError(f"{where}: {exc.problem or exc}") from None
        if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.1"):
            raise ContractError(f"{spec_path}: expected an OpenAPI 3.1 document ('openapi: 3.1.x')")
        return cls(document, str(spec_path))

    def status_of(self, code: int) -> int:
        """The HTTP status a documented error code comes with."""
        info = self.errors.get(code)
        if info is None:
            raise ContractError(f"error code {code} is not in the contract's x-error-codes")
        return info.status

    def example(self, operation_id: str, status: int) -> Any:
        """The first example of an operation's JSON reply for a status, or None."""
        op = self.by_id[operation_id]
        raw = self.document["paths"][op.path][op.method.lower()]["responses"].get(str(status))
        if raw is None:
            return None
        media = self._deref(raw).get("content", {}).get("application/json", {})
        for example in (media.get("examples") or {}).values():
            return self._deref(example).get("value")
        return media.get("example")

    def validator(self, pointer: str) -> FastValidator:
        """A validator for the schema at a JSON pointer of the contract (refs resolved)."""
        schema = {"$ref": f"{CONTRACT_URI}#{pointer}"}
        validator = Draft202012Validator(
            schema, registry=self._registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        try:
            target = self._registry.resolver().lookup(schema["$ref"]).contents
            Draft202012Validator.check_schema(target)
            validator.is_valid(None)  # resolves every $ref reachable from an empty probe
        except (Unresolvable, SchemaError) as exc:
            raise ContractError(f"{self.source}: schema at {pointer} does not compile: {exc}") from None
        return FastValidator(validator, self._compiled(pointer))

    def _compiled(self, pointer: str) -> Any | None:
        """The Rust validator of a pointer, from one map compiled for the whole document."""
        if self._fast_map is None:
            return None
        return self._fast_map.get(f"#{pointer}")

    def _compile(self, method: str, path: str, raw: dict[str, Any]) -> Operation:
        op_id = raw.get("operationId")
        if not op_id:
            raise ContractError(f"{self.source}: {method.upper()} {path} has no operationId")
        base = f"/paths/{_escape(path)}/{method}"
        body = raw.get("requestBody")
        request = None
        if body:
            media = self._deref(body).get("content", {})
            if "application/json" not in media:
                raise ContractError(f"{self.source}: {op_id} has a body that is not application/json")
            request = self._schema_validator(body, base + "/requestBody")
        op = Operation(op_id, method.upper(), path, raw.get("summary", ""), bool(body), request)
        for param in self._parameters(path, method, raw):
            if param.get("in") == "path":
                op.params[param["name"]] = self.validator(f"{param['_pointer']}/schema")
        for status, response in raw.get("responses", {}).items():
            op.responses[int(status)] = self._schema_validator(
                response, f"{base}/responses/{status}"
            )
        return op

    def _parameters(self, path: str, method: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
        """Path-level then operation-level parameters, resolved, each with its JSON pointer."""
        found = []
        shared = self.document["paths"][path].get("parameters", [])
        levels = ((f"/paths/{_escape(path)}", shared), (f"/paths/{_escape(path)}/{method}", raw.get("parameters", [])))
        for base, params in levels:
            for index, param in enumerate(params):
                pointer = param.get("$ref", "").removeprefix("#") or f"{base}/parameters/{index}"
                found.append({**self._deref(param), "_pointer": pointer})
        return found

    def _schema_validator(self, obj: dict[str, Any], pointer: str) -> FastValidator | None:
        if "$ref" in obj:
            pointer = obj["$ref"].removeprefix("#")
            obj = self._deref(obj)
        media = obj.get("content", {}).get("application/json")
        if media is None or "schema" not in media:
            return None
        return self.validator(f"{pointer}/content/application~1json/schema")

    def _deref(self, obj: dict[str, Any]) -> dict[str, Any]:
        ref = obj.get("$ref")
        if not ref:
            return obj
        try:
            found = self._registry.resolver().lookup(f"{CONTRACT_URI}{ref}").contents
        except Unresolvable:
            raise ContractError(f"{self.source}: dangling $ref {ref}") from None
        return dict(found)

    def _check_refs(self) -> None:
        """Fail at start-up on any dangling $ref, wherever it is in the document."""
        stack: list[tuple[Any, str]] = [(self.document, "")]
        resolver = self._registry.resolver()
        while stack:
            node, where = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    try:
                        resolver.lookup(f"{CONTRACT_URI}{ref}" if ref.startswith("#") else ref)
                    except Unresolvable:
                        raise ContractError(f"{self.source}: dangling $ref {ref!r} at {where or '/'}; "
                                            "the schema it names does not compile") from None
                stack.extend((v, f"{where}/{_escape(str(k))}") for k, v in node.items())
            elif isinstance(node, list):
                stack.extend((v, f"{where}/{i}") for i, v in enumerate(node))

    def _check_catalogue_operations(self) -> None:
        for info in self.errors.values():
            for op_id in info.operations:
                if op_id not in self.by_id:
                    raise ContractError(
                        f"{self.source}: x-error-codes {info.code} names unknown operation {op_id!r}"
                    )
            for op_id in info.messages:
                if op_id not in info.operations:
                    raise ContractError(f"{self.source}: x-error-codes {info.code} has a message for {op_id!r}, "
                                        "which is not one of its operations")


@functools.lru_cache(maxsize=16)
def _compiled(path: str, mtime_ns: int, size: int) -> Contract:
    return Contract._read(Path(path))


def _fast_map(document: dict[str, Any]) -> Any | None:
    if jsonschema_rs is None:
        return None
    try:
        return jsonschema_rs.validator_map_for(document, validate_formats=True)
    except Exception:  # noqa: BLE001 - the Python validators alone still work
        return None


def _iter_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise ContractError("the contract has no paths")
    return [
        (path, method, item[method])
        for path, item in paths.items()
        for method in METHODS
        if isinstance(item, dict) and method in item
    ]


def _compile_catalogue(document: dict[str, Any], source: str) -> dict[int, ErrorInfo]:
    table = document.get("x-error-codes")
    if not isinstance(table, dict) or not table:
        raise ContractError(f"{source}: missing the error catalogue 'x-error-codes'")
    catalogue = {}
    for key, row in table.items():
        try:
            code = int(key)
            catalogue[code] = ErrorInfo(
                code=code,
                status=int(row["status"]),
                name=str(row["name"]),
                meaning=str(row["meaning"]),
                message=str(row["message"]),
                retryable=bool(row.get("retryable", False)),
                operations=tuple(row.get("operations", ())),
                messages={str(k): str(v) for k, v in (row.get("messages") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(f"{source}: x-error-codes {key!r} is incomplete: {exc!r}") from None
    return catalogue


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")

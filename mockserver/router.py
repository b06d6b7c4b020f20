"""The mock's routes, compiled once from its two OpenAPI documents: the EngageLab contract (the
API) and the control plane's own. Pure: a method and a path in, a route and its parameters out,
or the reason none matched (404, or 405 with the methods the path allows).

    >>> router = Router([Route("POST", "/v1/messages", "send_otp", "api")])
    >>> router.match("POST", "/v1/messages").route.target
    'send_otp'
    >>> router.match("GET", "/v1/messages").allowed
    ('POST', 'OPTIONS')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mockserver.contract import METHODS, Contract

CONTROL_PREFIX = "/_mock"
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # /v1/template-configs/{templateId}
    target: str  # the operationId
    plane: str  # "api" or "control"
    summary: str = ""


@dataclass(frozen=True)
class Found:
    route: Route
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Miss:
    """No route for the request: 404, or 405 with the methods the path does allow."""

    status: int
    allowed: tuple[str, ...] = ()


def plane_of(path: str) -> str:
    """The control plane's paths are under /_mock, and `/` (its index of every route) is one."""
    return "control" if path in ("/", CONTROL_PREFIX) or path.startswith(CONTROL_PREFIX + "/") else "api"


class Router:
    """Routes by method and path: exact paths in one lookup, templated ones by pattern."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        self._exact: dict[str, dict[str, Route]] = {}
        self._patterns: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        by_template: dict[str, dict[str, Route]] = {}
        for route in self.routes:
            by_template.setdefault(route.template, {})[route.method] = route
        for template, methods in by_template.items():
            if "{" not in template:
                self._exact[template] = methods
            else:
                self._patterns.append((_compile(template), methods))

    @classmethod
    def for_documents(cls, contract: Contract, control: dict[str, Any]) -> Router:
        api = [Route(op.method, op.path, op.operation_id, "api", op.summary) for op in contract.operations]
        return cls([*api, *_routes(control, "control")])

    def match(self, method: str, path: str) -> Found | Miss:
        methods, params = self._methods(path)
        if methods is None:
            return Miss(404)
        route = methods.get("GET" if method == "HEAD" else method)
        if route is None:
            return Miss(405, self.allowed(methods))
        return Found(route, params)

    def allow(self, path: str) -> tuple[str, ...] | None:
        """The methods a path allows (for OPTIONS and 405), or None when it has no route."""
        methods, _ = self._methods(path)
        return None if methods is None else self.allowed(methods)

    @staticmethod
    def allowed(methods: dict[str, Route]) -> tuple[str, ...]:
        found: list[str] = []
        for method in methods:
            found += [method, "HEAD"] if method == "GET" else [method]
        return (*found, "OPTIONS")

    def _methods(self, path: str) -> tuple[dict[str, Route] | None, dict[str, str]]:
        exact = self._exact.get(path)
        if exact is not None:
            return exact, {}
        for pattern, methods in self._patterns:
            found = pattern.fullmatch(path)
            if found is not None:
                return methods, found.groupdict()
        return None, {}

    def index(self, plane: str) -> list[dict[str, str]]:
        """Every route of a plane as `{method, path, operation, summary}`, in document order."""
        return [{"method": r.method, "path": r.template, "operation": r.target, "summary": r.summary}
                for r in self.routes if r.plane == plane]

    def candidates(self, plane: str) -> list[str]:
        """`METHOD /path` of every route of a plane, sorted (for a 404's message)."""
        return sorted(f"{r.method} {r.template}" for r in self.routes if r.plane == plane)


def _compile(template: str) -> re.Pattern[str]:
    """A path template as a pattern: each `{name}` is one non-empty segment."""
    parts = _PARAM.split(template)
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(pattern)


def _routes(document: dict[str, Any], plane: str) -> list[Route]:
    return [Route(method.upper(), path, item[method]["operationId"], plane, item[method].get("summary", ""))
            for path, item in document.get("paths", {}).items()
            for method in METHODS if method in item]

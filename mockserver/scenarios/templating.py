"""Templating of scenario bodies: `{{request.body.to}}`, `{{faker.name}}`, `{{id}}`, `{{now}}`.

A string that is exactly one expression keeps the expression's type (`"{{now}}"` is a number);
expressions inside longer strings are converted to text. Faker is seeded, so a run replays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faker import Faker

_EXPR = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_FAKER_BLOCKED = {"seed", "seed_instance", "seed_locale", "add_provider", "get_providers", "provider"}


class TemplateError(ValueError):
    """An expression that cannot be evaluated."""


@dataclass
class RenderContext:
    """What expressions can read: the request, a seeded Faker, fresh ids and the time."""

    body: Any
    headers: Mapping[str, str]
    path: Mapping[str, str]
    faker: Faker
    new_id: Callable[[], str]
    now: float
    dev_key: str = ""


def render(value: Any, ctx: RenderContext) -> Any:
    """The value with every `{{...}}` evaluated, recursively through lists and mappings."""
    if isinstance(value, str):
        whole = _EXPR.fullmatch(value.strip())
        if whole:
            return evaluate(whole.group(1), ctx)
        return _EXPR.sub(lambda m: _text(evaluate(m.group(1), ctx)), value)
    if isinstance(value, list):
        return [render(item, ctx) for item in value]
    if isinstance(value, dict):
        return {key: render(item, ctx) for key, item in value.items()}
    return value


def evaluate(expression: str, ctx: RenderContext) -> Any:
    head, _, rest = expression.partition(".")
    if head == "id" and not rest:
        return ctx.new_id()
    if head == "now" and not rest:
        return int(ctx.now)
    if head == "dev_key" and not rest:
        return ctx.dev_key
    if head == "request":
        return _request_value(rest, ctx)
    if head == "faker":
        return _fake(rest, ctx.faker)
    raise TemplateError(f"unknown expression {{{{{expression}}}}}; use request.body.<field>, "
                        "request.headers.<name>, request.path.<name>, faker.<provider>, id, now or dev_key")


def _request_value(path: str, ctx: RenderContext) -> Any:
    part, _, rest = path.partition(".")
    sources: dict[str, Any] = {"body": ctx.body, "headers": {k.lower(): v for k, v in ctx.headers.items()},
                               "path": dict(ctx.path)}
    if part not in sources or not rest:
        raise TemplateError(f"unknown expression {{{{request.{path}}}}}; use request.body.<field>, "
                            "request.headers.<name> or request.path.<name>")
    value = sources[part]
    for key in rest.split("."):
        key = key.lower() if part == "headers" else key
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return ""  # absent in this request: an empty string, as a template engine would
    return value


def _fake(name: str, faker: Faker) -> Any:
    if not name or name.startswith("_") or name in _FAKER_BLOCKED or "." in name:
        raise TemplateError(f"faker.{name} is not an allowed Faker provider")
    try:
        provider = getattr(faker, name)
    except AttributeError:
        raise TemplateError(f"faker.{name} is not a Faker provider (try faker.name, faker.uuid4, "
                            "faker.msisdn)") from None
    if not callable(provider):
        raise TemplateError(f"faker.{name} is not a Faker provider")
    try:
        return provider()
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"faker.{name} needs arguments, which templates cannot pass ({exc})") from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)

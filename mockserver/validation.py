"""Turn JSON Schema errors into the API's own error: a code and a message that names the field.

Messages say what was expected and what arrived, e.g.
``template.language: 'fr' is not one of default, zh_CN, zh_HK, en, ja, th, es``.
A schema may carry ``x-hint`` (appended to the message) and ``x-error-code`` /
``x-error-message`` (a business rule with its own code, such as 3003
``not contains any channel config``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match

from mockserver.errors import ApiError

INVALID_PARAM = 3002
_JSON_TYPES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def to_api_error(errors: Iterable[ValidationError]) -> ApiError | None:
    """The one error to report for a failed validation, or None when there is none.

    Plain parameter errors (3002) win over business rules marked with ``x-error-code``,
    the way a server checks parameters before it applies business rules.
    """
    plain: list[ValidationError] = []
    business: list[ValidationError] = []
    for error in errors:
        (business if _business_code(error) else plain).append(error)
    if plain:
        chosen = best_match(plain)
        return ApiError(INVALID_PARAM, describe(chosen))
    if business:
        chosen = best_match(business)
        code = _business_code(chosen)
        assert code is not None
        text = chosen.schema.get("x-error-message") if isinstance(chosen.schema, dict) else None
        return ApiError(code, str(text or describe(chosen)))
    return None


def _business_code(error: ValidationError) -> int | None:
    schema = error.schema
    if isinstance(schema, dict) and isinstance(schema.get("x-error-code"), int):
        return int(schema["x-error-code"])
    return None


def field_path(error: ValidationError, root: str = "body") -> str:
    """Dotted path of the failing value: ``template.params.name``, ``to[2]``."""
    parts: list[str] = []
    for item in error.absolute_path:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or root


def describe(error: ValidationError, root: str = "body") -> str:
    """One sentence for one schema error, naming the field and the rule."""
    path = field_path(error, root)
    rule = error.validator
    value: Any = error.validator_value  # the schema's own value for the rule (a list, a number...)
    instance: Any = error.instance
    if rule == "required":
        missing = _missing_field(error.validator_value, instance)
        where = f"{path}.{missing}" if path != root else missing
        text = f"{where}: required field is missing"
    elif rule == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        text = f"{path}: expected {_article(expected)}, got {_kind(instance)}"
    elif rule == "enum":
        text = f"{path}: {_show(instance)} is not one of {', '.join(str(v) for v in value)}"
    elif rule == "const":
        text = f"{path}: expected {_show(value)}, got {_show(instance)}"
    elif rule == "minLength":
        size = len(instance)
        text = (f"{path}: must not be empty" if size == 0
                else f"{path}: length {size} is below the minimum of {value}")
    elif rule == "maxLength":
        text = f"{path}: length {len(instance)} is over the maximum of {value}"
    elif rule in ("minimum", "exclusiveMinimum"):
        text = f"{path}: {_show(instance)} is less than the minimum of {value}"
    elif rule in ("maximum", "exclusiveMaximum"):
        text = f"{path}: {_show(instance)} is greater than the maximum of {value}"
    elif rule == "pattern":
        text = f"{path}: {_show(instance)} does not match the pattern {value}"
    elif rule == "minItems":
        text = f"{path}: needs at least {value} item(s), got {len(instance)}"
    elif rule in ("oneOf", "anyOf"):
        near = [e for e in error.context or () if e.validator != "type"]
        if near:  # some alternative fits the type: the deepest rule it breaks says what is wrong
            depth = max(len(e.absolute_path) for e in near)
            return describe(best_match(e for e in near if len(e.absolute_path) == depth), root)
        text = f"{path}: expected {_alternatives(value)}, got {_kind(instance)}"
    elif rule == "format":
        text = f"{path}: {_show(instance)} is not a valid {value}"
    elif rule == "additionalProperties":
        text = f"{path}: {error.message}"
    else:
        text = f"{path}: {error.message}"
    hint = error.schema.get("x-hint") if isinstance(error.schema, dict) else None
    return f"{text} ({hint})" if hint else text


def _missing_field(required: Any, instance: Any) -> str:
    """The first required field the object lacks (jsonschema reports one error per field)."""
    present = instance if isinstance(instance, dict) else {}
    return next((str(name) for name in required if name not in present), "?")


def _article(type_name: str) -> str:
    return {"object": "an object", "array": "an array", "integer": "an integer"}.get(
        type_name, f"a {type_name}"
    )


def _kind(instance: Any) -> str:
    kind = _JSON_TYPES.get(type(instance), type(instance).__name__)
    if isinstance(instance, (dict, list)) or instance is None:
        return kind
    return f"{kind} ({_show(instance)})"


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _alternatives(schemas: list[Any]) -> str:
    names = []
    for schema in schemas:
        kind = schema.get("type") if isinstance(schema, dict) else None
        if kind == "array":
            items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
            item = items.get("type") if isinstance(items.get("type"), str) else "string" if items else None
            names.append(f"an array of {item}s" if item else "an array")
        elif isinstance(kind, str):
            names.append(_article(kind))
        else:
            names.append("a string" if isinstance(schema, dict) and "$ref" in schema else "a value")
    return " or ".join(names)

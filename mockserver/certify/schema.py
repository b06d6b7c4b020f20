"""The JSON Schema of a certification profile (the `certification` key of a profile file).

Every number has a bound, so a profile cannot ask the session for a wait of a year or a window
no client could fill; `profile.py` adds the checks a schema cannot make (names that must exist,
a timeout below the hang, patterns that must compile).
"""

from __future__ import annotations

from typing import Any

FORMAT = "otp-mock-certification-profile/1"
RULES = ("no-retry", "retry-backoff", "verify-attempts", "send-flood", "client-timeout")
ASPECTS = ("route", "auth", "content-type", "body")
FAULTS = ("connection_reset", "empty_reply", "incomplete_body", "truncated_json", "malformed_json", "hang")

_TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}
_ID = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"}
_SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 1000}
_CODE = {"type": "integer", "minimum": 0, "maximum": 9999}
_TAGS = {"title": _TEXT, "section": _TEXT, "source": _TEXT}


def _check(extra: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A conformance aspect or a behaviour rule: its title, documentation tags and limits."""
    return {"type": "object", "additionalProperties": False,
            "required": ["title", "section", "source", *required],
            "properties": {**_TAGS, **(extra or {})}}


_DOTTED = {"type": "object", "maxProperties": 20, "propertyNames": {"maxLength": 200},
           "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}
MATCHER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "A request of the session that shows the case: every given field must hold.",
    "properties": {
        "operation": {"oneOf": [{"type": "string", "maxLength": 100},
                                {"type": "array", "items": {"type": "string", "maxLength": 100},
                                 "minItems": 1, "maxItems": 20}]},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "code": _CODE,
        "message": {"type": "string", "minLength": 1, "maxLength": 200},
        "fault": {"enum": list(FAULTS)},
        "to": {"type": "string", "maxLength": 320},
        "to_pattern": {"type": "string", "maxLength": 500},
        "reply": _DOTTED,
        "body": _DOTTED,
    },
}
CASE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "title", "section", "source", "trigger", "seen"],
    "properties": {
        "id": _ID, **_TAGS, "trigger": _TEXT,
        "seen": {"oneOf": [MATCHER, {"type": "array", "items": MATCHER, "minItems": 1, "maxItems": 20}]},
        "handled_by": {"type": "array", "items": {"enum": list(RULES)}, "maxItems": len(RULES), "uniqueItems": True},
    },
}
_DECLARED = {"type": "array", "maxItems": 200, "items": {
    "type": "object", "additionalProperties": False, "required": ["requirement", "reason"],
    "properties": {"requirement": {"type": "string", "maxLength": 100}, "reason": _TEXT}}}
PROFILE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:otp-mock:" + FORMAT,
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "version", "title", "documentation", "validity_days", "session", "conformance",
                 "behaviour", "cases"],
    "properties": {
        "id": _ID,
        "version": {"type": "string", "pattern": r"^\d{1,4}\.\d{1,4}\.\d{1,4}$"},
        "title": _TEXT,
        "documentation": _TEXT,
        "validity_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "session": {"type": "object", "additionalProperties": False, "required": ["hang_seconds"],
                    "properties": {"hang_seconds": {"type": "number", "minimum": 1, "maximum": 300}}},
        "conformance": {"type": "object", "additionalProperties": False,
                        "properties": {name: _check() for name in ASPECTS}},
        "behaviour": {"type": "object", "additionalProperties": False, "properties": {
            "no-retry": _check({"window_seconds": _SECONDS,
                                "also": {"type": "array", "items": _CODE, "maxItems": 50, "uniqueItems": True}},
                               ("window_seconds",)),
            "retry-backoff": _check({"max_retries": {**_COUNT, "maximum": 100},
                                     "min_wait_seconds": {"type": "number", "minimum": 0, "maximum": 600},
                                     "chain_seconds": _SECONDS},
                                    ("max_retries", "min_wait_seconds", "chain_seconds")),
            "verify-attempts": _check({"max_per_message": {**_COUNT, "minimum": 1}}, ("max_per_message",)),
            "send-flood": _check({"max_sends": {**_COUNT, "minimum": 1}, "window_seconds": _SECONDS},
                                 ("max_sends", "window_seconds")),
            "client-timeout": _check({"max_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300}},
                                     ("max_seconds",)),
        }},
        "cases": {"type": "array", "items": CASE, "minItems": 1, "maxItems": 200},
        "expected": {"type": "object", "additionalProperties": False,
                     "properties": {"skips": _DECLARED, "failures": _DECLARED}},
    },
}

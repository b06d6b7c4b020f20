"""The JSON Schema of a scenario file. `scenarios/README.md` explains each field."""

from __future__ import annotations

from typing import Any

FAILURES = ("target_invalid", "sent_failed", "delivered_failed")
FAULTS = ("connection_reset", "empty_reply", "incomplete_body", "truncated_json", "malformed_json", "hang")

_NUMBER = {"type": "number", "minimum": 0}
_DELAY = {
    "description": "Seconds before replying: a number, {min, max} (uniform) or {mean, stddev} (normal, >= 0).",
    "oneOf": [
        _NUMBER,
        {"type": "object", "additionalProperties": False, "required": ["min", "max"],
         "properties": {"min": _NUMBER, "max": _NUMBER}},
        {"type": "object", "additionalProperties": False, "required": ["mean", "stddev"],
         "properties": {"mean": _NUMBER, "stddev": _NUMBER}},
    ],
}
_PASS = {
    "description": "The realistic behaviour, optionally changed: a shorter code TTL, channels that fail, "
                   "a delivery that fails.",
    "oneOf": [
        {"const": True},
        {"type": "object", "additionalProperties": False, "properties": {
            "ttl_seconds": {"type": "number", "minimum": 0},
            "fail_channels": {"type": "array", "items": {"enum": ["whatsapp", "sms", "voice", "email"]}},
            "fail_delivery": {
                "description": "The send works, its delivery fails for good at this step (with this error code).",
                "oneOf": [
                    {"enum": list(FAILURES)},
                    {"type": "object", "additionalProperties": False, "required": ["status"],
                     "properties": {"status": {"enum": list(FAILURES)}, "error": {"type": "integer"}}},
                ]},
        }},
    ],
}
REPLY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Exactly one of error, status (with body/headers), fault or pass; delay may go with any.",
    "properties": {
        "error": {"type": "integer"},
        "message": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {},
        "fault": {"enum": list(FAULTS)},
        "pass": _PASS,
        "delay": _DELAY,
    },
}
_MATCH = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "to": {"type": "string"},
        "to_prefix": {"type": "string"},
        "to_pattern": {"type": "string", "format": "regex"},
        "template_id": {"type": "string"},
        "body": {"type": "object", "description": "Dotted body paths and the exact values they must hold."},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "dev_key": {"type": "string"},
        "call": {"description": "The n-th matching call (1-based), a list of them, or {from: n}.",
                 "oneOf": [{"type": "integer", "minimum": 1},
                           {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
                           {"type": "object", "additionalProperties": False, "required": ["from"],
                            "properties": {"from": {"type": "integer", "minimum": 1}}}]},
        "state": {"type": "string"},
    },
}
RULE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["operation"],
    "properties": {
        "operation": {"description": "An operationId, a list of them, or '*' for every operation.",
                      "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "when": _MATCH,
        "reply": REPLY,
        "sequence": {"type": "array", "items": REPLY, "minItems": 1},
        "then": {"enum": ["pass", "repeat_last", "cycle"]},
        "probability": {"type": "number", "minimum": 0, "maximum": 1},
        "delay": _DELAY,
        "goto": {"type": "string"},
        "description": {"type": "string"},
    },
}
SCENARIO: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "description", "rules"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "description": {"type": "string", "minLength": 1},
        "initial_state": {"type": "string"},
        "states": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "properties": {"duration_seconds": {"type": "number", "exclusiveMinimum": 0},
                               "then": {"type": "string"},
                               "description": {"type": "string"}},
            },
        },
        "rules": {"type": "array", "items": RULE},
        "certification": {"type": "object", "description": "A certification profile (`otp-mock certify`, "
                          "checked by mockserver/certify/schema.py); the scenario engine ignores it."},
    },
}

"""The JSON Schema of `report.json` (written beside it as `report.schema.json`)."""

from __future__ import annotations

from typing import Any

from mockserver.certify.results import RESULTS

FORMAT = "otp-mock-certification-report/1"
_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_COUNT = {"type": "integer", "minimum": 0}
_RESULT = {"enum": list(RESULTS)}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": [name for name in properties if name not in optional]}


FINDING = _object({"text": _TEXT, "records": {"type": "array", "items": _COUNT}})
REQUIREMENT = _object({
    "id": _TEXT, "group": {"enum": ["conformance", "coverage", "behaviour", "session"]},
    "title": _TEXT, "section": _TEXT, "source": _TEXT, "result": _RESULT, "reason": _TEXT,
    "findings": {"type": "array", "items": FINDING}, "findings_total": _COUNT,
    "records": {"type": "array", "items": _COUNT}, "trigger": _TEXT,
    "handled_by": {"type": "array", "items": _TEXT},
    "declared": {"enum": ["skip", "expected failure"]}, "judged": _RESULT,
}, optional=("trigger", "handled_by", "declared", "judged"))
EXCHANGE = {"type": "object", "required": ["id", "at", "method", "path", "status"], "properties": {
    "id": _COUNT, "at": {"type": "number"}, "virtual_at": {"type": ["number", "null"]},
    "dev_key": {"type": ["string", "null"]}, "method": _TEXT, "path": _TEXT, "query": _TEXT,
    "operation": {"type": ["string", "null"]}, "status": {"type": "integer"},
    "code": {"type": ["integer", "null"]}, "duration_ms": {"type": "number"},
    "headers": {"type": "object", "additionalProperties": _TEXT},
    "body": {"type": ["string", "null"]}, "reply": {"type": ["string", "null"]},
    "fault": {"type": ["string", "null"]},
    "exchange": {"oneOf": [{"type": "null"}, _object({"started": {"type": "number"},
                                                      "elapsed_seconds": {"type": "number"},
                                                      "client_gone": {"type": "boolean"}})]},
}}
REPORT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:otp-mock:" + FORMAT,
    "title": "OTP Mock Kit certification report",
    **_object({
        "format": {"const": FORMAT},
        "id": {"type": "string", "format": "uuid"},
        "partner": _TEXT,
        "created": _TIME,
        "expires": _TIME,
        "result": {"enum": ["PASSED", "FAILED"]},
        "summary": _object({**{name: _COUNT for name in RESULTS}, "requirements": _COUNT, "requests": _COUNT}),
        "kit": _object({"name": _TEXT, "version": _TEXT, "sha256": _SHA}),
        "profile": _object({"id": _TEXT, "version": _TEXT, "title": _TEXT, "source": _TEXT, "sha256": _SHA,
                            "documentation": _TEXT, "shipped": {"type": "boolean"}, "standing": _TEXT}),
        "contract": _object({"title": _TEXT, "version": _TEXT, "source": _TEXT, "sha256": _SHA}),
        "session": _object({
            "mode": {"enum": ["run", "serve"]}, "command": {"type": "array", "items": _TEXT},
            "base_url": _TEXT, "dev_key": _TEXT, "store": _TEXT, "started": _TIME, "ended": _TIME,
            "duration_seconds": {"type": "number"}, "ended_by": _TEXT,
            "exit_status": {"type": ["integer", "null"]}, "requests": _COUNT,
        }),
        "timings": _object({"session_seconds": {"type": "number"}, "judging_seconds": {"type": "number"},
                            "request_p50_ms": {"type": ["number", "null"]},
                            "request_max_ms": {"type": ["number", "null"]}}),
        "signing": _object({"signed": {"type": "boolean"}, "statement": _TEXT,
                            "public_key_sha256": {"oneOf": [{"type": "null"}, _SHA]}}),
        "requirements": {"type": "array", "items": REQUIREMENT},
        "exchanges": {"type": "object", "additionalProperties": EXCHANGE},
        "evidence": _object({"requests": _TEXT, "profile": _TEXT, "records": _COUNT, "omitted_bodies": _COUNT}),
    }),
}

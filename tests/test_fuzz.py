"""Fuzzing, in-process: schemathesis over every route of the control plane's own OpenAPI document
and over the API's contract, valid and invalid data alike (hypothesis-jsonschema's numbers are
unbounded where the schema does not bound them: huge, negative, fractional). No reply may be a
server error, and every reply must be one its document describes."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import ADMIN_SPEC, SPEC
from mockserver import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]

control = schemathesis.openapi.from_path(ADMIN_SPEC)
control.config.generation.update(modes=MODES)
control.app = create_app({"seed": 3, "callback_targets": "loopback"})

api = schemathesis.openapi.from_path(SPEC)
api.config.generation.update(modes=MODES)
api.config.update(basic_auth=("fuzz", "s3cret"))
api.app = create_app({"seed": 4})


@control.parametrize()
@FUZZ
def test_the_control_plane_survives_fuzzing(case: Any) -> None:
    if case.headers is None or "Content-Type" not in case.headers:  # let bodies through the JSON-only gate
        case.headers = {**(case.headers or {}), "Content-Type": "application/json"}
    case.call_and_validate(checks=CHECKS)


@api.parametrize()
@FUZZ
def test_the_api_survives_fuzzing(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "123456789012345678901234567890", "1.5e-400", "-0.0",
                                    "NaN", "Infinity", "9" * 4300])
@pytest.mark.parametrize("field", ["verify_code_len", "verify_code_ttl", "verify_code_type"])
def test_extreme_json_numbers_in_a_template_are_client_errors(number: str, field: str) -> None:
    """What a fuzzer rarely draws: numbers past a float's range, past int's digit limit, NaN."""
    client = create_app({"seed": 5}).test_client()
    config = {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5}
    body = ('{"template_id": "t1", "description": "x", "send_channel_strategy": "sms", "verify_code_config": {'
            + ", ".join(f'"{k}": {number if k == field else v}' for k, v in config.items())
            + '}, "sms_config": {"template_type": 1}}')
    reply = client.post("/v1/template-configs", data=body, content_type="application/json",
                        headers={"Authorization": "Basic dGVhbS1hOnMzY3JldA=="})
    assert reply.status_code == 400 and reply.get_json()["code"] in (3001, 3002), reply.get_json()

"""One contract run: the target, its credentials, the schemathesis schema, the guard, the results.

    >>> run = ContractRun.prepare(RunOptions())        # the mock, in-process
    >>> run.target.is_mock, run.client.list_templates().status
    (True, 200)
    >>> run.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from otp_mock_contracts.checks import checks_config, custom_checks, load_catalogue
from otp_mock_contracts.client import Client
from otp_mock_contracts.data import RealisticData
from otp_mock_contracts.masking import Masker
from otp_mock_contracts.options import RunOptions
from otp_mock_contracts.results import Results
from otp_mock_contracts.safety import SendGuard, delete_prefixed_templates, operation_id
from otp_mock_contracts.target import Target, in_process, over_http, preflight

if TYPE_CHECKING:
    from schemathesis import Case, Response
    from schemathesis.schemas import BaseSchema

LINK_CONSTANT_CODE = "000000"  # what the contract's send -> verify link sends as verify_code


def default_spec_path() -> Path:
    from mockserver import default_spec_path as packaged

    return packaged()


class ContractRun:
    """Everything the suites of one run share."""

    def __init__(self, options: RunOptions, target: Target, dev_key: str, dev_secret: str,
                 spec_path: Path | None = None) -> None:
        self.options = options
        self.target = target
        self.dev_key = dev_key
        self._dev_secret = dev_secret
        self.masker = Masker(dev_key, dev_secret)
        self.spec_path = spec_path or default_spec_path()
        self.document: dict[str, Any] = yaml.safe_load(self.spec_path.read_text(encoding="utf-8"))
        self.catalogue = load_catalogue(self.document)
        self.guard = SendGuard(target.is_mock, frozenset(options.allow_send_to), options.max_sends,
                               options.allow_template_writes, options.template_prefix)
        self.client = Client(target.transport, target.base_url, dev_key, dev_secret, admit=self.guard.admit)
        self.results = Results()
        self.checks = custom_checks(self.catalogue)
        self.data = RealisticData(target.is_mock, options.allow_send_to, options.template_id,
                                  options.template_prefix)
        self._schema: BaseSchema | None = None

    @classmethod
    def prepare(cls, options: RunOptions, *, app: Any = None, mock_settings: Mapping[str, Any] | None = None,
                interceptor: Any = None) -> ContractRun:
        """Resolve the target, check the credentials, and learn what the target is."""
        if options.base_url is None:
            target, key, secret = in_process(options, app, mock_settings, interceptor)
        else:
            target, key, secret = over_http(options)
        run = cls(options, target, key, secret)
        try:
            preflight(target, run.client)
        except Exception:
            run.close()
            raise
        return run

    # schemathesis ---------------------------------------------------------------------------
    @property
    def schema(self) -> BaseSchema:
        if self._schema is None:
            self._schema = self._build_schema()
        return self._schema

    @property
    def seed(self) -> int | None:
        """The seed the generated cases came from (`--seed` replays them), once known."""
        if self.options.seed is not None:
            return self.options.seed
        return int(self._schema.config.seed) if self._schema is not None else None

    def _build_schema(self) -> BaseSchema:
        raw: dict[str, Any] = {
            "base-url": self.target.base_url,
            "auth": {"basic": {"username": self.dev_key, "password": self._dev_secret}},
            "checks": checks_config(ignored_auth=self.target.checks_keys),
            "generation": {"max-examples": self.options.max_examples},
        }
        if self.options.seed is not None:
            raw["seed"] = self.options.seed
        schema = schemathesis.openapi.from_path(str(self.spec_path), config=SchemathesisConfig.from_dict(raw))
        if self.target.app is not None:
            schema.app = self.target.app
        schema.hooks.register_hook_with_name(self.data.map_case, "map_case")
        schema.hooks.register_hook_with_name(self._after_call, "after_call")
        schema.hooks.register_hook_with_name(self._after_validate, "after_validate")
        return schema

    def _after_call(self, context: Any, case: Case[Any], response: Response) -> None:
        self.results.record_status(case.operation.label, response.status_code)

    def _after_validate(self, context: Any, case: Case[Any], response: Response, results: list[Any]) -> None:
        for result in results:
            self.results.record_check(case.operation.label, result.name, result.failure is None)

    def hypothesis_settings(self) -> settings:
        return settings(max_examples=self.options.max_examples, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck), print_blob=False)

    def stateful_settings(self) -> settings:
        return settings(max_examples=self.options.max_examples, stateful_step_count=6, deadline=None,
                        database=None, suppress_health_check=list(HealthCheck), print_blob=False,
                        derandomize=self.options.seed is not None)

    def run_case(self, case: Case[Any]) -> None:
        """One generated request of the stateless suite, if the guard lets it go."""
        gate = self.guard.operation_gate(operation_id(case.operation))
        if gate is not None:
            pytest.skip(gate)
        if self.guard.admit_case(case) is not None:
            return  # refused and counted: nothing is sent
        case.call_and_validate(additional_checks=self.checks)

    def stateful_schema(self) -> tuple[BaseSchema | None, str]:
        """The schema the link-driven state machine may use here, or None and why not."""
        closed = [op for op in ("send_otp", "create_template") if self.guard.operation_gate(op)]
        if len(closed) == 2:
            return None, ("the contract's links start at send_otp and create_template; on a target that is not "
                          "the mock they need --allow-send-to and --allow-template-writes")
        forbidden = [op for op in ("send_otp", "send_custom_code", "send_custom_message", "create_template",
                                   "delete_template") if self.guard.operation_gate(op)]
        return (self.schema.exclude(operation_id=forbidden) if forbidden else self.schema), ""

    def start_scenario(self) -> None:
        """On the mock, each scenario starts from a fresh state of this run's key, so Hypothesis's
        replays see the same answers (a left-over code would turn a send into 3004)."""
        if self.target.is_mock:
            self.client.reset_key().expect_ok(f"resetting the mock's state of dev_key {self.dev_key}")

    def before_stateful_call(self, case: Case[Any], real_code: bool) -> None:
        """Guard every step; on the mock, `real_code` gives a linked verification the delivered code."""
        if self.guard.admit_case(case) is not None:
            hypothesis.reject()
        body = case.body
        if (real_code and operation_id(case.operation) == "verify_otp" and self.target.is_mock
                and isinstance(body, dict) and body.get("verify_code") == LINK_CONSTANT_CODE
                and isinstance(body.get("message_id"), str)):
            message = self.client.message(str(body["message_id"]))
            if message.status == 200 and isinstance(message.body, dict) and message.body.get("code"):
                body["verify_code"] = str(message.body["code"])

    # housekeeping ---------------------------------------------------------------------------
    def cleanup_templates(self) -> None:
        """Delete this run's templates (those with its prefix); runs even after failures."""
        if self.target.is_mock or self.options.allow_template_writes:
            self.results.cleanup = delete_prefixed_templates(self.client, self.options.template_prefix)

    def close(self) -> None:
        self.target.close()

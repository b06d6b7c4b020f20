"""Checks this API needs beyond schemathesis's built-in ones, and the set of checks every run uses.

- `error_code_status`: an error code comes with the HTTP status the catalogue (`x-error-codes`)
  gives it and only from the operations it lists.
- `verify_once`: a code verifies once; a second `verified: true` for a message_id is drift.
- `valid_input_passes_validation`: schema-valid input is never refused as malformed (3001/3002).
  Business refusals (4001, 3003, 3004, 5011, ...) are HTTP 400 too, so `positive_data_acceptance`
  has to accept 400; this check keeps 400 from hiding a validator that rejects valid requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schemathesis import GenerationMode

from otp_mock_contracts.safety import operation_id

if TYPE_CHECKING:
    from schemathesis import Case, Response

CheckFunction = Callable[..., "bool | None"]
BUILTIN_CHECKS = (
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
    "positive_data_acceptance", "missing_required_header", "ignored_auth", "unsupported_method",
    "allow_header_conformance", "use_after_free", "ensure_resource_availability",
)
CUSTOM_CHECKS = ("error_code_status", "verify_once", "valid_input_passes_validation")
# Business errors are HTTP 400 with a code (4001 not found, 3003, 3004 frequency, 5011 number...).
POSITIVE_STATUSES = ["2XX", "400", "401", "403"]


@dataclass(frozen=True)
class CatalogueEntry:
    code: int
    status: int
    name: str
    operations: tuple[str, ...]


def load_catalogue(document: Mapping[str, Any]) -> dict[int, CatalogueEntry]:
    """The contract's `x-error-codes`, read independently of the mock's own compiled copy."""
    rows = document.get("x-error-codes")
    if not isinstance(rows, dict) or not rows:
        raise ValueError("the contract has no x-error-codes catalogue; the suites need it to judge error codes")
    return {int(code): CatalogueEntry(int(code), int(row["status"]), str(row.get("name", "")),
                                      tuple(row.get("operations") or ()))
            for code, row in rows.items()}


def _json(response: Response) -> Any:
    try:
        return response.json()
    except Exception:  # not JSON: the schema checks report that
        return None


def custom_checks(catalogue: Mapping[int, CatalogueEntry]) -> list[CheckFunction]:
    """Fresh check functions for one run (verify_once remembers this run's verified ids)."""
    verified: set[str] = set()
    lock = threading.Lock()

    def error_code_status(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
        body = _json(response)
        code = body.get("code") if isinstance(body, dict) else None
        if response.status_code == 200 or not isinstance(code, int) or isinstance(code, bool):
            return None
        op, status = operation_id(case.operation), response.status_code
        entry = catalogue.get(code)
        if entry is None:
            if status in (404, 405):
                return None  # a routing error: status_code_conformance and unsupported_method judge it
            known = ", ".join(str(c) for c in sorted(catalogue))
            raise AssertionError(f"{op} answered HTTP {status} with code {code}, which is not in the contract's "
                                 f"error catalogue (x-error-codes: {known})")
        if entry.status != status:
            raise AssertionError(f"{op} answered code {code} ({entry.name}) with HTTP {status}; the contract's "
                                 f"catalogue (x-error-codes) says code {code} comes with HTTP {entry.status}")
        if op not in entry.operations:
            raise AssertionError(f"{op} answered code {code} ({entry.name}), which x-error-codes documents only "
                                 f"for {', '.join(entry.operations)}")
        return None

    def verify_once(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
        body = _json(response)
        if operation_id(case.operation) != "verify_otp" or response.status_code != 200:
            return None
        if not isinstance(body, dict) or body.get("verified") is not True:
            return None
        message_id = str(body.get("message_id"))
        with lock:
            again = message_id in verified
            verified.add(message_id)
        if again:
            raise AssertionError(f"verify_otp answered verified: true a second time for message_id {message_id}; "
                                 "a code verifies once, then HTTP 400 with code 3003")
        return None

    def valid_input_passes_validation(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
        if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE or response.status_code != 400:
            return None
        body = _json(response)
        code = body.get("code") if isinstance(body, dict) else None
        if code not in (3001, 3002):
            return None
        op = operation_id(case.operation)
        if op == "send_custom_message" and code == 3002 and not _has_param_code(case.body):
            return None  # documented rule beyond the schema: authentication templates need params.code
        message = body.get("message") if isinstance(body, dict) else None
        raise AssertionError(f"{op} refused schema-valid input as malformed: HTTP 400 code {code} ({message!r}). "
                             "The contract accepts this request, so the server or the contract is wrong")

    return [error_code_status, verify_once, valid_input_passes_validation]


def _has_param_code(body: Any) -> bool:
    template = body.get("template") if isinstance(body, dict) else None
    params = template.get("params") if isinstance(template, dict) else None
    return isinstance(params, dict) and "code" in params


def checks_config(ignored_auth: bool) -> dict[str, Any]:
    """The `checks` table of the schemathesis config: exactly BUILTIN_CHECKS, tuned for this API."""
    table: dict[str, Any] = {"enabled": False}
    for name in BUILTIN_CHECKS:
        table[name] = {"enabled": name != "ignored_auth" or ignored_auth}
    table["positive_data_acceptance"]["expected-statuses"] = POSITIVE_STATUSES
    return table

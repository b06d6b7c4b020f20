"""Safety on targets that are not the mock: sends cost money and reach real phones.

- No send operation is called unless `--allow-send-to` names its recipients, and never more than
  `--max-sends` messages in a run.
- Template writes need `--allow-template-writes`; they only touch ids with this run's prefix, and
  the prefix's templates are deleted at the end, even when a test fails.

The guard is asked before every request the suites make (`SendGuard.admit`); a global
schemathesis `before_call` hook asks it again for every generated request, so nothing slips past.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import schemathesis

from otp_mock_contracts import runtime
from otp_mock_contracts.client import Client, Refused

if TYPE_CHECKING:
    from schemathesis import Case
    from schemathesis.hooks import HookContext

SEND_OPERATIONS = frozenset({"send_otp", "send_custom_code", "send_custom_message"})
TEMPLATE_WRITES = frozenset({"create_template", "delete_template"})
MAX_CLEANUP = 1000


def operation_id(operation: Any) -> str:
    """The contract's operationId of a schemathesis operation."""
    return str(operation.definition.raw.get("operationId", operation.label))


def recipients_of(body: Any) -> list[str] | None:
    """The recipients a send body names, or None when `to` is not a string or a list of strings."""
    to = body.get("to") if isinstance(body, dict) else None
    if isinstance(to, str):
        return [to]
    if isinstance(to, list) and to and all(isinstance(item, str) for item in to):
        return list(to)
    return None


@dataclass
class SendGuard:
    """Decides which requests may reach the target; counts sends and refusals."""

    is_mock: bool
    allow_send_to: frozenset[str]
    max_sends: int
    allow_template_writes: bool
    prefix: str
    sends: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    admitted: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def operation_gate(self, op: str) -> str | None:
        """Why a whole operation may not be called on this target, or None."""
        if self.is_mock:
            return None
        if op in SEND_OPERATIONS and not self.allow_send_to:
            return (f"{op} sends a real message; a target that is not the mock gets no sends "
                    "unless --allow-send-to names the recipients")
        if op in TEMPLATE_WRITES and not self.allow_template_writes:
            return f"{op} writes templates; a target that is not the mock gets none without --allow-template-writes"
        return None

    def admit(self, op: str, body: Any, path_params: dict[str, Any]) -> str | None:
        """None when the request may go (a send is counted), else the reason it may not."""
        reason = self.operation_gate(op) or self._check(op, body, path_params)
        if reason is not None:
            with self._lock:
                self.refused[reason] += 1
        return reason

    def admit_case(self, case: Case[Any]) -> str | None:
        reason = self.admit(operation_id(case.operation), case.body, dict(case.path_parameters or {}))
        if reason is None:
            with self._lock:
                self.admitted.add(case.id)
        return reason

    def _check(self, op: str, body: Any, path_params: dict[str, Any]) -> str | None:
        if self.is_mock:
            return None
        if op in SEND_OPERATIONS:
            return self._count_send(op, body)
        if op == "create_template":
            template_id = body.get("template_id") if isinstance(body, dict) else None
            if not (isinstance(template_id, str) and template_id.startswith(self.prefix)):
                return f"create_template refused: only template ids starting with {self.prefix!r} are written"
        if op == "delete_template":
            template_id = path_params.get("templateId")
            if not (isinstance(template_id, str) and template_id.startswith(self.prefix)):
                return f"delete_template refused: only template ids starting with {self.prefix!r} are deleted"
        return None

    def _count_send(self, op: str, body: Any) -> str | None:
        recipients = recipients_of(body)
        if recipients is None or any(r not in self.allow_send_to for r in recipients):
            return f"{op} refused: a recipient is not in --allow-send-to"
        with self._lock:
            if self.sends + len(recipients) > self.max_sends:
                return f"{op} refused: the send budget is used up (--max-sends {self.max_sends})"
            self.sends += len(recipients)
        return None


@schemathesis.hook("before_call")
def enforce_guard(context: HookContext, case: Case[Any], kwargs: dict[str, Any]) -> None:
    """Backstop for every generated request of an active run: refuse what the guard refuses."""
    run = runtime.active()
    if run is None or case.id in run.guard.admitted:
        return
    reason = run.guard.admit_case(case)
    if reason is not None:
        raise Refused(f"blocked before sending {case.operation.label}: {reason}")


@dataclass
class Cleanup:
    """What the end-of-run cleanup found and deleted."""

    deleted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def delete_prefixed_templates(client: Client, prefix: str) -> Cleanup:
    """Delete every template whose id starts with `prefix` (this run's), reporting what happened."""
    result = Cleanup()
    listing = client.list_templates()
    if listing.status != 200 or not isinstance(listing.body, list):
        result.problems.append(f"could not list templates to clean up: {listing.describe()}")
        return result
    ids = [t.get("template_id") for t in listing.body[:MAX_CLEANUP] if isinstance(t, dict)]
    for template_id in ids:
        if isinstance(template_id, str) and template_id.startswith(prefix):
            reply = client.delete_template(template_id)
            if reply.status == 200:
                result.deleted.append(template_id)
            else:
                result.problems.append(f"could not delete {template_id}: {reply.describe()}\n    {reply.curl}")
    return result

"""The link-driven state machine of the contract, with `create_template` as an entry point.

Schemathesis 4.32 starts scenarios only at operations it believes can succeed with random data.
Its dependency analysis reads `template_id` in create_template's body as a reference to an
existing "Template", so create_template never starts a scenario and the create -> get/delete
links would go untested. `with_root` adds that entry point back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

MAX_FAILURES = 10

if TYPE_CHECKING:
    from schemathesis.schemas import BaseSchema


def with_root(machine: type[Any], schema: BaseSchema, operation_id: str) -> type[Any]:
    """`machine` plus a rule that starts scenarios at `operation_id` (unchanged if it has one)."""
    try:  # schemathesis internals, pinned by `schemathesis>=4.32,<5`; without them, no extra root
        from hypothesis.stateful import Bundle
        from schemathesis.core.result import Ok
        from schemathesis.generation.feedback import NO_FEEDBACK
        from schemathesis.generation.stateful.state_machine import StepInput, normalize_name
        from schemathesis.specs.openapi.stateful import _step_case_strategy, is_root_allowed, transition
    except ImportError:  # pragma: no cover
        return machine
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    operation = next((op for op in operations if op.definition.raw.get("operationId") == operation_id), None)
    if operation is None or operation.label in machine._root_labels:
        return machine
    name = normalize_name(f"RANDOM -> {operation.label}")
    modes = schema.config.generation_for(operation=operation, phase="stateful").modes
    strategy = _step_case_strategy(operation, modes, feedback=NO_FEEDBACK).map(StepInput.initial)
    step = transition(name=name, target=Bundle("catch_all"), input=strategy,
                      precondition=is_root_allowed(operation.label))
    return type(machine.__name__, (machine,), {
        name: step,
        "root_rules": machine.root_rules | {name},
        "_root_labels": machine._root_labels | {operation.label},
    })



@dataclass
class StatefulLog:
    """What the state machine did. Check failures are collected here instead of being raised, so
    Hypothesis neither shrinks nor replays scenarios whose link steps draw true randomness (a
    replay would end in `Flaky`, hiding the failure); the test raises them all at the end."""

    scenarios: int = 0
    steps: int = 0
    failures: dict[tuple[str, ...], str] = field(default_factory=dict)
    stopped_early: str = ""

    def record_failure(self, label: str, exc: BaseException) -> None:
        titles = sorted(str(getattr(f, "title", type(f).__name__)) for f in getattr(exc, "exceptions", [exc]))
        key = (label, *titles)
        if key not in self.failures and len(self.failures) < MAX_FAILURES:
            self.failures[key] = f"{label}: {exc}"

    def raise_failures(self) -> None:
        if self.failures:
            raise AssertionError(f"{len(self.failures)} distinct failure(s) in link-driven scenarios:\n\n"
                                 + "\n\n".join(self.failures.values()))

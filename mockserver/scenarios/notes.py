"""Notes on mock headers a request sent in vain, for the `X-Mock-Note` reply header and the
journal: a client that sends `X-Mock-Error: 2002` and gets the realistic answer learns why.

    >>> shown("2002\\r\\n")
    '2002'
"""

from __future__ import annotations

from mockserver.contract import Contract
from mockserver.scenarios.model import Rule, Scenario

ERROR_HEADER = "x-mock-error"


def error_header_note(value: str, operation_id: str, scenario: Scenario | None, fired: Rule | None,
                      contract: Contract) -> str | None:
    """Why `X-Mock-Error: value` did not choose the reply, or None when a rule reading it did."""
    if fired is not None and ERROR_HEADER in fired.match.headers:
        return None
    header = f"X-Mock-Error: {shown(value)} ignored"
    if scenario is None or not reads_error_header(scenario):
        active = "no scenario is active" if scenario is None else f"scenario {scenario.name!r} does not read it"
        return (f"{header}: {active}; it needs the errors scenario (add X-Mock-Scenario: errors, or PUT "
                f"/_mock/scenario {{\"name\": \"errors\"}}); Prefer: code={shown(value)} works without one")
    if fired is not None:
        return f"{header}: scenario {scenario.name!r} answered with its rule at {fired.where}, which does not read it"
    documented = ", ".join(str(c) for c, info in sorted(contract.errors.items()) if operation_id in info.operations)
    return (f"{header}: no rule of scenario {scenario.name!r} answers it for {operation_id}; the documented "
            f"errors of {operation_id} are {documented}")


def prefer_note(value: str, code: int) -> str:
    return f"X-Mock-Error: {shown(value)} ignored: Prefer: code={code} chose the reply"


def reads_error_header(scenario: Scenario) -> bool:
    return any(ERROR_HEADER in rule.match.headers for rule in scenario.rules)


def shown(value: str) -> str:
    """The value as a header may carry it back: printable ASCII, at most 24 characters."""
    return "".join(c for c in value[:24] if " " <= c <= "~").strip()

"""Timed states: where a scenario stands after time has passed (virtual time may jump far)."""

from __future__ import annotations

from mockserver.scenarios.model import Scenario


def settle(scenario: Scenario, state: str, entered: float, now: float) -> tuple[str, float]:
    """The state at `now` and when it was entered, following `duration_seconds` and `then`.

    A cycle of timed states (a -> b -> a) is skipped whole cycles at a time, so a clock moved
    by a year costs no more than one turn around the cycle.
    """
    seen: dict[str, float] = {}
    for _ in range(2 * len(scenario.states) + 2):
        spec = scenario.states.get(state)
        if spec is None or spec.duration_seconds is None or now < entered + spec.duration_seconds:
            return state, entered
        if state in seen:  # back where we were: skip the whole cycles that fit before now
            cycle = entered - seen[state]
            entered += ((now - entered) // cycle) * cycle
            seen.clear()
            continue
        seen[state] = entered
        entered += spec.duration_seconds
        state = spec.then or scenario.initial_state
    return state, entered

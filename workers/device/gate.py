"""The thermal and battery gate before every session on a phone.

Wait until the phone is cool enough (its skin / battery temperature under ``max_temp_c``) and has
enough battery (``min_battery`` percent, or charging), polling every ``poll_s``, for at most
``max_wait_s``; then go ahead either way and record what happened: a session that ran hot or on a
low battery is flagged in its environment, not silently mixed with the others. Plain function with
the reading, the clock and the sleep passed in, so its policy is testable on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["GatePolicy", "GateResult", "too_hot", "wait_for_gate"]


@dataclass(frozen=True)
class GatePolicy:
    max_temp_c: float = 37.0
    min_battery: int = 30
    max_wait_s: float = 300.0
    poll_s: float = 5.0


@dataclass(frozen=True)
class GateResult:
    passed: bool  # False: max_wait_s ran out first
    waited_s: float
    environment: dict[str, Any]
    reasons: tuple[str, ...]  # what still held the gate when it gave up (empty if passed)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "waited_s": round(self.waited_s, 3),
                "reasons": list(self.reasons)}


def _blockers(env: dict[str, Any], policy: GatePolicy) -> tuple[str, ...]:
    reasons = []
    temp = env.get("temp_c")
    if temp is not None and temp >= policy.max_temp_c:
        reasons.append(f"temperature {temp:.1f} C >= {policy.max_temp_c:g} C")
    level, charging = env.get("battery_level"), env.get("charging")
    if level is not None and level < policy.min_battery and not charging:
        reasons.append(f"battery {level}% < {policy.min_battery}% and not charging")
    return tuple(reasons)


def too_hot(env: dict[str, Any], policy: GatePolicy) -> str | None:
    """Why the phone is above the gate's temperature limit, or None: what makes a phone of a pool
    leave the pool's work to cooler phones (``orchestrator.scheduling.HandOff``)."""
    temp = env.get("temp_c")
    if temp is not None and temp >= policy.max_temp_c:
        return f"temperature {temp:.1f} C >= {policy.max_temp_c:g} C"
    return None


def wait_for_gate(read_environment: Callable[[], dict[str, Any]], policy: GatePolicy,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> GateResult:
    start = clock()
    while True:
        # Waited: until the reading that let the session go began (the reading itself is part of
        # every session's cost, not a wait).
        read_at = clock()
        env = read_environment()
        reasons = _blockers(env, policy)
        if not reasons:
            return GateResult(True, read_at - start, env, ())
        waited = clock() - start
        if waited >= policy.max_wait_s:
            return GateResult(False, waited, env, reasons)
        sleep(min(policy.poll_s, max(policy.max_wait_s - waited, 0.0)))

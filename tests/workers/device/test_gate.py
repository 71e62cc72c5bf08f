"""The thermal and battery gate's policy (``workers.device.gate``), on readings and a clock the test
controls."""

from __future__ import annotations

from typing import Any

from tests.support.scripted import FakeClock
from workers.device.gate import GatePolicy, wait_for_gate

POLICY = GatePolicy(max_temp_c=37.0, min_battery=30, max_wait_s=60.0, poll_s=5.0)


def _readings(*environments: dict[str, Any]) -> Any:
    queue = list(environments)
    return lambda: queue.pop(0) if len(queue) > 1 else queue[0]


def test_a_cool_charged_phone_passes_at_once() -> None:
    clock = FakeClock()
    result = wait_for_gate(_readings({"temp_c": 30.0, "battery_level": 80}), POLICY,
                           clock.sleep, clock)
    assert result.passed and result.waited_s == 0 and clock.slept == []


def test_it_polls_until_the_phone_cools() -> None:
    clock = FakeClock()
    result = wait_for_gate(_readings({"temp_c": 39.0}, {"temp_c": 38.0}, {"temp_c": 36.9}), POLICY,
                           clock.sleep, clock)
    assert result.passed and clock.slept == [5.0, 5.0] and result.environment["temp_c"] == 36.9


def test_a_low_battery_waits_unless_charging() -> None:
    clock = FakeClock()
    assert wait_for_gate(_readings({"battery_level": 10, "charging": True}), POLICY,
                         clock.sleep, clock).passed
    result = wait_for_gate(_readings({"battery_level": 10, "charging": False}), POLICY,
                           clock.sleep, clock)
    assert not result.passed and result.reasons == ("battery 10% < 30% and not charging",)


def test_it_gives_up_at_the_limit_and_says_why() -> None:
    clock = FakeClock()
    result = wait_for_gate(_readings({"temp_c": 45.0}), POLICY, clock.sleep, clock)
    assert not result.passed and result.waited_s == 60.0 and sum(clock.slept) == 60.0
    assert result.reasons == ("temperature 45.0 C >= 37 C",)
    assert result.to_json() == {"passed": False, "waited_s": 60.0,
                                "reasons": ["temperature 45.0 C >= 37 C"]}


def test_unknown_readings_do_not_hold_the_gate() -> None:
    clock = FakeClock()
    assert wait_for_gate(_readings({}), POLICY, clock.sleep, clock).passed

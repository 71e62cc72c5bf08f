"""A job's spec (``orchestrator.jobspec``): merged from the settings once, validated, versioned."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.config import PROTOCOL_KEYS, default_settings, load_settings
from orchestrator.errors import PlanError
from orchestrator.jobspec import JOB_SPEC_VERSION, JobSpec


def _spec(**changes: object) -> JobSpec:
    return dataclasses.replace(JobSpec.from_settings(default_settings()), **changes)  # type: ignore[arg-type]


def test_its_fields_are_the_protocol_settings_and_the_pin() -> None:
    assert [f.name for f in dataclasses.fields(JobSpec)] == [*PROTOCOL_KEYS, "pin"]


def test_json_round_trip_carries_the_version() -> None:
    spec = _spec(repeats=5, min_secs=0.25, pin="big")
    data = spec.to_json()
    assert data["version"] == JOB_SPEC_VERSION and data["repeats"] == 5
    assert JobSpec.from_json(data) == spec
    assert isinstance(JobSpec.from_json({**data, "num_runs": "7"}).num_runs, int)


def test_json_of_another_version_or_missing_a_key_is_refused() -> None:
    data = _spec().to_json()
    with pytest.raises(RuntimeError, match="version 2"):
        JobSpec.from_json({**data, "version": 2})
    del data["num_runs"]
    with pytest.raises(RuntimeError, match="num_runs"):
        JobSpec.from_json(data)


@pytest.mark.parametrize(("change", "fragment"), [
    ({"repeats": 0}, "--repeats must be at least 1"),
    ({"pin": "little"}, "--pin 'little'"),
    ({"num_runs": 0}, "num_runs"),
    ({"gate_max_wait_s": -1.0}, "negative"),
])
def test_bad_values_are_plan_errors_with_a_hint(change: dict[str, object], fragment: str) -> None:
    with pytest.raises(PlanError, match=fragment) as info:
        _spec(**change)
    assert info.value.hint and info.value.exit_code == 2


def test_from_settings_takes_the_settings_then_the_options_given(
        clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARM_NUM_RUNS", "9")
    settings = load_settings()
    spec = JobSpec.from_settings(settings, repeats=4, min_secs=None, pin=None)
    assert (spec.num_runs, spec.repeats, spec.pin) == (9, 4, None)
    assert spec.min_secs == settings.min_secs  # None means "not given"
    with pytest.raises(TypeError, match="flavour"):
        JobSpec.from_settings(settings, flavour="vanilla")

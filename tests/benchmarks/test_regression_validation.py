"""The validation harness's own scoring, generator and reference detectors: its figures are only as
good as these (``benchmarks/regression_validation.py`` is a script, loaded here from its file)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from orchestrator.series import Series, build_series

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "regression_validation.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regression_validation", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module is executing
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rv = _load()


def alert(series: str, night: int, detected_on: int, direction: str = "regression") -> object:
    return rv.Alert(series, night, detected_on, direction)


def test_a_detection_matches_from_two_nights_before_the_onset_to_five_after() -> None:
    step = rv.Event("a", "step", 40, 40, "regression", 0.10, 0.01)
    assert [rv._matches(step, alert("a", night, 50)) for night in (37, 38, 45, 46)] == [
        False, True, True, False]
    assert not rv._matches(step, alert("a", 40, 42, "improvement"))
    assert not rv._matches(step, alert("b", 40, 42))
    ramp = rv.Event("a", "ramp", 30, 50, "regression", 0.10, 0.01)
    assert rv._matches(ramp, alert("a", 55, 56)) and not rv._matches(ramp, alert("a", 56, 57))


def test_repeated_alerts_within_seven_nights_of_the_last_kept_one_merge() -> None:
    alerts = [alert("a", n, n) for n in (10, 15, 18, 26)] + [alert("a", 12, 12, "improvement")]
    kept = rv.merge(alerts)
    assert sorted((a.detected_on, a.direction) for a in kept) == [
        (10, "regression"), (12, "improvement"), (18, "regression"), (26, "regression")]


def test_score_counts_false_alerts_and_recall_by_detection_delay() -> None:
    # every CV band holds a series, as in the generated world
    cv_of = {"a": 0.01, "b": 0.01, "c": 0.05, "d": 0.02, "e": 0.03, "f": 0.08}
    events = [rv.Event("a", "step", 40, 40, "regression", 0.10, 0.01),
              rv.Event("c", "step", 30, 30, "improvement", 0.10, 0.05)]
    alerts = [alert("a", 40, 42),                    # on the step's third night
              alert("c", 30, 33, "improvement"),     # on its fourth
              alert("b", 50, 50)]                    # no change there
    result = rv.score(alerts, events, cv_of, [])
    assert (result["alerts"], result["false_alerts"], result["precision"]) == (3, 1, 0.6667)
    assert result["false_per_1000_series_nights"] == round(1000 / (6 * rv.NIGHTS), 3)
    assert result["recall"]["step 10% @cv 1%"]["recall_within_3_nights"] == 1.0
    assert result["recall"]["step 10% @cv 5%"]["recall_within_3_nights"] == 0.0
    assert result["recall"]["step 10% @cv 5%"]["recall_within_4_nights"] == 1.0
    assert rv.targets(result)["recall >= 0.95, 10% steps within 3 nights, CV <= 5%"]["value"] == 0.5
    assert rv.fourth_night_recall(result) == 1.0
    assert result["false_alerts_near_a_change"] == 0


def test_a_false_alert_near_a_change_of_its_direction_counts_as_near_it() -> None:
    cv_of = {"a": 0.01, "b": 0.02, "c": 0.03, "d": 0.05, "e": 0.08}
    events = [rv.Event("a", "step", 40, 40, "regression", 0.05, 0.01),
              rv.Event("c", "ramp", 30, 50, "improvement", 0.10, 0.03)]
    alerts = [alert("a", 36, 40),                  # four nights early: the step, misplaced
              alert("a", 60, 60),                  # 20 nights late: a chance alarm
              alert("b", 40, 42),                  # no change on b
              alert("c", 64, 65, "improvement"),   # 14 nights after the ramp's end
              alert("c", 40, 41)]                  # inside the ramp, the wrong way
    result = rv.score(alerts, events, cv_of, [])
    assert (result["false_alerts"], result["false_alerts_near_a_change"]) == (5, 2)


def test_the_generated_world_has_the_documented_plan_and_is_reproducible() -> None:
    rows, events, cv_of, spikes, phones = rv.generate(3, 1)
    assert (len(cv_of), len(events), len(spikes)) == (960, 720, 120)
    for cv in rv.CV_BANDS:
        tens = [e for e in events if e.kind == "step" and e.size == 0.10 and e.cv == cv]
        assert len(tens) == 24 and {e.direction for e in tens} == {"regression", "improvement"}
    assert {night for _, night, _ in rows} == set(range(rv.NIGHTS))
    assert rv.generate(3, 1)[0][:500] == rows[:500]


def test_a_rerun_measures_the_series_level_that_night_and_repeats_itself() -> None:
    _rows, events, _cv_of, _spikes, phones = rv.generate(3, 1)
    step = next(e for e in events if e.kind == "step" and e.size == 0.20 and e.cv == 0.01)
    first, again = rv.Rerunner(phones, 3), rv.Rerunner(phones, 3)
    rerun = first(step.series, step.onset + 1)
    assert rerun.sessions == again(step.series, step.onset + 1).sessions
    # Measured again the same night (an inconclusive confirmation): fresh batches, reproducibly.
    second = first(step.series, step.onset + 1)
    assert second.sessions != rerun.sessions
    assert second.sessions == again(step.series, step.onset + 1).sessions
    assert [len(batch) for batch in rerun.batches] == [first.sessions] * first.batches == [5] * 3
    before = np.median([v for n in range(step.onset - 10, step.onset)
                        for v in first(step.series, n).sessions])
    after = np.median([v for n in range(step.onset, step.onset + 10)
                       for v in first(step.series, n).sessions])
    expected = 1.20 if step.direction == "regression" else 0.80
    assert after / before == pytest.approx(expected, rel=0.03)
    assert first.calls == 22 and first.second_rounds == 2


def _series(nights: list[list[float]]) -> Series:
    return build_series([("s", n, v) for n, values in enumerate(nights) for v in values])["s"]


def _flat_and_stepped(seed: int) -> tuple[Series, Series]:
    """60 nights of 5 sessions at 1% noise, and the same nights 30% slower from night 40."""
    rng = np.random.default_rng(seed)
    flat = [list(100 * (1 + 0.01 * rng.standard_normal(5))) for _ in range(60)]
    return _series(flat), _series(flat[:40] + [[v * 1.3 for v in night] for night in flat[40:]])


def test_the_reference_detectors_alert_on_a_clear_step_and_not_on_flat_noise() -> None:
    flat, stepped = _flat_and_stepped(0)
    assert rv.perfherder(flat) == [] and rv.conbench(flat) == []
    # treeherder waits for 12 values after the split: the third night of 5 sessions
    assert rv.perfherder(stepped) == [(40, 42, "regression")]
    assert rv.conbench(stepped)[0] == (40, 40, "regression")


def test_perfherder_waits_for_the_night_after_to_settle_before_naming_a_split() -> None:
    """A night is named only when its |t| beats both neighbours' with the data so far: a step that
    builds over two nights is placed where the t-test peaks, once the later night's t is known."""
    rng = np.random.default_rng(1)
    nights = [list(100 * (1 + 0.01 * rng.standard_normal(3))) for _ in range(40)]
    ramped = nights[:30] + [[v * 1.1 for v in nights[30]]] + [[v * 1.2 for v in n] for n in nights[31:]]
    [(placed, detected, direction)] = rv.perfherder(_series(ramped))
    assert direction == "regression" and placed in (30, 31) and detected >= placed + 3


def test_otava_reports_a_step_once_on_the_night_it_first_appears() -> None:
    flat, stepped = _flat_and_stepped(2)
    assert rv.otava(flat) == []
    [(placed, detected, direction)] = rv.otava(stepped)
    assert (placed, direction) == (40, "regression") and 40 <= detected <= 42

"""The detector on small synthetic histories whose truth is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from orchestrator.regression import (
    Confirmation,
    DetectorParams,
    Remeasurement,
    Suspect,
    confirm,
    detect_history,
    screen_series,
    settle,
)
from orchestrator.series import Series, build_series

PARAMS = DetectorParams()


def make(levels: list[float], cv: float = 0.01, sessions: int = 5, seed: int = 0,
         name: str = "s") -> Series:
    rng = np.random.default_rng(seed)
    rows = [(name, night, level * 20.0 * (1 + cv * rng.standard_normal()))
            for night, level in enumerate(levels) for _ in range(sessions)]
    return build_series(rows)[name]


def detect(*series: Series) -> list:
    return detect_history({s.name: s for s in series}, PARAMS)


@pytest.mark.parametrize(("size", "direction"), [(0.10, "regression"), (-0.10, "improvement"),
                                                 (0.05, "regression")])
def test_a_step_is_found_on_its_first_night_within_three_nights(size: float, direction: str) -> None:
    found = detect(make([1.0] * 30 + [1.0 + size] * 20, seed=1))
    assert len(found) == 1
    (d,) = found
    assert d.direction == direction and d.night == 30
    assert d.detected_on <= 32
    assert d.change_pct == pytest.approx(100 * size, abs=1.5)
    assert d.baseline_median == pytest.approx(20.0, rel=0.01)


def test_lone_spikes_and_a_two_night_hot_spell_do_not_alert() -> None:
    levels = [1.0] * 50
    levels[20] = 1.4
    levels[35] = levels[36] = 1.25
    assert detect(make(levels, seed=2)) == []


def test_a_step_then_revert_gives_a_regression_then_an_improvement() -> None:
    found = detect(make([1.0] * 25 + [1.2] * 12 + [1.0] * 15, seed=3))
    assert [(d.direction, d.night) for d in found] == [("regression", 25), ("improvement", 37)]


def test_a_slow_ramp_is_caught_inside_its_span() -> None:
    ramp = list(1.0 + 0.15 * np.arange(1, 31) / 30)
    found = detect(make([1.0] * 20 + ramp + [1.15] * 10, cv=0.01, seed=4))
    assert found and all(d.direction == "regression" for d in found)
    assert 20 <= found[0].night <= 50


def _bimodal(levels: list[float], seed: int) -> Series:
    """A device with a slow mode: a quarter of its sessions run 10% slower, whatever the level."""
    rng = np.random.default_rng(seed)
    rows = [("b", night, level * 20.0 * (1 + 0.01 * rng.standard_normal())
             * (1.10 if rng.random() < 0.25 else 1.0))
            for night, level in enumerate(levels) for _ in range(5)]
    return build_series(rows)["b"]


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_a_bimodal_device_alerts_on_a_step_smaller_than_its_mode_gap_and_not_on_its_modes(
        seed: int) -> None:
    assert detect(_bimodal([1.0] * 60, seed)) == []
    found = detect(_bimodal([1.0] * 30 + [1.06] * 20, seed))
    assert [(d.direction, d.night) for d in found] == [("regression", 30)]
    assert found[0].detected_on <= 35  # offline: the next night stands in for the re-run


@pytest.mark.slow
def test_quiet_series_raise_nothing_across_many_nights() -> None:
    """200 null series x 40 nights: the FDR and the confirmation keep false alerts away."""
    series = [make([1.0] * 40, cv=0.02, seed=100 + i, name=f"n{i}") for i in range(200)]
    assert detect(*series) == []


def test_warming_up_until_the_baseline_has_enough_nights() -> None:
    series = make([1.0] * 4 + [2.0] * 10, seed=5)
    first_tested = PARAMS.min_baseline_nights + PARAMS.min_window_nights - 1
    assert screen_series(series, 0, first_tested - 1, PARAMS).status == "warming_up"
    assert screen_series(series, 0, first_tested, PARAMS).status == "tested"


def test_a_series_noisier_than_the_limit_is_not_gated() -> None:
    series = make([1.0] * 30 + [1.1] * 10, cv=0.25, sessions=1, seed=6)
    assert screen_series(series, 0, 35, PARAMS).status == "too_noisy"
    assert detect(series) == []


def _suspect(direction: str = "up") -> Suspect:
    return Suspect("s", 10, "fast", direction, 10, slice(0, 10), 0.2, 0.05, 1e-6, 0.01)  # type: ignore[arg-type]


def _batches(level: float, seed: int, count: int = 3) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(level * 20.0 * (1 + 0.01 * rng.standard_normal(5))) for _ in range(count)]


def test_confirmation_needs_the_change_again_and_cancels_device_wide_drift() -> None:
    history = make([1.0] * 10, seed=8)
    rerun = _batches(1.2, seed=9)
    assert confirm(_suspect(), rerun, history, PARAMS).confirmed
    # The reference series moved just as much: the phone, not the model, got slower.
    assert not confirm(_suspect(), rerun, history, PARAMS, reference_ratio=1.2).confirmed
    assert not confirm(_suspect(), _batches(1.0, seed=9), history, PARAMS).confirmed
    # A reference within its noise, or one that got faster, says nothing about the device: the
    # verdict rests on the suspect's own sessions.
    alone = confirm(_suspect(), rerun, history, PARAMS)
    for ratio in (1.01, 0.8):
        assert confirm(_suspect(), rerun, history, PARAMS, reference_ratio=ratio).change == alone.change
    assert not confirm(_suspect("down"), rerun, history, PARAMS).confirmed


def test_confirmation_reads_batches_as_the_screen_reads_nights() -> None:
    """One hot batch of three: its sessions alone can pull the sessions' shift over the gate, but
    the batches' median must move too. A change in every batch moves both. (The gate is held the
    same for any number of batches, so that only the reading differs.)"""
    params = replace(PARAMS, window_gate_power=0.0)
    rng = np.random.default_rng(8)
    history = build_series([("s", night, 20.0 * (1 + 0.03 * rng.standard_normal()))
                            for night in range(10) for _ in range(5)])["s"]
    suspect = Suspect("s", 10, "screen", "up", 10, slice(0, 10), 0.06, 0.05, 1e-4, 0.015)

    def confirmed(levels: list[float]) -> tuple[int, int]:
        """How many of 200 re-runs confirm, pooled into one batch and kept by batch."""
        pooled = by_batch = 0
        for seed in range(200):
            draw = np.random.default_rng(seed)
            batches = [list(20.0 * level * (1 + 0.03 * draw.standard_normal(5))) for level in levels]
            pooled += confirm(suspect, [[v for b in batches for v in b]], history, params).confirmed
            by_batch += confirm(suspect, batches, history, params).confirmed
        return pooled, by_batch

    pooled, by_batch = confirmed([1.0, 1.0, 1.3])
    assert pooled >= 30 and by_batch <= pooled / 2
    assert min(confirmed([1.06, 1.06, 1.06])) >= 190


def test_the_confirmation_gate_falls_with_more_batches_as_the_screens_with_more_nights() -> None:
    """Two times the noise for three batches, times (3 / batches) ** window_gate_power otherwise."""
    history = make([1.0] * 10, seed=8)
    suspect = Suspect("s", 10, "fast", "up", 10, slice(0, 10), 0.12, 0.05, 1e-6, 0.05)
    gates = {n: 2 * 0.05 * (3 / n) ** PARAMS.window_gate_power for n in (1, 3, 6)}
    assert gates[6] < 0.092 < gates[3] < 0.115 < gates[1]
    short = confirm(suspect, _batches(1.092, seed=9), history, PARAMS)
    assert not short.confirmed and short.inconclusive
    assert confirm(suspect, _batches(1.092, seed=9, count=6), history, PARAMS).confirmed
    assert confirm(suspect, _batches(1.115, seed=9), history, PARAMS).confirmed
    assert not confirm(suspect, _batches(1.115, seed=9, count=1), history, PARAMS).confirmed
    # Not the suspect's way by the noise: nothing more batches could settle.
    flat = confirm(suspect, _batches(1.02, seed=9), history, PARAMS)
    assert not flat.confirmed and not flat.inconclusive


def test_an_inconclusive_rerun_is_measured_again_and_judged_on_all_its_batches() -> None:
    levels = [1.0] * 30 + [1.1] * 20
    series = make(levels, seed=1)
    calls: dict[int, int] = {}

    def rerun_at(first: float, then: float):  # noqa: ANN202 (a closure)
        rng = np.random.default_rng(9)

        def rerun(name: str, t: int) -> Remeasurement:
            calls[t] = calls.get(t, 0) + 1
            level = first if calls[t] == 1 else then
            return Remeasurement([list(level * 20.0 * (1 + 0.01 * rng.standard_normal(5)))
                                  for _batch in range(3)], 1.0)
        return rerun

    # The first three batches show 3% of a 10% step: under half the screen's change, yet the
    # suspect's way by far more than the noise. Three more at the new level settle it.
    found = detect_history({"s": series}, PARAMS, rerun_at(1.03, 1.1))
    assert [(d.night, d.detected_on) for d in found] == [(30, 31)] and calls == {31: 2}
    calls.clear()
    # Six batches at 3% are still under half the screen's change, night after night.
    assert detect_history({"s": series}, PARAMS, rerun_at(1.03, 1.03)) == []
    assert calls[31] == 2 and set(calls.values()) == {2}
    # A re-run at the old level is not worth a second one.
    calls.clear()
    assert detect_history({"s": make([1.0] * 30 + [1.1] * 3, seed=1)}, PARAMS,
                          rerun_at(1.0, 1.1)) == []
    assert calls and set(calls.values()) == {1}


def test_a_remeasurement_extended_keeps_its_batches_and_weighs_the_reference_ratios() -> None:
    first = Remeasurement([[1.0], [2.0]], 1.1)
    both = first.extended(Remeasurement([[3.0]], 1.0))
    assert both.batches == [[1.0], [2.0], [3.0]] and both.sessions == [1.0, 2.0, 3.0]
    assert both.reference_ratio == pytest.approx(1.1 ** (2 / 3))
    assert first.extended(Remeasurement([[3.0]])).reference_ratio is None


def test_a_window_suspect_under_its_gate_needs_the_rerun_to_carry_it_over() -> None:
    """A 5% window change against a 6% gate is a suspect (over ``suspect_fraction`` of the gate);
    the re-run must then bring the mean of the two changes to ``pooled_fraction`` of the gate."""
    history = make([1.0] * 10, seed=8)
    window = Suspect("s", 10, "screen", "up", 10, slice(0, 10), 0.05, 0.06, 1e-4, 0.01)
    assert PARAMS.suspect_fraction * 0.06 <= 0.05 < 0.06
    needed = 2 * PARAMS.pooled_fraction * 0.06 - 0.05
    weak, strong = _batches(1 + needed - 0.015, seed=9), _batches(1 + needed + 0.015, seed=9)
    assert not confirm(window, weak, history, PARAMS).confirmed
    assert confirm(window, strong, history, PARAMS).confirmed
    # The same weak re-run confirms a suspect that cleared its gate on its own.
    assert confirm(replace(window, stage="fast"), weak, history, PARAMS).confirmed


def test_the_screen_suspects_a_window_from_a_fraction_of_its_gate() -> None:
    series = make([1.0] * 30 + [1.05] * 3, cv=0.03, seed=6)
    screen = screen_series(series, 0, 32, PARAMS)
    assert screen.bar == pytest.approx(PARAMS.suspect_fraction * screen.gate)
    assert screen.bar > PARAMS.min_effect
    assert screen.bar <= screen.change < screen.gate and screen.passes_effect
    assert not screen_series(series, 0, 32, replace(PARAMS, suspect_fraction=1.0)).passes_effect


def _rerun_at(levels: list[float], cv: float, seed: int):  # noqa: ANN202 (a closure)
    """A simulated re-run: fresh sessions at the series' true level on that night."""
    rng = np.random.default_rng(seed)

    def rerun(name: str, t: int) -> Remeasurement:
        return Remeasurement([list(levels[t] * 20.0 * (1 + cv * rng.standard_normal(5)))
                              for _batch in range(3)])
    return rerun


def test_a_same_night_rerun_confirms_a_step_a_night_earlier_than_waiting() -> None:
    levels = [1.0] * 30 + [1.1] * 20
    series = make(levels, seed=1)
    offline = detect_history({"s": series}, PARAMS)
    rerun = detect_history({"s": series}, PARAMS, _rerun_at(levels, 0.01, 9))
    assert [(d.night, d.direction) for d in rerun] == [(30, "regression")]
    assert rerun[0].detected_on < offline[0].detected_on <= 32


def test_a_rerun_at_the_old_level_does_not_confirm() -> None:
    levels = [1.0] * 30 + [1.1] * 3
    series = make(levels, seed=1)
    assert detect_history({"s": series}, PARAMS, _rerun_at([1.0] * 33, 0.01, 9)) == []


@pytest.mark.parametrize(("last_nights", "rerun_change", "kept"), [
    ([1.10, 1.10, 1.10], 0.09, True),    # a step, seen again by the re-run
    ([1.01, 0.99, 1.30], 0.30, True),    # one night in, but the re-run repeats it: a new level
    ([1.01, 0.99, 1.30], 0.06, False),   # placed on one hot night the re-run did not repeat
])
def test_settle_keeps_a_new_level_and_drops_a_hot_night_the_rerun_did_not_repeat(
        last_nights: list[float], rerun_change: float, kept: bool) -> None:
    series = make([1.0] * 20 + last_nights, seed=12)
    t = len(series.nights) - 1
    suspect = Suspect("s", t, "screen", "up", 20, slice(0, 20), 0.06, 0.03, 1e-4, 0.01)
    settled = settle(series, 0, t, suspect, Confirmation(True, rerun_change, 1e-4), PARAMS)
    assert (settled is not None) == kept
    if settled is not None:
        assert settled.onset == (20 if last_nights[0] > 1.05 else 22)


def test_the_gate_remembers_the_segments_noise_beyond_the_baselines_thirty_nights() -> None:
    """Twenty quiet nights after forty noisy ones, in one segment: a 4% rise is within the
    series' noise. A gate from the last 30 nights alone (mostly quiet) takes it for a change."""
    rng = np.random.default_rng(4)
    rows = []
    for night in range(63):
        spread = 0.06 if night < 40 else 0.003
        level = 20.0 * (1.04 if night >= 60 else 1.0) * (1 + spread * rng.standard_normal())
        rows += [("s", night, level * (1 + 0.002 * rng.standard_normal())) for _ in range(5)]
    series = build_series(rows)["s"]
    screen = screen_series(series, 0, 62, PARAMS)
    assert screen.status == "tested" and screen.change > 0.03
    assert not screen.passes_effect
    assert screen_series(series, 0, 62, replace(PARAMS, noise_nights=30)).passes_effect


def test_a_young_segments_noise_is_an_uncertain_guess_and_its_gate_is_wider() -> None:
    """The same ten nights (robust CV 1.8%), seen once or six times, then a 6.5% rise: after
    sixty nights the noise is known well enough for it to clear the effect gate, after ten it is
    not (a robust CV of ten nights is too often far below the truth)."""
    pattern = [1 + 0.02 * z for z in (-1.5, 0.3, -1.0, 1.5, -0.6, 0.0, 1.0, -0.3, 0.6, 0.0)]
    young, old = make(pattern + [1.065] * 3, cv=0.002), make(pattern * 6 + [1.065] * 3, cv=0.002)
    young_screen, old_screen = screen_series(young, 0, 12, PARAMS), screen_series(old, 0, 62, PARAMS)
    assert young_screen.noise == pytest.approx(old_screen.noise, rel=0.05)
    assert old_screen.change >= old_screen.gate
    assert young_screen.change < young_screen.gate


def test_the_rank_test_leaves_out_one_hot_night_inside_a_faster_level() -> None:
    """A 10% improvement whose second night ran 20% hot: two nights of three say "faster" beyond
    doubt, but with the hot night's sessions in, the rank test cannot tell."""
    levels = [1.0] * 30 + [0.9, 0.9 * 1.2, 0.9]
    series = make(levels, seed=5)
    screen = screen_series(series, 0, 32, PARAMS)
    assert screen.direction == "down" and screen.passes_effect
    assert screen.p_value <= PARAMS.fdr
    with_hot_night = screen_series(series, 0, 32, replace(PARAMS, contrary_night=float("inf")))
    assert with_hot_night.p_value > PARAMS.fdr


def test_without_reruns_a_window_must_clear_its_whole_gate() -> None:
    """A 5% step whose three-night window falls between the bar and the gate: a same-night re-run
    of three batches confirms it, but the next night is one draw and does not stand in for them."""
    levels = [1.0] * 30 + [1.05] * 4
    series = make(levels, cv=0.03, seed=6)
    screen = screen_series(series, 0, 32, PARAMS)
    assert screen.bar <= screen.change < screen.gate
    rerun = detect_history({"s": series}, PARAMS, _rerun_at(levels, 0.03, 9))
    assert [(d.night, d.detected_on) for d in rerun] == [(30, 32)]
    assert detect_history({"s": series}, PARAMS) == []

"""The statistics helpers against independent computations and known properties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from orchestrator.stats import (
    best_split,
    fdr_adjust,
    noise_estimate_factor,
    one_sided_pvalue,
    relative_change,
    robust_cv,
    spread_cv,
)


def test_robust_cv_is_scipys_normal_scaled_mad_over_the_median() -> None:
    data = np.random.default_rng(7).normal(50.0, 2.0, 400)
    expected = sps.median_abs_deviation(data, scale="normal") / np.median(data)
    assert robust_cv(data.tolist()) == pytest.approx(expected, rel=1e-9)
    assert robust_cv(data.tolist()) == pytest.approx(0.04, rel=0.15)  # sd / mean of the sample


def test_robust_cv_ignores_a_minority_of_outliers_but_spread_cv_sees_a_second_mode() -> None:
    rng = np.random.default_rng(3)
    quiet = rng.normal(100.0, 1.0, 300)
    bimodal = np.where(rng.random(300) < 0.25, quiet * 1.10, quiet)
    assert robust_cv(bimodal.tolist()) < 0.03
    assert spread_cv(bimodal.tolist()) > 2 * robust_cv(bimodal.tolist())
    assert spread_cv(quiet.tolist()) == pytest.approx(robust_cv(quiet.tolist()), rel=0.25)


def test_one_sided_pvalue_follows_the_direction() -> None:
    base = [10.0, 10.1, 9.9, 10.05, 9.95, 10.02, 9.98, 10.03]
    slower = [11.0, 11.1, 10.9, 11.05]
    assert one_sided_pvalue(slower, base, "up") < 0.01
    assert one_sided_pvalue(slower, base, "down") > 0.9
    assert one_sided_pvalue([], base, "up") == 1.0


def test_fdr_adjust_is_benjamini_hochberg() -> None:
    # By hand: sorted p (0.001, 0.008, 0.039, 0.041, 0.2) times m / rank, then running minimum from
    # the largest rank down.
    adjusted = fdr_adjust([0.039, 0.001, 0.2, 0.008, 0.041])
    assert adjusted == pytest.approx([0.05125, 0.005, 0.2, 0.02, 0.05125])
    assert fdr_adjust([]) == []


def test_relative_change_uses_medians() -> None:
    assert relative_change([11.0, 11.0, 500.0], [10.0, 10.0, 0.1]) == pytest.approx(0.10)


def test_best_split_finds_the_first_night_of_a_new_level_despite_a_wild_night() -> None:
    rng = np.random.default_rng(11)
    noise = 1 + 0.01 * rng.standard_normal(33)
    values = list(100 * noise[:30]) + list(110 * noise[30:])
    values[26] = 125.0  # one hot night before the change: a squared-error scan would split there
    assert best_split(values, 20, len(values) - 1) == 30
    assert best_split(values, 31, len(values) - 1) == 31  # never outside the range asked for


def test_noise_estimate_factor_shrinks_to_one_as_the_noise_nights_grow() -> None:
    factors = [noise_estimate_factor(n, 60, 0.995) for n in (5, 10, 20, 30, 45, 60)]
    assert factors == sorted(factors, reverse=True)
    assert factors[-1] == 1.0
    assert factors[1] > 1.5 > factors[2] > 1.1 > factors[4]

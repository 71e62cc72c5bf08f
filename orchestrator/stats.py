"""Statistics for regression detection: plain functions over plain sequences, built on scipy.stats.

Nothing here knows about series, nights or the database; ``orchestrator.regression`` decides what to
feed them. Values are latencies (lower is better), but these functions do not care.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import stats as sps

__all__ = [
    "MAD_TO_SIGMA",
    "best_split",
    "fdr_adjust",
    "hl_change",
    "noise_estimate_factor",
    "one_sided_pvalue",
    "relative_change",
    "robust_cv",
    "spread_cv",
]

Direction = Literal["up", "down"]

#: 1 / (z(0.90) - z(0.10)): turns a 10-90% inter-quantile range into a normal-equivalent sigma.
_IQR90_TO_SIGMA = 1.0 / (2.0 * 1.2815515655446004)


#: MAD of a normal sample times this is its standard deviation (scipy's ``scale="normal"``)
MAD_TO_SIGMA = 1.482602218505602


#: the MAD's efficiency at the normal: a robust CV of n values is about as precise as a standard
#: deviation of 0.37 n values
MAD_EFFICIENCY = 0.3676


@lru_cache(maxsize=512)
def noise_estimate_factor(values: int, reference: int, quantile: float) -> float:
    """How much wider a threshold in units of a robust CV of ``values`` values must be than one in
    units of a robust CV of ``reference`` values to keep the same false-positive rate: the ratio of
    Student t ``quantile``s for the effective degrees of freedom of each estimate."""
    def t_quantile(n: int) -> float:
        return float(sps.t.ppf(quantile, max(1.0, MAD_EFFICIENCY * n)))
    return t_quantile(values) / t_quantile(reference)


def median(values: Sequence[float] | np.ndarray) -> float:
    """The median, the same number as ``np.median`` (the mean of the middle two of an even count).

    The detector takes tens of thousands of medians of a few dozen values per screen; for lists
    that short, ``statistics.median`` costs a tenth of numpy's per-call overhead.
    """
    return float(statistics.median(values))


def robust_cv(values: Sequence[float]) -> float:
    """1.4826 * MAD / median: the noise profile shown in reports (0.0 for fewer than 2 values)."""
    data = [float(value) for value in values]
    if len(data) < 2:
        return 0.0
    # plain Python rather than scipy.stats.median_abs_deviation or numpy: same number, without the
    # per-call overhead of scipy's axis/nan wrapper or numpy's, which dominated a night's screen of
    # many series (a screen takes tens of thousands of these of a few dozen values).
    middle = median(data)
    if middle == 0:
        return float("inf")
    return MAD_TO_SIGMA * median([abs(value - middle) for value in data]) / abs(middle)


def spread_cv(values: Sequence[float]) -> float:
    """The larger of the robust CV and a 10-90% quantile-based CV.

    MAD only looks at the middle half of the data, so a bimodal device (a slow mode in a quarter of
    the nights) looks quiet to it; the wider quantile range sees that mode. Used by the drift pass,
    whose change is a difference of nightly medians, and to pick the nightly's reference series;
    never shown as the noise profile.
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return 0.0
    q10, q50, q90 = np.quantile(data, [0.10, 0.50, 0.90])
    if q50 == 0:
        return float("inf")
    return max(robust_cv(values), float(q90 - q10) * _IQR90_TO_SIGMA / abs(float(q50)))


def relative_change(new: Sequence[float], base: Sequence[float]) -> float:
    """median(new) / median(base) - 1."""
    return median(new) / median(base) - 1.0


def hl_change(new: Sequence[float], base: Sequence[float]) -> float:
    """Hodges-Lehmann relative shift: exp(median of all pairwise log(new_i / base_j)) - 1.

    The shift estimate that goes with the Mann-Whitney test. Pairs from every mode of a bimodal device
    on both sides cancel (the pairwise differences are symmetric about the shift when both samples
    mix the modes alike), and a lone hot night in the new sample moves it a little, not all the way.
    """
    new_log = np.log(np.asarray(new, dtype=float))
    base_log = np.log(np.asarray(base, dtype=float))
    if new_log.size == 0 or base_log.size == 0:
        return 0.0
    return float(np.expm1(np.median(np.subtract.outer(new_log, base_log))))


def one_sided_pvalue(new: Sequence[float], base: Sequence[float], direction: Direction) -> float:
    """Mann-Whitney U p-value that ``new`` is stochastically larger ("up") or smaller than ``base``."""
    if len(new) == 0 or len(base) == 0:
        return 1.0
    alternative = "greater" if direction == "up" else "less"
    result = sps.mannwhitneyu(np.asarray(new, dtype=float), np.asarray(base, dtype=float),
                              alternative=alternative, method="auto")
    return float(result.pvalue)


def fdr_adjust(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (compare each with the target false-discovery rate)."""
    if len(pvalues) == 0:
        return []
    return [float(p) for p in sps.false_discovery_control(np.asarray(pvalues, dtype=float), method="bh")]


def best_split(values: Sequence[float], first: int, last: int, tolerance: float = 0.0) -> int:
    """The index ``k`` in ``[first, last]`` where values[:k] and values[k:] are best fit by two levels.

    A least-absolute-deviation scan (each side about its own median): the maximum-likelihood split
    under Laplace noise, so a heavy-tailed night pulls it far less than a squared-error scan. Of the
    splits within ``tolerance`` of the best cost the latest wins: when the data cannot tell two nights
    apart, a change is not claimed earlier than they show.
    """
    data = np.asarray(values, dtype=float)
    costs: dict[int, float] = {}
    for k in range(max(first, 1), min(last, data.size - 1) + 1):
        head, tail = data[:k], data[k:]
        costs[k] = float(np.abs(head - np.median(head)).sum() + np.abs(tail - np.median(tail)).sum())
    if not costs:
        return last
    best = min(costs.values())
    return max(k for k, cost in costs.items() if cost <= best + tolerance)

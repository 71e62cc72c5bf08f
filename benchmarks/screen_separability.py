"""How far apart are "a 10% step, three nights in" and "no change" in the validation's noise model?

    python benchmarks/screen_separability.py [--trials 8000] [--seed 5] [--out DIR]

The validation target asks for 95% of 10% steps (CV <= 5%) within 3 nights, at precision >= 0.95.
This script measures the evidence three nights give, with the generator of
``regression_validation.py``, for these statistics:

- ``screen``: the detector's window shift (``regression.window_change``) of 3 nights against a
  30-night baseline, over the robust CV of the 60 nights before the window: the quantity its effect
  gate compares, for a series whose segment is that long;
- ``known_noise``: the same shift, not divided by anything: within one CV band a fixed threshold
  on it is the gate of a detector that knows each series' noise exactly;
- the shifts the screen could use instead, also with the noise known: ``sessions_hl`` (the
  sessions' Hodges-Lehmann shift alone), ``nightly_median`` (the median of the window's nightly
  medians against the baseline's, alone), ``nightly_hl`` (the Hodges-Lehmann shift of the nightly
  medians) and ``nightly_mean`` (the geometric mean of the window's nightly medians: the efficient
  estimate were nights normal, and the one a hot night moves most).

For each CV band it prints the 99th and 99.7th percentile of |statistic| with no change, and the
share of 10% steps at or above each: the best recall a threshold on that statistic can have, before
any confirmation loss. The screen must sit between the two for the precision target: a night tests
every series, so 1% per series-night is about 860 suspects in the validation data, and the few
percent of them that a re-run confirms by chance already use up the false-alert budget; 0.3% stays
well inside it. Writes ``results/screen_separability.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from regression_validation import CV_BANDS, Phone, _night_effect, _session

from orchestrator.regression import window_change
from orchestrator.stats import hl_change, relative_change, robust_cv

BASELINE_NIGHTS, NOISE_NIGHTS, WINDOW_NIGHTS, STEP = 30, 60, 3, 0.10
STATISTICS = ("screen", "known_noise", "sessions_hl", "nightly_median", "nightly_hl", "nightly_mean")


def _nights(rng: np.random.Generator, phone: Phone, nights: int, mult: float) -> list[list[float]]:
    out = []
    for _ in range(nights):
        effect = _night_effect(rng, phone.cv)
        out.append([mult * _session(rng, phone, 0, effect) for _ in range(phone.sessions)])
    return out


def _trial(rng: np.random.Generator, cv: float, mult: float) -> tuple[float, ...]:
    """The ``STATISTICS`` of one series: its baseline, then 3 nights at ``mult``."""
    phone = Phone(1.0, np.ones(1), cv, int(rng.choice([3, 5, 5])), bool(rng.random() < 0.2),
                  1 + rng.uniform(0.05, 0.12))
    before, window = _nights(rng, phone, NOISE_NIGHTS, 1.0), _nights(rng, phone, WINDOW_NIGHTS, mult)
    medians = [float(np.median(night)) for night in before]
    base, base_medians = before[-BASELINE_NIGHTS:], medians[-BASELINE_NIGHTS:]
    window_medians = [float(np.median(night)) for night in window]
    sessions = [v for night in window for v in night]
    base_sessions = [v for night in base for v in night]
    change = window_change(sessions, base_sessions, window_medians, base_medians)
    mean = float(np.expm1(np.mean(np.log(window_medians)) - np.log(np.median(base_medians))))
    return (change / robust_cv(medians), change, hl_change(sessions, base_sessions),
            relative_change(window_medians, base_medians), hl_change(window_medians, base_medians),
            mean)


def separability(cv: float, trials: int, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    null = np.array([_trial(rng, cv, 1.0) for _ in range(trials)])
    step = np.array([_trial(rng, cv, 1.0 + STEP) for _ in range(trials)])
    out = {}
    for column, name in enumerate(STATISTICS):
        q99, q997 = np.quantile(np.abs(null[:, column]), [0.99, 0.997])
        out[name] = {"null_q99": round(float(q99), 4), "null_q997": round(float(q997), 4),
                     "step_recall_at_q99": round(float(np.mean(step[:, column] >= q99)), 3),
                     "step_recall_at_q997": round(float(np.mean(step[:, column] >= q997)), 3),
                     "step_median": round(float(np.median(step[:, column])), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8000, help="series per CV band and case")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    bands = {f"{cv:.0%}": separability(cv, args.trials, rng) for cv in CV_BANDS}
    print("CV   statistic       null q99  null q99.7  10% step median  recall@q99  recall@q99.7")
    for band, rows in bands.items():
        for name, row in rows.items():
            print(f"{band:>3}  {name:<14}  {row['null_q99']:8.4f}  {row['null_q997']:10.4f}  "
                  f"{row['step_median']:15.4f}  {row['step_recall_at_q99']:10.3f}  "
                  f"{row['step_recall_at_q997']:12.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"version": 2, "seed": args.seed, "trials": args.trials, "step": STEP,
              "baseline_nights": BASELINE_NIGHTS, "noise_nights": NOISE_NIGHTS,
              "window_nights": WINDOW_NIGHTS,
              "units": {"screen": "window shift / robust CV of the nightly medians before the window",
                        "known_noise": "window shift (relative)",
                        "sessions_hl": "sessions' Hodges-Lehmann shift (relative)",
                        "nightly_median": "shift of the median nightly median (relative)",
                        "nightly_hl": "nightly medians' Hodges-Lehmann shift (relative)",
                        "nightly_mean": "shift of the geometric mean nightly median (relative)"},
              "bands": bands}
    (args.out / "screen_separability.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

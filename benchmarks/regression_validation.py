"""Validation of the nightly regression detector on synthetic phone-like histories.

    python benchmarks/regression_validation.py [--seed 20261126] [--per-band 1] [--out DIR]

The generator below knows nothing of the detector: its noise is a night-level effect (Student t,
4 degrees of freedom) times a session-level effect (Student t, 3 d.o.f.), hot-phone nights (3% of
nights, +5..30%), and bimodal devices (a fifth of the series: a quarter of the sessions land in a
slow mode +5..12%). Per CV band, it injects steps of 3, 5, 10 and 20% up and down, steps that revert
after 3..12 nights, slow ramps of 10% over 15..30 nights, and lone spikes of 25..60% that must not
alert; 40 series per band carry no event at all.

Five detectors run on the same data, replayed night by night (each sees only the nights so far):

- farm: ``orchestrator.regression.detect_history`` as the nightly runs it: screen + drift, each
  suspect confirmed that same night by a simulated re-run (``Rerunner``: 3 batches of 5 fresh
  sessions drawn from the generator at the series' level that night, each batch with its own batch
  effect and hot spells, and as many sessions of a reference series on the same phone that shares
  each batch's hot spell and part of its batch effect);
- farm_offline: the same detector with no re-runs, the next night standing in for the confirmation,
  as ``farm regressions detect`` runs it;
- Perfherder-style: treeherder's ``detect_changes`` (a t-test of linearly weighted windows: 12..24
  values back, 12 forward, |t| > 7, a local maximum of |t|) with each night's sessions as its
  revision's values, replayed as Perfherder re-runs it when data arrive;
- Conbench-style: z-score of the night's value against the previous 30 nights, alert when |z| >= 5;
- Apache Otava: E-Divisive change points (its defaults) over the nightly values so far, every night;
  a change point alerts the first night it appears.

A detection matches an injected change when it has the same direction and is placed within
[onset - 2, onset + 5] (ramps: anywhere up to their end + 5). For every detector, repeated alerts on
the same series and direction within 7 nights are merged. Anything else is a false alert; those
within 15 nights of a change of their series and direction are counted apart
(``false_alerts_near_a_change``): that change placed wrong or alerted twice, not a chance alarm.

Writes ``results/regression_validation.json`` and ``results/regression_validation.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from otava.analysis import compute_change_points

from orchestrator.regression import DetectorParams, Remeasurement, detect_history
from orchestrator.series import Series, build_series

NIGHTS = 90
CV_BANDS = (0.01, 0.02, 0.03, 0.05, 0.08)
STEP_SIZES = (0.03, 0.05, 0.10, 0.20)
ONSET_EARLY, ONSET_LATE = 20, 75
MATCH_BEFORE, MATCH_AFTER = 2, 5
MERGE_NIGHTS = 7
#: a false alert this close to an injected change of its series and direction (outside the match
#: window) is that change placed wrong or alerted twice, not a chance alarm
NEAR_CHANGE_NIGHTS = 15


@dataclass(frozen=True)
class Event:
    series: str
    kind: str  # step | revert | ramp
    onset: int
    end: int  # last night of the change (ramps), onset otherwise
    direction: str  # regression | improvement
    size: float
    cv: float


@dataclass(frozen=True)
class Alert:
    series: str
    night: int
    detected_on: int
    direction: str


def _multiplier(kind: str, size: float, onset: int, length: int) -> np.ndarray:
    m = np.ones(NIGHTS)
    if kind == "step":
        m[onset:] += size
    elif kind == "revert":
        m[onset:onset + length] += size
    elif kind == "ramp":
        m[onset:onset + length] += size * np.arange(1, length + 1) / length
        m[onset + length:] += size
    return m


@dataclass(frozen=True)
class Phone:
    """What the generator knows of one series' device: enough to measure it again on any night."""

    level: float
    mult: np.ndarray
    cv: float
    sessions: int
    bimodal: bool
    slow_mode: float


def _hot_spell(rng: np.random.Generator) -> float:
    """A phone running hot or busy: 3% of batches, +5..30% on everything it runs."""
    return 1 + rng.uniform(0.05, 0.30) if rng.random() < 0.03 else 1.0


def _normal_effect(rng: np.random.Generator) -> float:
    """A night's (or batch's) usual deviation, in units of 0.6 x CV: Student t, 4 d.o.f., unit var."""
    return float(rng.standard_t(4)) / math.sqrt(2)


def _batch_effect(cv: float, normal: float, hot: float) -> float:
    return (1 + 0.6 * cv * normal) * hot


def _night_effect(rng: np.random.Generator, cv: float) -> float:
    return _batch_effect(cv, _normal_effect(rng), _hot_spell(rng))


def _session(rng: np.random.Generator, phone: Phone, night: int, night_effect: float) -> float:
    value = phone.level * phone.mult[night] * night_effect
    value *= 1 + 0.8 * phone.cv * rng.standard_t(3) / math.sqrt(3)
    if phone.bimodal and rng.random() < 0.25:
        value *= phone.slow_mode
    return max(value, 1e-3)


class Rerunner:
    """The confirmation re-run, simulated: fresh sessions of a series on a night, from its level,
    interleaved with a reference series on the same phone (as ``farm nightly`` does when the device
    runs another series), in ``batches`` separate batches of ``sessions`` each (``nightly.confirm_
    batches``).

    A re-run batch runs on the same phone later that night (after the thermal gate, apart in time
    from the suspect's other batches), so each batch draws its own batch effect from the nightly
    model: a normal batch-to-batch effect and a hot spell (3% of batches). The reference runs in the
    same batch, so it shares the hot spell (each model feels heat differently: the reference
    0.5..1.5 times as much) and half of the normal effect's variance; the rest, and all session
    noise, is its own. The reference is another phone-like series of the same CV band (bimodal as
    often as any) at a level that did not change; its ratio is the median of all its fresh sessions
    over the median of 20 baseline nights of it. A lone spike was that night's batch only and is not
    repeated.

    Every (series, night) re-run draws from its own random stream, so the nightly data are the same
    with or without re-runs, and two detectors that re-run the same series on the same night see the
    same sessions: their results differ by what they do, not by which draws they got. A second re-run
    of the same series on the same night (an inconclusive confirmation measured again) draws fresh
    batches from a stream of its own.
    """

    def __init__(self, phones: dict[str, Phone], seed: int, sessions: int = 5,
                 batches: int = 3) -> None:
        self.phones = phones
        self.seed = seed
        self.index = {name: i for i, name in enumerate(phones)}
        self.sessions = sessions
        self.batches = batches
        self.references: dict[str, tuple[Phone, float]] = {}
        self.attempts: dict[tuple[str, int], int] = defaultdict(int)

    @property
    def calls(self) -> int:
        """Re-runs so far."""
        return sum(self.attempts.values())

    @property
    def second_rounds(self) -> int:
        """Re-runs of a series on a night that it had been re-run on already."""
        return sum(count - 1 for count in self.attempts.values())

    def _reference(self, name: str) -> tuple[Phone, float]:
        """The series' reference and its baseline median, made on its first re-run."""
        if name not in self.references:
            rng = np.random.default_rng([self.seed, 2, self.index[name]])
            cv = self.phones[name].cv
            phone = Phone(1.0, np.ones(NIGHTS), cv, self.sessions, bool(rng.random() < 0.2),
                          1 + rng.uniform(0.05, 0.12))
            baseline = [_session(rng, phone, 0, _night_effect(rng, cv))
                        for _night in range(20) for _s in range(phone.sessions)]
            self.references[name] = (phone, float(np.median(baseline)))
        return self.references[name]

    def __call__(self, name: str, night: int) -> Remeasurement:
        attempt = self.attempts[(name, night)]
        self.attempts[(name, night)] += 1
        phone = self.phones[name]
        reference, reference_median = self._reference(name)
        stream = [self.seed, 1, self.index[name], night]
        # Later attempts add their number; the first keeps the stream it always had.
        rng = np.random.default_rng([*stream, attempt] if attempt else stream)
        fresh: list[list[float]] = []
        ref: list[float] = []
        for _batch in range(self.batches):
            normal, hot = _normal_effect(rng), _hot_spell(rng)
            effect = _batch_effect(phone.cv, normal, hot)
            fresh.append([_session(rng, phone, night, effect) for _ in range(self.sessions)])
            # correlation 0.5 with the suspect's batch effect: half of its variance is the device's
            shared = 0.5 * normal + math.sqrt(0.75) * _normal_effect(rng)
            heat = 1 + (hot - 1) * rng.uniform(0.5, 1.5)
            reference_effect = _batch_effect(reference.cv, shared, heat)
            ref += [_session(rng, reference, night, reference_effect) for _ in range(self.sessions)]
        return Remeasurement(fresh, float(np.median(ref)) / reference_median)


def generate(seed: int, per_band: int) -> tuple[list[tuple[str, int, float]], list[Event],
                                                 dict[str, float], list[tuple[str, int]],
                                                 dict[str, Phone]]:
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, int, float]] = []
    events: list[Event] = []
    cv_of: dict[str, float] = {}
    spikes: list[tuple[str, int]] = []
    phones: dict[str, Phone] = {}
    plan: list[tuple[str, float]] = [("none", 0.0)] * 40
    for size in STEP_SIZES:
        plan += [("step", size), ("step", -size)] * 12
    plan += [("revert", s) for s in (0.05, 0.10, 0.20, -0.10)] * 4
    plan += [("ramp", 0.10), ("ramp", -0.10)] * 8
    plan += [("spike", 0.0)] * 24
    for _ in range(per_band):
        for cv in CV_BANDS:
            for kind, size in plan:
                name = f"s{len(cv_of):05d}"
                cv_of[name] = cv
                length = int(rng.integers(3, 13)) if kind == "revert" else int(rng.integers(15, 31))
                latest = ONSET_LATE if kind in ("step", "spike", "none") else NIGHTS - length - 8
                onset = int(rng.integers(ONSET_EARLY, latest))
                mult = _multiplier(kind, size, onset, length)
                level = math.exp(rng.uniform(math.log(3), math.log(300)))
                sessions = int(rng.choice([3, 5, 5]))
                bimodal = rng.random() < 0.2
                slow_mode = 1 + rng.uniform(0.05, 0.12)
                phone = phones[name] = Phone(level, mult, cv, sessions, bimodal, slow_mode)
                for night in range(NIGHTS):
                    night_effect = _night_effect(rng, cv)
                    if kind == "spike" and night == onset:
                        night_effect *= 1 + rng.uniform(0.25, 0.60)
                    rows += [(name, night, _session(rng, phone, night, night_effect))
                             for _s in range(sessions)]
                direction = "regression" if size > 0 else "improvement"
                back = "improvement" if size > 0 else "regression"
                if kind in ("step", "ramp"):
                    end = onset + (length - 1 if kind == "ramp" else 0)
                    events.append(Event(name, kind, onset, end, direction, abs(size), cv))
                elif kind == "revert":
                    events.append(Event(name, "revert-step", onset, onset, direction, abs(size), cv))
                    events.append(Event(name, "revert-back", onset + length, onset + length, back,
                                        abs(size), cv))
                elif kind == "spike":
                    spikes.append((name, onset))
    return rows, events, cv_of, spikes, phones


# -- the reference detectors -----------------------------------------------------------------------

#: treeherder's ``detect_changes`` defaults; windows count values (here: sessions), not nights
PERFHERDER_MIN_BACK, PERFHERDER_MAX_BACK, PERFHERDER_FORE, PERFHERDER_T = 12, 24, 12, 7.0


def _linear_stats(nights: Sequence[Sequence[float]]) -> tuple[float, int, float]:
    """treeherder's ``analyze`` with ``linear_weights``: the mean weighted towards the split (nights
    ordered from it), the number of values, and their variance about that mean."""
    n = len(nights)
    weights = [(n - i) / n for i in range(n)]
    total = sum(w * len(v) for w, v in zip(weights, nights, strict=True))
    mean = sum(w * sum(v) for w, v in zip(weights, nights, strict=True)) / total
    values = [x for night in nights for x in night]
    variance = sum((x - mean) ** 2 for x in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, len(values), variance


def _perfherder_t(nights: Sequence[Sequence[float]], i: int, stop: int,
                  last_seen: int) -> tuple[float, int, int]:
    """Signed t of nights[i:] (up to 12 values) against the nights before i (12..24 values, more
    nights when no change was seen lately), with the data up to ``stop``; and the two windows'
    value counts. treeherder's ``calc_t`` on its windows."""
    back: list[Sequence[float]] = []
    back_n, j = 0, i - 1
    limit = min(max(last_seen, PERFHERDER_MIN_BACK), PERFHERDER_MAX_BACK)
    while back_n < PERFHERDER_MAX_BACK and j >= 0 and i - j <= limit:
        back.append(nights[j])
        back_n += len(nights[j])
        j -= 1
    fore: list[Sequence[float]] = []
    fore_n, k = 0, i
    while fore_n < PERFHERDER_FORE and k < stop:
        fore.append(nights[k])
        fore_n += len(nights[k])
        k += 1
    if not back or not fore:
        return 0.0, back_n, fore_n
    (m1, n1, v1), (m2, n2, v2) = _linear_stats(back), _linear_stats(fore)
    if m2 == m1:
        return 0.0, back_n, fore_n
    if v1 == 0 and v2 == 0:
        return math.copysign(math.inf, m2 - m1), back_n, fore_n
    return (m2 - m1) / math.sqrt(v1 / n1 + v2 / n2), back_n, fore_n


def perfherder(series: Series) -> list[tuple[int, int, str]]:
    """(night placed, night detected, direction) from treeherder's ``detect_changes``, replayed.

    Each night is a revision whose values are its sessions. A night is a change point once its fore
    window holds 12 values, its back window at least 12, its |t| exceeds 7 and neither neighbour's
    |t| is higher; Perfherder re-runs this as data arrive and alerts on each new change point, so a
    night alerts on the first night its test passes with the data so far (the next night's t
    changes until that night's own fore window is full).
    """
    nights = [night.sessions for night in series.nights]
    count = len(nights)
    # A night's t is final once its fore window is full; the back window's length depends on how
    # long ago a t last exceeded the threshold, which only earlier (full) nights decide.
    final: list[tuple[float, int, int]] = [(0.0, 0, 0)]
    seen: list[int] = [0]
    last_seen = 0
    for i in range(1, count):
        seen.append(last_seen)
        final.append(_perfherder_t(nights, i, count, last_seen))
        last_seen = 0 if abs(final[i][0]) > PERFHERDER_T else last_seen + 1
    # the night whose data fill night i's fore window (``count``: never)
    filled = np.concatenate([[0], np.cumsum([len(night) for night in nights])])
    full_on = [int(np.searchsorted(filled, filled[i] + PERFHERDER_FORE)) - 1 for i in range(count)]
    alerts: list[tuple[int, int, str]] = []
    for i in range(1, count - 1):
        t, back_n, _ = final[i]
        if full_on[i] >= count or back_n < PERFHERDER_MIN_BACK or abs(t) <= PERFHERDER_T:
            continue
        if abs(final[i - 1][0]) > abs(t):
            continue
        for night in range(full_on[i], min(full_on[i + 1], count - 1) + 1):
            following = _perfherder_t(nights, i + 1, night + 1, seen[i + 1])[0]
            if abs(following) <= abs(t):
                alerts.append((i, night, "regression" if t > 0 else "improvement"))
                break
    return alerts


def conbench(series: Series) -> list[tuple[int, int, str]]:
    alerts: list[tuple[int, int, str]] = []
    data = np.asarray(series.values())
    for t in range(5, len(data)):
        base = data[max(0, t - 30):t]
        sd = base.std(ddof=1)
        if sd == 0:
            continue
        z = (data[t] - base.mean()) / sd
        if abs(z) >= 5.0:
            alerts.append((t, t, "regression" if z > 0 else "improvement"))
    return alerts


#: nights before the first Otava run: as many as the farm detector's shortest baseline
OTAVA_FIRST_NIGHT = 10
#: a change point within this many nights of one already reported, same direction, is that one
#: again: E-Divisive moves a change point as nights arrive
OTAVA_SAME_POINT = 3


def otava(series: Series) -> list[tuple[int, int, str]]:
    """(night placed, night detected, direction) from Apache Otava's E-Divisive (Hunter's
    split-and-merge with its defaults: 50-value windows, p <= 0.001) over the nightly values so far,
    run every night as a nightly job would run ``otava analyze``; each change point alerts once,
    on the night it first appears."""
    values = series.values()
    reported: list[tuple[int, str]] = []
    alerts: list[tuple[int, int, str]] = []
    for night in range(OTAVA_FIRST_NIGHT, len(values)):
        points, _weak = compute_change_points(values[:night + 1])
        for point in points:
            index = int(point.index)
            direction = "regression" if point.stats.forward_rel_change() > 0 else "improvement"
            if any(abs(index - seen) <= OTAVA_SAME_POINT and way == direction
                   for seen, way in reported):
                continue
            reported.append((index, direction))
            alerts.append((index, night, direction))
    return alerts


def run_reference(history: dict[str, Series],
                  method: Callable[[Series], list[tuple[int, int, str]]]) -> list[Alert]:
    out = []
    for name, series in history.items():
        nights = [int(n.night) for n in series.nights]  # type: ignore[arg-type]
        out += [Alert(name, nights[i], nights[t], d) for i, t, d in method(series)]
    return out


# -- scoring ---------------------------------------------------------------------------------------

def merge(alerts: list[Alert]) -> list[Alert]:
    kept: list[Alert] = []
    last: dict[tuple[str, str], int] = {}
    for alert in sorted(alerts, key=lambda a: (a.series, a.detected_on)):
        key = (alert.series, alert.direction)
        if key in last and alert.detected_on - last[key] <= MERGE_NIGHTS:
            continue
        last[key] = alert.detected_on
        kept.append(alert)
    return kept


def _matches(event: Event, alert: Alert) -> bool:
    if alert.series != event.series or alert.direction != event.direction:
        return False
    return event.onset - MATCH_BEFORE <= alert.night <= event.end + MATCH_AFTER


def _near(event: Event, alert: Alert) -> bool:
    """A false alert within ``NEAR_CHANGE_NIGHTS`` of a change of its series and direction."""
    return (alert.direction == event.direction
            and event.onset - NEAR_CHANGE_NIGHTS <= alert.night <= event.end + NEAR_CHANGE_NIGHTS)


def score(alerts: list[Alert], events: list[Event], cv_of: dict[str, float],
          spikes: list[tuple[str, int]]) -> dict[str, object]:
    alerts = merge(alerts)
    by_series: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_series[event.series].append(event)
    true_alerts: dict[float, int] = defaultdict(int)
    false_alerts: dict[float, int] = defaultdict(int)
    first: dict[Event, Alert] = {}
    near_a_change = 0
    for alert in alerts:
        hits = [e for e in by_series.get(alert.series, []) if _matches(e, alert)]
        if hits:
            true_alerts[cv_of[alert.series]] += 1
            for event in hits:
                if event not in first or alert.detected_on < first[event].detected_on:
                    first[event] = alert
        else:
            false_alerts[cv_of[alert.series]] += 1
            near_a_change += any(_near(e, alert) for e in by_series.get(alert.series, []))
    series_per_band: dict[float, int] = defaultdict(int)
    for cv in cv_of.values():
        series_per_band[cv] += 1
    bands = {}
    for cv in CV_BANDS:
        total = true_alerts[cv] + false_alerts[cv]
        series_nights = series_per_band[cv] * NIGHTS
        bands[f"{cv:.0%}"] = {
            "alerts": total, "false_alerts": false_alerts[cv],
            "precision": round(true_alerts[cv] / total, 4) if total else None,
            "false_per_1000_series_nights": round(1000 * false_alerts[cv] / series_nights, 3),
        }
    recall: dict[str, dict[str, object]] = {}
    groups: dict[tuple[str, float, float], list[Event]] = defaultdict(list)
    for event in events:
        groups[(event.kind, event.size, event.cv)].append(event)
    for (kind, size, cv), group in sorted(groups.items()):
        found = [first[e] for e in group if e in first]
        delays = [a.detected_on - e.onset for e in group if e in first for a in [first[e]]]
        placement = [a.night - e.onset for e in group if e in first for a in [first[e]]]
        recall[f"{kind} {size:.0%} @cv {cv:.0%}"] = {
            "events": len(group), "recall": round(len(found) / len(group), 4),
            "recall_within_3_nights": round(sum(d <= 2 for d in delays) / len(group), 4),
            "recall_within_4_nights": round(sum(d <= 3 for d in delays) / len(group), 4),
            "detection_delay_nights": _distribution(delays),
            "placement_offset_nights": _distribution(placement),
        }
    spike_alerts = sum(1 for a in alerts for name, night in spikes
                       if a.series == name and night - MATCH_BEFORE <= a.night <= night + MATCH_AFTER)
    total_true, total_false = sum(true_alerts.values()), sum(false_alerts.values())
    return {
        "alerts": total_true + total_false, "false_alerts": total_false,
        "precision": round(total_true / (total_true + total_false), 4) if alerts else None,
        "false_per_1000_series_nights": round(1000 * total_false / (len(cv_of) * NIGHTS), 3),
        "false_alerts_near_a_change": near_a_change,
        "alerts_at_lone_spikes": spike_alerts,
        "per_cv_band": bands, "recall": recall,
    }


def _distribution(values: Sequence[int]) -> dict[str, float] | None:
    if not values:
        return None
    arr = np.asarray(values)
    return {"median": float(np.median(arr)), "p90": float(np.quantile(arr, 0.9)),
            "min": int(arr.min()), "max": int(arr.max())}


def _recall_where(result: dict[str, object], kinds: tuple[str, ...], size: float,
                  max_cv: float, key: str) -> float:
    rows = result["recall"]
    assert isinstance(rows, dict)
    hits = total = 0
    for label, row in rows.items():
        kind, size_text, _, cv_text = label.split(" ")
        if kind in kinds and size_text == f"{size:.0%}" and float(cv_text[:-1]) / 100 <= max_cv + 1e-9:
            hits += round(row[key] * row["events"])
            total += row["events"]
    return round(hits / total, 4) if total else float("nan")


def targets(result: dict[str, object]) -> dict[str, dict[str, object]]:
    precision = result["precision"]
    bands = result["per_cv_band"]
    assert isinstance(bands, dict)
    min_band_precision = min((b["precision"] for b in bands.values() if b["precision"] is not None),
                             default=None)
    r10 = _recall_where(result, ("step",), 0.10, 0.05, "recall_within_3_nights")
    r5 = _recall_where(result, ("step",), 0.05, 0.03, "recall")
    fa = result["false_per_1000_series_nights"]
    assert isinstance(fa, float) and isinstance(precision, float | None)
    return {
        "precision >= 0.95 (overall)": {"value": precision, "met": precision is not None
                                        and precision >= 0.95},
        "precision >= 0.95 (worst CV band)": {"value": min_band_precision,
                                              "met": min_band_precision is not None
                                              and min_band_precision >= 0.95},
        "recall >= 0.95, 10% steps within 3 nights, CV <= 5%": {"value": r10, "met": r10 >= 0.95},
        "recall >= 0.80, 5% steps, CV <= 3%": {"value": r5, "met": r5 >= 0.80},
        "<= 1 false alert per 1000 series-nights": {"value": fa, "met": fa <= 1.0},
    }


def fourth_night_recall(result: dict[str, object]) -> float:
    """10% steps at CV <= 5% found by their fourth night: not a target, but how far the target's
    misses are from it."""
    return _recall_where(result, ("step",), 0.10, 0.05, "recall_within_4_nights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--per-band", type=int, default=1, help="repetitions of the per-band plan")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true",
                        help="tuning: only the farm detector with re-runs, print its targets, write nothing")
    args = parser.parse_args()

    rows, events, cv_of, spikes, phones = generate(args.seed, args.per_band)
    history = build_series(rows)
    params = DetectorParams()
    results: dict[str, object] = {}
    timings: dict[str, float] = {}
    rerun = Rerunner(phones, args.seed)
    farms: list[tuple[str, Rerunner | None]] = [("farm", rerun), ("farm_offline", None)]
    for name, confirmer in farms[:1] if args.quick else farms:
        started = time.perf_counter()
        found = [Alert(d.series, int(d.night), int(d.detected_on), d.direction)  # type: ignore[arg-type]
                 for d in detect_history(history, params, confirmer)]
        timings[name] = time.perf_counter() - started
        results[name] = score(found, events, cv_of, spikes)
    if args.quick:
        print(json.dumps({"reruns": rerun.calls, "second_rounds": rerun.second_rounds,
                          "targets": targets(results["farm"])}, indent=1))  # type: ignore[arg-type]
        return
    for name, method in (("perfherder_ttest", perfherder), ("conbench_zscore", conbench),
                         ("otava_edivisive", otava)):
        started = time.perf_counter()
        alerts = run_reference(history, method)
        timings[name] = time.perf_counter() - started
        results[name] = score(alerts, events, cv_of, spikes)
    report = {
        "version": 1,
        "seed": args.seed,
        "series": len(cv_of), "nights": NIGHTS, "series_nights": len(cv_of) * NIGHTS,
        "events": len(events), "lone_spikes": len(spikes),
        "detector_params": params.__dict__,
        "confirmation_reruns": {"farm": f"{rerun.calls} simulated same-night re-runs of "
                                f"{rerun.batches} batches of {rerun.sessions} sessions, each with "
                                f"{rerun.sessions} of a reference series ({rerun.second_rounds} of "
                                "them second rounds of an inconclusive first)",
                                "farm_offline": "none: the next night stands in (farm regressions "
                                "detect)"},
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "targets": {name: targets(result) for name, result in results.items()},  # type: ignore[arg-type]
        "recall_10pct_steps_by_fourth_night": {name: fourth_night_recall(result)
                                               for name, result in results.items()},
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "regression_validation.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "regression_validation.md").write_text(summary_markdown(report))
    print(summary_markdown(report))


def summary_markdown(report: dict[str, object]) -> str:
    results = report["results"]
    target_rows = report["targets"]
    assert isinstance(results, dict) and isinstance(target_rows, dict)
    methods = list(results)
    lines = [
        "# Regression detector validation",
        "",
        f"Synthetic data (seed {report['seed']}): {report['series']} series x {report['nights']} nights "
        f"({report['series_nights']} series-nights), {report['events']} injected changes, "
        f"{report['lone_spikes']} lone spikes. Generated by `benchmarks/regression_validation.py`; "
        "the detector was tuned on other seeds (7, 11, 13 and 17). `farm` confirms suspects with a "
        "simulated same-night re-run (3 batches of 5 fresh sessions from the generator at the series' "
        "level that night, each with its own batch effect and hot spells, interleaved with 5 sessions "
        "of a reference series on the same phone that shares the hot spell and half the batch "
        "effect's variance; 3 batches more when the first 3 were inconclusive), as `farm nightly` "
        "does on devices; "
        "`farm_offline` has no re-runs and waits for the next night, as `farm regressions detect` does.",
        "",
        "## Targets",
        "",
        "| target | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for target in target_rows[methods[0]]:
        cells = []
        for method in methods:
            row = target_rows[method][target]
            cells.append(f"{row['value']} {'met' if row['met'] else '**not met**'}")
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    fourth = report["recall_10pct_steps_by_fourth_night"]
    assert isinstance(fourth, dict)
    lines += ["", "Not a target: 10% steps at CV <= 5% found by their fourth night (the target counts "
              "the first three, the night of the step and the two after it): "
              + ", ".join(f"{m} {fourth[m]}" for m in methods) + ".",
              "", "## Precision and false alerts per CV band", "",
              "| CV | " + " | ".join(f"{m} precision (false / alerts)" for m in methods) + " |",
              "|---|" + "---|" * len(methods)]
    for band in results[methods[0]]["per_cv_band"]:
        cells = [f"{results[m]['per_cv_band'][band]['precision']} "
                 f"({results[m]['per_cv_band'][band]['false_alerts']} / "
                 f"{results[m]['per_cv_band'][band]['alerts']})" for m in methods]
        lines.append(f"| {band} | " + " | ".join(cells) + " |")
    lines += ["", "## Recall (within 3 nights) and median detection delay", "",
              "| change | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for label in results[methods[0]]["recall"]:
        cells = []
        for m in methods:
            row = results[m]["recall"][label]
            delay = row["detection_delay_nights"]
            cells.append(f"{row['recall']:.2f} ({row['recall_within_3_nights']:.2f})"
                         + (f", {delay['median']:.0f}n" if delay else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"False alerts within {NEAR_CHANGE_NIGHTS} nights of an injected change of the same "
              "series and direction (that change placed outside its match window, or alerted twice; "
              "not chance alarms): " + ", ".join(
                  f"{m} {results[m]['false_alerts_near_a_change']} of {results[m]['false_alerts']}"
                  for m in methods) + "."]
    lines += ["", "Alerts at lone spikes: " + ", ".join(
        f"{m} {results[m]['alerts_at_lone_spikes']}" for m in methods), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

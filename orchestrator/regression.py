"""Regression detection: the nightly screen, confirmation, and the change-point pass.

Plain functions with explicit parameters (``DetectorParams``); no database, no devices. Latency is
the measure, so "up" is a regression and "down" an improvement.

The pipeline, for every series measured on a night ``t`` (its nights since the last accepted change
point form the *segment*):

1. warming up until the segment holds ``min_baseline_nights`` nights before the recent window;
   too noisy to gate when the segment's robust CV (its last ``noise_nights`` nights before the
   window) exceeds ``noise_limit`` (still recorded);
2. screen: the sessions of each window of the last 3..8 nights against the sessions of the nights
   before it, a one-sided Mann-Whitney U test in the direction of the shift (Bonferroni over the
   windows; one night gone the other way by more than the shift left out) plus a minimum effect:
   the shift (the smaller of the sessions' Hodges-Lehmann shift and the nightly medians' shift, see
   ``window_change``) must reach ``suspect_fraction`` of an effect gate of ``noise_mult`` times
   that robust CV, more for a short baseline or few noise nights, less for longer windows;
   Benjamini-Hochberg across every series tested that night. Fast path: when the last two nights
   both jumped by a gross amount, they are tested on their own;
3. drift: when the segment's recent level has moved by the minimum effect but the screen did not
   fire, Apache Otava's E-Divisive (Hunter variant) over the segment places a change point; one whose
   new level has held ``min_level_nights`` nights becomes a suspect too;
4. confirmation (``confirm``): fresh sessions (a re-run on the same device in batches apart in
   time, optionally with a reference series interleaved to cancel device-wide drift) must show the
   change again, and with the window's change clear ``pooled_fraction`` of its gate; a re-run
   that went the suspect's way but not far enough is measured once more in as many batches and
   judged on all of them; only a confirmed suspect becomes an alert, and its onset resets the
   series' baseline.

``detect_history`` replays this night by night over a stored history. Given a ``rerun`` (a function
that measures a series again on a night: a device, or a simulator of one) it confirms suspects that
same night, as the nightly does; without one (``farm regressions detect``) the next night's sessions
stand in for the re-run: the same evidence, one night later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from orchestrator.errors import ToolError
from orchestrator.series import NightKey, Series
from orchestrator.stats import (
    best_split,
    fdr_adjust,
    hl_change,
    median,
    noise_estimate_factor,
    one_sided_pvalue,
    relative_change,
    robust_cv,
    spread_cv,
)

__all__ = [
    "Confirmation",
    "Detection",
    "DetectorParams",
    "Remeasurement",
    "Rerun",
    "Screen",
    "Suspect",
    "confirm",
    "detect_history",
    "detection_from",
    "drift_suspect",
    "place_onset",
    "relocate",
    "screen_night",
    "screen_series",
    "settle",
    "window_change",
]

Direction = Literal["up", "down"]
Stage = Literal["screen", "fast", "drift"]


@dataclass(frozen=True)
class Remeasurement:
    """A suspect measured again: its fresh sessions in batches apart in time (a batch's sessions
    share the phone's state of the moment), and a reference series' fresh median over its baseline
    median when a reference was interleaved on the same device (see ``confirm``)."""

    batches: Sequence[Sequence[float]]
    reference_ratio: float | None = None

    @property
    def sessions(self) -> list[float]:
        """All fresh sessions, batch after batch."""
        return [value for batch in self.batches for value in batch]

    def extended(self, more: Remeasurement) -> Remeasurement:
        """This re-run and ``more`` batches of the same night: the reference ratio is the two
        ratios' geometric mean weighted by batches, or None unless both have one."""
        ratio = None
        if self.reference_ratio is not None and more.reference_ratio is not None:
            ratio = float(np.exp(np.average(np.log([self.reference_ratio, more.reference_ratio]),
                                            weights=[len(self.batches), len(more.batches)])))
        return Remeasurement([*self.batches, *more.batches], ratio)


#: a series measured again on the night with the given index
Rerun = Callable[[str, int], Remeasurement]


@dataclass(frozen=True)
class DetectorParams:
    #: a series is "warming up" until its segment holds this many nights before the shortest window:
    #: a noise estimate from five nights is a guess (most early false alerts of the validation came
    #: from baselines of 5..10 nights)
    min_baseline_nights: int = 10
    max_baseline_nights: int = 30
    #: the noise (the effect gate's unit) is the robust CV of up to this many nights of the segment,
    #: more than the baseline level needs: in the validation's noise model a tenth of the estimates
    #: from 20 nights are under 65% of the true spread, from 60 under 80%, and most false alerts
    #: came from such an underestimate
    noise_nights: int = 60
    #: the screen tests every window of the last ``min_window_nights``..``window_nights`` nights, so
    #: a clear step alerts within three nights and a small one once enough nights have piled up
    min_window_nights: int = 3
    window_nights: int = 8
    #: target false-discovery rate across the series tested on one night
    fdr: float = 0.05
    #: never suspect a change smaller than this, however quiet the series
    min_effect: float = 0.02
    #: a change must exceed this many times the noise (for a 3-night window) ...
    noise_mult: float = 2.0
    #: ... times (3 / window nights) to this power: longer windows average more nights, but nights
    #: are not independent draws (heat, background load), so the gate falls slower than 1/sqrt(n)
    window_gate_power: float = 0.25
    #: fast path: the last two nights each moved by at least this much ...
    gross_effect: float = 0.15
    #: ... and by at least this many times the baseline's robust CV
    gross_noise_mult: float = 6.0
    confirm_alpha: float = 0.01
    #: a re-run that falls short of confirming but went the suspect's way by this many times the
    #: noise (three quarters of the noise gate) is inconclusive: measured once more in as many
    #: batches, then judged on all of them
    inconclusive_noise_mult: float = 1.5
    #: a confirmation must show at least this fraction of the suspect's effect gate and change ...
    confirm_fraction: float = 0.5
    #: ... and this many times the series' nightly spread (for three batches, scaled by batches as
    #: the screen's gate by nights): a batch's sessions share the phone's state of the moment, so
    #: their p-value alone overstates the evidence
    confirm_noise_mult: float = 2.0
    #: once placed on its first night, a confirmed change must still be this fraction of its gate
    settle_fraction: float = 0.75
    #: robust CV above which a series is "too noisy to gate"
    noise_limit: float = 0.10
    changepoint_pvalue: float = 0.001
    changepoint_window: int = 30
    #: a drift change point counts once its new level has held this many nights
    min_level_nights: int = 3
    #: a screened change is placed within this many nights before the night that found it
    onset_search_nights: int = 10
    #: ... at the latest night whose two-level fit is within this many nights' noise of the best
    onset_tolerance: float = 1.0
    #: the effect gate grows by this many over the baseline's night count: the level of a few nights
    #: is uncertain too (the gate of a 10-night baseline is 20% higher, of a 30-night one 7%)
    small_baseline: float = 2.0
    #: ... and by the ratio of Student t quantiles at this level for the degrees of freedom of a
    #: robust CV of the noise nights and of a full ``noise_nights``: the noise of a young segment is
    #: a guess, and most false alerts came from such guesses, far too low (x1.73 for 10 nights, x1.22
    #: for 20, x1.10 for 30, x1 for 60)
    noise_quantile: float = 0.995
    #: the rank test leaves out the window's one night that went against the shift by more than this
    #: many times the shift (from the window's median night): a phone's hot night inside a faster
    #: level puts a third of a 3-night window's sessions on the wrong side, and the effect itself
    #: (``window_change``) already sees through one such night
    contrary_night: float = 1.0
    #: a drift change point needs this many nights of its segment before it
    drift_baseline_nights: int = 10
    #: the window screen makes a suspect of a change from this fraction of its effect gate (never
    #: under ``min_effect``): the re-run adds about as much evidence again (three batches to the
    #: window's three nights; without re-runs ``detect_history`` takes 1) ...
    suspect_fraction: float = 0.8
    #: ... and the confirmation then needs the mean of the window's change and the re-run's to
    #: reach this fraction of the gate (see ``confirm``)
    pooled_fraction: float = 0.85


@dataclass(frozen=True)
class Screen:
    series: str
    night: NightKey
    status: Literal["warming_up", "too_noisy", "tested"]
    stage: Stage = "screen"
    direction: Direction = "up"
    p_value: float = 1.0
    change: float = 0.0
    gate: float = 0.0
    noise: float = 0.0
    onset: int = 0
    baseline: slice = field(default_factory=lambda: slice(0, 0))
    #: the change that makes a suspect: the gate, or a fraction of it (``suspect_fraction``)
    bar: float = 0.0

    @property
    def passes_effect(self) -> bool:
        return self.status == "tested" and abs(self.change) >= self.bar


@dataclass(frozen=True)
class Suspect:
    """A screened change awaiting confirmation. Indices point into the series' nights."""

    series: str
    night: NightKey
    stage: Stage
    direction: Direction
    onset: int
    baseline: slice
    change: float
    gate: float
    p_value: float
    noise: float


@dataclass(frozen=True)
class Confirmation:
    confirmed: bool
    change: float
    p_value: float
    reference_ratio: float | None = None
    #: not confirmed, yet the change went the suspect's way by ``inconclusive_noise_mult`` times
    #: the noise: more batches can settle it
    inconclusive: bool = False


@dataclass(frozen=True)
class Detection:
    series: str
    night: NightKey  # first night of the new level
    detected_on: NightKey  # night whose data confirmed it
    direction: Literal["regression", "improvement"]
    change_pct: float
    p_value: float
    stage: Stage
    baseline_median: float
    new_median: float
    baseline_nights: tuple[NightKey, NightKey]

    def to_json(self) -> dict[str, object]:
        night = self.night if isinstance(self.night, int) else self.night.isoformat()
        return {"series": self.series, "night": night, "direction": self.direction,
                "change_pct": round(self.change_pct, 3)}


def _change_points(values: Sequence[float], params: DetectorParams, min_magnitude: float) -> list[Any]:
    """Apache Otava's E-Divisive change points (Hunter's split-and-merge) of a value sequence."""
    try:
        # Lazy (heavy, optional): apache-otava is installed apart (--no-deps, see pyproject.toml)
        # and takes a second to import; only the change-point pass needs it.
        from otava.analysis import compute_change_points
    except ImportError as exc:
        raise ToolError("apache-otava is not installed; the change-point pass needs it",
                        hint='pip install --no-deps "apache-otava>=0.8,<0.9" (see pyproject.toml)'
                        ) from exc
    points, _weak = compute_change_points(list(values), window_len=params.changepoint_window,
                                          max_pvalue=params.changepoint_pvalue,
                                          min_magnitude=min_magnitude)
    return list(points)


def _direction(change: float) -> Direction:
    return "up" if change > 0 else "down"


def _onset(values: Sequence[float], start: int, stop: int, level: float, change: float) -> int:
    """First night of the window already half-way to the new level."""
    for index in range(start, stop):
        if (values[index] / level - 1.0) * np.sign(change) >= abs(change) / 2:
            return index
    return start


def window_change(window: Sequence[float], base: Sequence[float], window_nights: Sequence[float],
                   base_nights: Sequence[float]) -> float:
    """The window's shift against its baseline, as the smaller of two estimates (0 if they disagree).

    The Hodges-Lehmann shift of the sessions sees through a bimodal device's slow mode (both sides
    mix the modes alike) but one hot night moves it; the shift of the nightly medians ignores one
    hot night in three but jumps when two nights land in the slow mode. A real step moves both.
    """
    by_session = hl_change(window, base)
    by_night = relative_change(window_nights, base_nights)
    if (by_session > 0) != (by_night > 0):
        return 0.0
    return min(by_session, by_night, key=abs)


def _without_contrary_night(series: Series, start: int, window_values: Sequence[float],
                            level: float, change: float, params: DetectorParams) -> list[float]:
    """The sessions of the window starting at night ``start`` (nightly values ``window_values``)
    for the rank test, less the one night that went against ``change`` by more than
    ``contrary_night`` times it, from the window's median night."""
    shifts = [value / level - 1.0 for value in window_values]
    sign = 1.0 if change > 0 else -1.0
    kept = list(range(len(shifts)))
    worst = min(kept, key=lambda i: sign * shifts[i])
    middle = median(shifts)
    if len(shifts) >= 3 and sign * (shifts[worst] - middle) <= -params.contrary_night * abs(change):
        kept.remove(worst)
    return [value for i in kept for value in series.nights[start + i].sessions]


def _noise_nights(segment_start: int, stop: int, params: DetectorParams) -> slice:
    """The nights a baseline ending before ``stop`` takes its noise from."""
    return slice(max(segment_start, stop - params.noise_nights), stop)


def screen_series(series: Series, segment_start: int, t: int, params: DetectorParams) -> Screen:
    """Screen night ``t`` of a series whose current segment starts at ``segment_start``."""
    night = series.nights[t].night
    values = series.values()
    shortest = params.min_window_nights
    first_base = slice(max(segment_start, t + 1 - shortest - params.max_baseline_nights),
                       t + 1 - shortest)
    if first_base.stop - first_base.start < params.min_baseline_nights:
        return Screen(series.name, night, "warming_up")
    first_noise = robust_cv(values[_noise_nights(segment_start, first_base.stop, params)])
    if first_noise > params.noise_limit:
        return Screen(series.name, night, "too_noisy", noise=first_noise)

    # Fast path: the last two nights both moved by a gross amount. One night alone is not enough:
    # a phone that ran hot does that, and its re-run may run hot too.
    fast_base = slice(max(segment_start, t - 1 - params.max_baseline_nights), t - 1)
    if fast_base.stop - fast_base.start >= params.min_baseline_nights:
        fast_level = median(values[fast_base])
        fast_noise = robust_cv(values[fast_base])
        gross = max(params.gross_effect, params.gross_noise_mult * fast_noise)
        moved = [values[night] / fast_level - 1.0 for night in (t - 1, t)]
        if min(abs(m) for m in moved) >= gross and (moved[0] > 0) == (moved[1] > 0):
            direction = _direction(moved[1])
            last_two, fast_sessions = series.sessions(slice(t - 1, t + 1)), series.sessions(fast_base)
            change = hl_change(last_two, fast_sessions)
            p = one_sided_pvalue(last_two, fast_sessions, direction)
            return Screen(series.name, night, "tested", "fast", direction, p, change, gross,
                          fast_noise, t - 1, fast_base, gross)

    best: Screen | None = None
    tested = 0
    for nights in range(shortest, params.window_nights + 1):
        start = t + 1 - nights
        base = slice(max(segment_start, start - params.max_baseline_nights), start)
        if base.stop - base.start < params.min_baseline_nights:
            break
        tested += 1
        base_values, window_values = values[base], values[start:t + 1]
        level = median(base_values)
        noise_nights = _noise_nights(segment_start, start, params)
        noise = robust_cv(values[noise_nights])
        base_sessions = series.sessions(base)
        window = series.sessions(slice(start, t + 1))
        change = window_change(window, base_sessions, window_values, base_values)
        direction = _direction(change)
        inflate = (1.0 + params.small_baseline / (base.stop - base.start)) * noise_estimate_factor(
            noise_nights.stop - noise_nights.start, params.noise_nights, params.noise_quantile)
        scale = (params.min_window_nights / nights) ** params.window_gate_power
        gate = max(params.min_effect, params.noise_mult * noise * inflate * scale)
        bar = max(params.min_effect, params.suspect_fraction * gate)
        # Below the bar the series cannot become a suspect whatever its p-value; it still counts in
        # the night's FDR family, with p = 1, which only makes the adjustment more conservative.
        p = 1.0 if abs(change) < bar else one_sided_pvalue(
            _without_contrary_night(series, start, window_values, level, change, params),
            base_sessions, direction)
        onset = _onset(values, start, t + 1, level, change)
        screen = Screen(series.name, night, "tested", "screen", direction, p, change, gate, noise,
                        onset, base, bar)
        if best is None or screen.passes_effect and (not best.passes_effect or p < best.p_value):
            best = screen
    assert best is not None
    return replace(best, p_value=min(1.0, best.p_value * tested))


def drift_suspect(series: Series, segment_start: int, t: int, params: DetectorParams) -> Suspect | None:
    """A slow change the window screen cannot see: E-Divisive over the segment, if it has moved."""
    values = series.values()[segment_start:t + 1]
    need = params.min_baseline_nights + params.min_level_nights
    if len(values) < need:
        return None
    head = values[:params.min_baseline_nights]
    moved = median(values[-params.window_nights:]) / median(head) - 1.0
    if abs(moved) < params.min_effect:
        return None
    noise = spread_cv(head)
    gate = max(params.min_effect, params.noise_mult * noise)
    if abs(moved) < gate or robust_cv(head) > params.noise_limit:
        return None
    points = _change_points(values, params, params.min_effect)
    best: Suspect | None = None
    for point in points:
        index = int(point.index)
        if index < params.drift_baseline_nights or len(values) - index < params.min_level_nights:
            continue
        before = values[max(0, index - params.max_baseline_nights):index]
        change = median(values[index:]) / median(before) - 1.0
        # The gate from all the nights before the change, not the segment's first few: five nights
        # say little about a series' spread, and a drift is a small change by nature.
        noise = max(noise, spread_cv(before))
        gate = max(params.min_effect, params.noise_mult * noise)
        if abs(change) < gate or (change > 0) != (moved > 0):
            continue
        if best is None or abs(change) > abs(best.change):
            base = slice(segment_start + max(0, index - params.max_baseline_nights),
                         segment_start + index)
            best = Suspect(series.name, series.nights[t].night, "drift", _direction(change),
                           segment_start + index, base, change, gate, float(point.stats.pvalue), noise)
    return best


def screen_night(screens: Sequence[Screen], params: DetectorParams) -> list[Suspect]:
    """Suspects among one night's screens: FDR-adjusted p-value under target and effect over gate."""
    tested = [screen for screen in screens if screen.status == "tested"]
    adjusted = fdr_adjust([screen.p_value for screen in tested])
    return [
        Suspect(s.series, s.night, s.stage, s.direction, s.onset, s.baseline, s.change, s.gate, q,
                s.noise)
        for s, q in zip(tested, adjusted, strict=True)
        if q <= params.fdr and s.passes_effect
    ]


def confirm(suspect: Suspect, batches: Sequence[Sequence[float]], series: Series,
            params: DetectorParams, reference_ratio: float | None = None) -> Confirmation:
    """Do fresh sessions, in ``batches`` apart in time, show the suspected change again?

    A batch is one draw of the phone's state, as a night is, so the change is read as the screen
    reads a window (``window_change``: the smaller of the sessions' shift and the batches' medians'
    shift, against the sessions and the nightly values of the suspect's baseline in ``series``).
    On the validation's series with no change, a re-run's change so read reached twice the noise
    about half as often as the sessions' shift alone, while 10% steps at CV <= 5% reached it as
    often (``benchmarks/regression_validation.py``: a quarter fewer false alerts on four tuning
    seeds, at the same recall).

    ``reference_ratio`` is a reference series' fresh median over its own baseline median, measured
    interleaved with the suspect on the same device. When the reference moved the suspect's way by
    the confirmation's noise gate, the whole device moved (heat, a background job) and dividing by
    the ratio cancels it. Otherwise the ratio is left out: a reference median of a few sessions is
    as noisy as the suspect's, and dividing by it every time adds about as much noise as it takes
    away (``benchmarks/regression_validation.py``: dividing always let nearly 40% more false alerts
    through, at the same recall).

    A re-run that falls short yet went the suspect's way by ``inconclusive_noise_mult`` times the
    noise is ``inconclusive``, and more batches can settle it. On the validation's four tuning
    seeds, 8 of the 18 misses of 10% steps at CV 5% had a re-run fail within three nights, most
    a little under the gate or with a p-value that one hot batch spoiled; measuring inconclusive
    re-runs again found 4 more of those seeds' 384 10% steps at CV <= 5% within three nights, for
    2 more false alerts a seed and 2% more re-runs.
    """
    sign = 1.0 if suspect.direction == "up" else -1.0
    ratio = reference_ratio or 1.0
    scale = ratio if (ratio - 1.0) * sign >= params.confirm_noise_mult * suspect.noise else 1.0
    adjusted = [[value / scale for value in batch] for batch in batches if batch]
    baseline_sessions = series.sessions(suspect.baseline)
    if not adjusted or not baseline_sessions:
        return Confirmation(False, 0.0, 1.0, reference_ratio)
    fresh = [value for batch in adjusted for value in batch]
    change = window_change(fresh, baseline_sessions, [median(b) for b in adjusted],
                           series.values()[suspect.baseline])
    p = one_sided_pvalue(fresh, baseline_sessions, suspect.direction)
    same_way = (change > 0) == (suspect.direction == "up")
    # Batches are read as nights, so the noise gate scales with their number as the screen's gate
    # with a window's: the same for three, higher for the one night that stands in offline, lower
    # for the six of an inconclusive re-run measured again.
    batch_scale = (params.min_window_nights / len(adjusted)) ** params.window_gate_power
    big_enough = abs(change) >= max(params.min_effect,
                                    params.confirm_fraction * max(suspect.gate, abs(suspect.change)),
                                    params.confirm_noise_mult * suspect.noise * batch_scale)
    # A window suspect may have come in under its gate (``suspect_fraction``): the window and the
    # re-run together must clear most of it.
    together = suspect.stage != "screen" or (
        sign * (suspect.change + change) / 2 >= params.pooled_fraction * suspect.gate)
    confirmed = same_way and big_enough and together and p <= params.confirm_alpha
    inconclusive = not confirmed and sign * change >= params.inconclusive_noise_mult * suspect.noise
    return Confirmation(confirmed, change, p, reference_ratio, inconclusive)


def place_onset(series: Series, segment_start: int, t: int, suspect: Suspect,
                params: DetectorParams) -> int:
    """The night the new level began.

    A window or fast-path suspect: the best two-level split (``stats.best_split``) of the segment,
    searched over the last ``onset_search_nights`` nights, so a change the screen found a few nights
    late is still placed on its first night. A drift: Otava's change point nearest the drift's own.
    """
    values = series.values()[segment_start:t + 1]
    if len(values) < params.min_baseline_nights + 2:
        return suspect.onset
    if suspect.stage != "drift":
        first = max(params.min_baseline_nights, len(values) - params.onset_search_nights)
        tolerance = params.onset_tolerance * suspect.noise * median(values[:first])
        return segment_start + best_split(values, first, len(values) - 1, tolerance)
    points = _change_points(values, params, 0.0)
    candidates = [segment_start + int(p.index) for p in points
                  if (p.stats.forward_rel_change() > 0) == (suspect.direction == "up")
                  and int(p.index) >= params.min_baseline_nights]
    if not candidates:
        return suspect.onset
    return min(candidates, key=lambda index: (abs(index - suspect.onset), -index))


def settle(series: Series, segment_start: int, t: int, suspect: Suspect, confirmation: Confirmation,
           params: DetectorParams) -> Suspect | None:
    """A confirmed suspect placed on its first night (``place_onset``), or None when, so placed, it
    is not a new level: the nights since the onset no longer differ from the baseline by
    ``settle_fraction`` of the effect gate (a few odd nights), or the confirmation shows less than
    ``confirm_fraction`` of their change (the placement landed on one hot night that the re-run did
    not repeat). ``series`` ends with night ``t``."""
    suspect = relocate(suspect, place_onset(series, segment_start, t, suspect, params), params)
    change = hl_change(series.sessions(slice(suspect.onset, t + 1)), series.sessions(suspect.baseline))
    if (change > 0) != (suspect.direction == "up") or abs(change) < max(
            params.min_effect, params.settle_fraction * suspect.gate):
        return None
    if abs(confirmation.change) < params.confirm_fraction * abs(change):
        return None
    return suspect


def detection_from(series: Series, suspect: Suspect, detected_on: NightKey,
                   confirmation: Confirmation) -> Detection:
    """The alert-to-be of a confirmed suspect; ``series`` ends with the confirming night."""
    base_values = series.values()[suspect.baseline]
    new_values = series.values()[suspect.onset:]
    end = suspect.baseline.stop - 1
    return Detection(
        series=series.name, night=series.nights[suspect.onset].night, detected_on=detected_on,
        direction="regression" if suspect.direction == "up" else "improvement",
        change_pct=100.0 * (median(new_values) / median(base_values) - 1.0),
        p_value=max(suspect.p_value, confirmation.p_value),
        stage=suspect.stage, baseline_median=median(base_values),
        new_median=median(new_values),
        baseline_nights=(series.nights[suspect.baseline.start].night, series.nights[end].night),
    )


def relocate(suspect: Suspect, onset: int, params: DetectorParams) -> Suspect:
    """The suspect moved to ``onset``, its baseline ending there (unchanged if too short)."""
    base = slice(max(suspect.baseline.start, onset - params.max_baseline_nights), onset)
    if base.stop - base.start < params.min_baseline_nights or onset == suspect.onset:
        return suspect
    return replace(suspect, onset=onset, baseline=base)


def detect_history(history: Mapping[str, Series], params: DetectorParams,
                   rerun: Rerun | None = None) -> list[Detection]:
    """Replay screen, drift and confirmation over whole histories, night by night.

    With ``rerun``, a suspect is confirmed on its own night by fresh sessions, as the nightly does
    (an inconclusive re-run is measured once more, ``rerun`` called again).
    Otherwise the next night's sessions stand in for the re-run and must show the change again on
    their own (``confirm``), one night later. The next night is one draw of the phone's state where
    a re-run has several batches, so there a window must clear its whole gate to be suspected
    (``suspect_fraction`` is taken as 1), and the one night's noise gate is that of one batch: at
    0.8, ``benchmarks/regression_validation.py``'s offline detector raised half as many false alerts
    again (98 against 67 on its held-out seed, 1.13 per 1,000 series-nights, over the target of 1),
    for 2 more of its 96 10% steps found within three nights; with the one-batch gate, 84 against
    43 on tuning seed 7, for 1 more.
    """
    if rerun is None:
        params = replace(params, suspect_fraction=1.0)
    nights = sorted({night.night for series in history.values() for night in series.nights})
    index = {name: {night.night: i for i, night in enumerate(s.nights)} for name, s in history.items()}
    segment = dict.fromkeys(history, 0)
    pending: dict[str, Suspect] = {}
    detections: list[Detection] = []

    def accept(series: Series, t: int, suspect: Suspect, result: Confirmation) -> None:
        trimmed = Series(series.name, series.nights[:t + 1], series.key)
        settled = settle(trimmed, segment[series.name], t, suspect, result, params)
        if settled is None:
            return
        suspect = settled
        detections.append(detection_from(trimmed, suspect, series.nights[t].night, result))
        segment[series.name] = suspect.onset

    for night in nights:
        screens: list[Screen] = []
        for name, series in history.items():
            t = index[name].get(night)
            if t is None:
                continue
            if name in pending:
                suspect = pending.pop(name)
                result = confirm(suspect, [series.nights[t].sessions], series, params)
                if result.confirmed:
                    accept(series, t, suspect, result)
                    continue
            screens.append(screen_series(series, segment[name], t, params))
        suspects = {s.series: s for s in screen_night(screens, params)}
        for screen in screens:
            if screen.status != "tested" or screen.series in suspects:
                continue
            series = history[screen.series]
            drift = drift_suspect(series, segment[screen.series], index[screen.series][night], params)
            if drift is not None:
                suspects[screen.series] = drift
        for name, suspect in suspects.items():
            if rerun is None:
                pending[name] = suspect
                continue
            series, t = history[name], index[name][night]
            fresh = rerun(name, t)
            result = confirm(suspect, fresh.batches, series, params, fresh.reference_ratio)
            if result.inconclusive:
                fresh = fresh.extended(rerun(name, t))
                result = confirm(suspect, fresh.batches, series, params, fresh.reference_ratio)
            if result.confirmed:
                accept(series, t, suspect, result)
    return detections

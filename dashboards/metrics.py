"""Numbers derived from query rows for the pages: pure functions with explicit parameters.

- ``delegate_speedups``: per model x device x delegate, the fastest CPU config's median over the
  fastest delegate config's median (above 1: the delegate is faster).
- ``compare_runs``: per series present in both runs, the change of the median in percent, with
  the range of change the two runs' session spreads allow, sorted by the largest change.
- ``HeatPolicy.is_hot`` / ``device_health``: the flags the environment section and the fleet page show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orchestrator.queries import DeviceHealth, ResultRow

__all__ = [
    "CPU_DELEGATES",
    "Change",
    "HeatPolicy",
    "Speedup",
    "aware",
    "compare_runs",
    "delegate_speedups",
    "device_health",
]

#: Configs that form the CPU baseline of a speedup: the builtin kernels.
CPU_DELEGATES = ("cpu",)


@dataclass(frozen=True)
class HeatPolicy:
    """When a session counts as hot: it started above the thermal gate (the measurement
    protocol's pre-session threshold), ended at or above ``hot_c``, or the phone reported an
    Android thermal status at or above ``hot_status`` (2 = moderate: throttling may start)."""

    gate_c: float = 37.0
    hot_c: float = 45.0
    hot_status: int = 2

    def is_hot(self, before_c: float | None, after_c: float | None,
               thermal_status: int | None) -> bool:
        return ((before_c is not None and before_c > self.gate_c)
                or (after_c is not None and after_c >= self.hot_c)
                or (thermal_status is not None and thermal_status >= self.hot_status))


@dataclass(frozen=True)
class Speedup:
    model: str
    device: str
    delegate: str
    speedup: float | None  # None: the delegate failed or was skipped on this device
    cpu_ms: float | None
    delegate_ms: float | None
    note: str


@dataclass(frozen=True)
class Change:
    device: str
    model: str
    config: str
    before_ms: float
    after_ms: float
    change_pct: float
    low_pct: float  # the smallest change the two session spreads allow
    high_pct: float  # the largest
    before_spread: tuple[float, float]
    after_spread: tuple[float, float]
    before_sessions: int
    after_sessions: int


def aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes (stored as UTC), PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def delegate_speedups(rows: Sequence[ResultRow]) -> list[Speedup]:
    best_cpu: dict[tuple[str, str], float] = {}
    best: dict[tuple[str, str, str], ResultRow] = {}
    failed: dict[tuple[str, str, str], ResultRow] = {}
    for r in rows:
        if r.delegate in CPU_DELEGATES:
            if r.value_ms is not None:
                key2 = (r.model, r.device)
                best_cpu[key2] = min(best_cpu.get(key2, r.value_ms), r.value_ms)
            continue
        key = (r.model, r.device, r.delegate)
        if r.value_ms is None:
            failed.setdefault(key, r)
        elif key not in best or r.value_ms < best[key].value_ms:  # type: ignore[operator]
            best[key] = r
    out = []
    for key in sorted(best.keys() | failed.keys()):
        model, device, delegate = key
        cpu = best_cpu.get((model, device))
        if key in best:
            fastest = best[key]
            ms = fastest.value_ms
            speed = cpu / ms if cpu is not None and ms else None
            note = f"{fastest.config} vs fastest cpu" if cpu is not None else "no cpu baseline"
            out.append(Speedup(model, device, delegate, speed, cpu, ms, note))
        else:
            row = failed[key]
            out.append(Speedup(model, device, delegate, None, cpu, None, row.status))
    return out


def _series(row: ResultRow) -> tuple[str, str, str]:
    return (row.device, row.model, row.config)


def compare_runs(before: Sequence[ResultRow], after: Sequence[ResultRow]) -> list[Change]:
    """Series measured (value present) in both runs, largest absolute change first."""
    old = {_series(r): r for r in before if r.value_ms}
    changes = []
    for r in after:
        a = old.get(_series(r))
        if a is None or r.value_ms is None or a.value_ms is None:
            continue
        a_lo, a_hi = a.min_ms or a.value_ms, a.max_ms or a.value_ms
        b_lo, b_hi = r.min_ms or r.value_ms, r.max_ms or r.value_ms
        changes.append(Change(
            device=r.device, model=r.model, config=r.config, before_ms=a.value_ms,
            after_ms=r.value_ms, change_pct=(r.value_ms / a.value_ms - 1) * 100,
            low_pct=(b_lo / a_hi - 1) * 100, high_pct=(b_hi / a_lo - 1) * 100,
            before_spread=(a_lo, a_hi), after_spread=(b_lo, b_hi),
            before_sessions=a.sessions, after_sessions=r.sessions,
        ))
    return sorted(changes, key=lambda c: (-abs(c.change_pct), c.device, c.model, c.config))


def device_health(device: DeviceHealth, now: datetime, *, stale_after: timedelta,
                  max_failure_rate: float, max_hot_rate: float) -> tuple[str, str]:
    """(verdict, reason): ``offline``, ``stale``, ``failing``, ``hot``, ``idle`` or ``healthy``."""
    if device.state != "device":
        return "offline", f"adb state {device.state}"
    if now - aware(device.last_seen) > stale_after:
        return "stale", f"not seen for {(now - aware(device.last_seen)).days} days"
    if device.jobs and device.failed / device.jobs > max_failure_rate:
        return "failing", f"{device.failed} of {device.jobs} recent jobs failed"
    if device.sessions and device.hot_sessions / device.sessions > max_hot_rate:
        return "hot", f"{device.hot_sessions} of {device.sessions} recent sessions ran hot"
    if not device.jobs:
        return "idle", "no recent jobs"
    return "healthy", f"{device.jobs} recent jobs, {device.failed} failed"

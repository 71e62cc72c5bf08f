"""Series: the identity a regression is judged on, and its nightly history.

A series is one model file (sha256) x device x delegate x thread count x benchmark tool version. Each
night contributes every session value it measured (``inference_avg_ms`` of the sessions that ended
``ok``); the night's value is their median, and all sessions are kept for the tests.

Histories come from the database (``load_history``: sessions of runs with the given triggers, the
night being the run's UTC date) or from a CSV of ``series,night,value`` rows (``read_csv``: one row
per session; nights are all integers or all ISO dates).
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from orchestrator.errors import ParseError
from orchestrator.schema import Device, Job, Model, Run, Session
from orchestrator.stats import robust_cv

__all__ = [
    "NightKey",
    "Night",
    "NoiseProfile",
    "Series",
    "SeriesKey",
    "build_series",
    "load_history",
    "noise_profile",
    "read_csv",
]

NightKey = int | date


@dataclass(frozen=True, order=True)
class SeriesKey:
    model_sha256: str
    device: str
    delegate: str
    threads: int
    tool_version: str

    @property
    def label(self) -> str:
        return (f"{self.model_sha256[:12]}/{self.device}/{self.delegate}x{self.threads}"
                f"/{self.tool_version}")


@dataclass(frozen=True)
class Night:
    night: NightKey
    sessions: tuple[float, ...]

    @property
    def value(self) -> float:
        return float(statistics.median(self.sessions))


@dataclass(frozen=True)
class Series:
    name: str
    nights: tuple[Night, ...]
    key: SeriesKey | None = None
    #: model names registered under this series' sha256 (to plan a confirmation re-run)
    model_names: tuple[str, ...] = field(default=())

    @cached_property
    def _values(self) -> tuple[float, ...]:
        return tuple(night.value for night in self.nights)

    def values(self) -> list[float]:
        return list(self._values)

    def sessions(self, span: slice) -> list[float]:
        """Every session value of the nights in ``span``, night by night."""
        return [value for night in self.nights[span] for value in night.sessions]

    def index_of(self, night: NightKey) -> int | None:
        for index, item in enumerate(self.nights):
            if item.night == night:
                return index
        return None


@dataclass(frozen=True)
class NoiseProfile:
    series: str
    robust_cv: float
    nights: int
    too_noisy: bool

    def to_json(self) -> dict[str, object]:
        return {"series": self.series, "robust_cv": self.robust_cv, "nights": self.nights,
                "too_noisy": self.too_noisy}


def noise_profile(series: Series, segment_start: int, noise_limit: float) -> NoiseProfile:
    """Robust CV of the nightly values of the current segment (from ``segment_start`` on)."""
    values = series.values()[segment_start:]
    cv = robust_cv(values)
    return NoiseProfile(series.name, cv, len(values), len(values) >= 2 and cv > noise_limit)


def build_series(rows: Iterable[tuple[str, NightKey, float]],
                 keys: dict[str, SeriesKey] | None = None,
                 names: dict[str, tuple[str, ...]] | None = None) -> dict[str, Series]:
    """(series, night, session value) rows -> series with nights in order."""
    grouped: dict[str, dict[NightKey, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name, night, value in rows:
        grouped[name][night].append(float(value))
    keys, names = keys or {}, names or {}
    return {
        name: Series(name, tuple(Night(n, tuple(v)) for n, v in sorted(nights.items())),
                     keys.get(name), names.get(name, ()))
        for name, nights in sorted(grouped.items())
    }


def _parse_night(text: str, line: int, path: Path) -> NightKey:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{path}:{line}: night {text!r} is neither an integer nor an ISO date",
                         hint="write nights as 1, 2, 3 ... or as 2026-01-31") from None


def _parse_value(text: str, line: int, path: Path) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ParseError(f"{path}:{line}: value {text!r} is not a positive number",
                         hint="values are session latencies in ms, e.g. 12.7")
    return value


def read_csv(path: Path) -> dict[str, Series]:
    """Series from a ``series,night,value`` CSV (header required, extra columns ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot read {path}: {exc}", hint="give a readable UTF-8 CSV file") from exc
    reader = csv.DictReader(text.splitlines())
    missing = {"series", "night", "value"} - set(reader.fieldnames or ())
    if missing:
        raise ParseError(f"{path}: missing column(s) {', '.join(sorted(missing))}",
                         hint="the first line must be a header with series,night,value")
    rows: list[tuple[str, NightKey, float]] = []
    for line, record in enumerate(reader, start=2):
        if not (record.get("series") or "").strip():
            raise ParseError(f"{path}:{line}: empty series name", hint="every row names its series")
        rows.append((record["series"].strip(), _parse_night(record["night"] or "", line, path),
                     _parse_value(record["value"] or "", line, path)))
    if not rows:
        raise ParseError(f"{path}: no rows", hint="one row per session: series,night,value")
    if len({type(night) for _, night, _ in rows}) > 1:
        raise ParseError(f"{path}: nights mix integers and dates",
                         hint="use one kind of night for the whole file")
    return build_series(rows)


def load_history(db: DbSession, triggers: Sequence[str] = ("nightly",)) -> dict[str, Series]:
    """Every series measured by runs with these triggers, keyed by ``SeriesKey.label``."""
    query = (
        select(Session.inference_avg_ms, Session.model_sha256, Session.tool_version, Run.created_at,
               Job.delegate, Job.num_threads, Device.serial, Model.name)
        .join(Job, Job.id == Session.job_id)
        .join(Run, Run.id == Job.run_id)
        .join(Device, Device.id == Job.device_id)
        .join(Model, Model.id == Job.model_id)
        .where(Run.trigger.in_(list(triggers)), Session.status == "ok")
    )
    rows: list[tuple[str, NightKey, float]] = []
    keys: dict[str, SeriesKey] = {}
    names: dict[str, set[str]] = defaultdict(set)
    for value, sha, tool_version, created, delegate, threads, serial, model_name in db.execute(query):
        if value is None:
            continue
        key = SeriesKey(sha or "", serial, delegate, threads, tool_version or "unknown")
        keys[key.label] = key
        names[key.label].add(model_name)
        rows.append((key.label, created.date(), value))
    return build_series(rows, keys, {label: tuple(sorted(n)) for label, n in names.items()})

"""A job's spec: the measurement protocol frozen into the job when it is planned.

A job records exactly what it measured with: the settings of the moment (defaults < farm.toml <
environment < the submission's own options) are merged once, at planning, into this immutable
value, stored as the versioned JSON of ``jobs.spec``; every later step reads only the job's spec,
never the settings again. JSON form, version ``JOB_SPEC_VERSION``::

    {"version": 1, "repeats": 3, "warmup_runs": 1, "warmup_min_secs": 0.5, "num_runs": 5,
     "min_secs": 1.0, "max_secs": 60.0, "session_timeout_s": 600.0, "max_temp_c": 37.0,
     "min_battery": 30, "gate_max_wait_s": 300.0, "gate_poll_s": 5.0, "device_retries": 3,
     "pin": null | "big"}

Imported jobs (``farm import-log``) were not measured here and have no spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from orchestrator.config import PROTOCOL_KEYS, Settings
from orchestrator.errors import PlanError

__all__ = ["JOB_SPEC_VERSION", "PIN_MODES", "JobSpec"]

JOB_SPEC_VERSION = 1

#: ``None``: no pinning; ``"big"``: phone sessions under ``taskset`` on the big cores
PIN_MODES = (None, "big")


@dataclass(frozen=True)
class JobSpec:
    repeats: int  # independent sessions (fresh processes) of the job
    warmup_runs: int
    warmup_min_secs: float
    num_runs: int
    min_secs: float
    max_secs: float
    session_timeout_s: float
    max_temp_c: float  # the gate before every phone session
    min_battery: int
    gate_max_wait_s: float
    gate_poll_s: float
    device_retries: int  # reconnects of a phone lost mid-session
    pin: str | None = None

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise PlanError("--repeats must be at least 1", hint="use --repeats 3 (the default)")
        if self.pin not in PIN_MODES:
            raise PlanError(f"--pin {self.pin!r} is not a pinning mode",
                            hint="use --pin big (or leave it out)")
        if self.num_runs < 1 or self.warmup_runs < 0 or self.device_retries < 0:
            raise PlanError("num_runs must be at least 1, warmup_runs and device_retries at least 0",
                            hint="fix the [protocol] table of farm.toml or the FARM_* variables")
        if min(self.min_secs, self.max_secs, self.warmup_min_secs, self.session_timeout_s,
               self.gate_max_wait_s, self.gate_poll_s) < 0:
            raise PlanError("the protocol's durations must not be negative",
                            hint="fix the [protocol] table of farm.toml or the FARM_* variables")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> JobSpec:
        """The effective protocol, with the submission's own options (``None``: not given) on top."""
        given = {key: value for key, value in overrides.items() if value is not None}
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"not protocol settings: {sorted(unknown)}")
        return cls(**({key: settings.values[key].value for key in PROTOCOL_KEYS} | given))

    def with_repeats(self, repeats: int) -> JobSpec:
        return replace(self, repeats=repeats)

    def to_json(self) -> dict[str, Any]:
        return {"version": JOB_SPEC_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSpec:
        if data.get("version") != JOB_SPEC_VERSION:
            raise RuntimeError(f"job spec version {data.get('version')!r}, this farm reads "
                               f"{JOB_SPEC_VERSION} (upgrade the database: `farm db upgrade`)")
        values: dict[str, Any] = {}
        for spec_field in fields(cls):
            name = spec_field.name
            raw: Any = data.get(name)
            if raw is None and name != "pin":
                raise RuntimeError(f"job spec without {name!r}: {dict(data)!r}")
            # Annotations are strings here (postponed evaluation): the type's name decides.
            values[name] = raw if name == "pin" else (
                float(raw) if spec_field.type == "float" else int(raw))
        return cls(**values)
